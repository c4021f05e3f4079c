//! Parsers for option values that the command line and the configuration file share.
//!
//! Each returns the reason as a `String` without the value, so the caller can name the option and
//! quote the value in one message.

use std::net::Ipv6Addr;

use crate::logging::LogLevel;

use super::{GIB, KIB, MIB, MIN_DB_MAX_SIZE_BYTES, TIB};

/// Parses a database size limit like `100G`, `104857600K` or `1048576` (bytes) and checks the
/// minimum.
pub(super) fn db_max_size(s: &str) -> Result<u64, String> {
    check_db_max_size(parse_size(s)?)
}

/// Checks that a size in bytes is at least [`MIN_DB_MAX_SIZE_BYTES`].
pub(super) fn check_db_max_size(bytes: u64) -> Result<u64, String> {
    if bytes < MIN_DB_MAX_SIZE_BYTES {
        return Err(format!(
            "must be at least 1M ({MIN_DB_MAX_SIZE_BYTES} bytes), found {bytes} bytes; a number \
             without unit is bytes, so write e.g. 100G"
        ));
    }
    Ok(bytes)
}

/// Parses a log level name, case-insensitively.
pub(super) fn log_level(s: &str) -> Result<LogLevel, String> {
    s.parse().map_err(|_| {
        let names: Vec<&str> = LogLevel::ALL.iter().map(|l| l.as_str()).collect();
        format!("expected one of: {}", names.join(", "))
    })
}

/// Parses a bind address `scheme://host:port`. The scheme is optional (plain), as is the port.
/// Returns whether the secure scheme was used, the host (IPv6 without brackets) and the port.
pub(super) fn parse_bind(
    s: &str,
    (plain, secure): (&str, &str),
    default_port: u16,
) -> Result<(bool, String, u16), String> {
    let s = s.trim();
    let (tls, rest) = match s.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case(plain) => (false, rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case(secure) => (true, rest),
        Some((scheme, _)) => {
            return Err(format!(
                "unsupported scheme \"{scheme}://\"; use {plain}:// or {secure}://"
            ));
        }
        None => (false, s),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if let Some(c) = rest.chars().find(|c| matches!(c, '/' | '?' | '#' | '@')) {
        return Err(format!(
            "expected {plain}://host:port without path or user, found '{c}'"
        ));
    }
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("missing ']' after the IPv6 address")?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("\"{host}\" is not an IPv6 address"));
        }
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("unexpected \"{after}\" after the IPv6 address")),
            },
        }
    } else {
        match rest.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(format!(
                    "put an IPv6 address in brackets, e.g. {plain}://[::1]:{default_port}"
                ));
            }
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(format!(
            "the host is missing; use e.g. {plain}://0.0.0.0:{default_port}"
        ));
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(format!("\"{host}\" is not a valid host name or IP address"));
    }
    let port = match port {
        None => default_port,
        Some("") => return Err("the port is missing after ':'".to_owned()),
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(format!("port \"{p}\" is not a number"));
        }
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("port must be 0-65535, found {p}"))?,
    };
    Ok((tls, host.to_owned(), port))
}

/// Parses `--auth-required`: comma-separated credential types, by their C (`JWT_ID`) or Java
/// (`JwtId`) names. Returns the C names without duplicates.
pub(super) fn auth_required(list: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let key: String = item
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        let name = CREDENTIAL_TYPES
            .iter()
            .find(|name| name.replace('_', "").eq_ignore_ascii_case(&key))
            .ok_or_else(|| {
                format!(
                    "unknown credential type \"{item}\"; expected a comma-separated list of: {}",
                    CREDENTIAL_TYPES.join(", ")
                )
            })?;
        if !out.iter().any(|n| n == name) {
            out.push((*name).to_owned());
        }
    }
    Ok(out)
}

/// Credential types a client can be required to present (`OBXSyncCredentialsType` without
/// `NONE` and the client-only `USER_PASSWORD`).
const CREDENTIAL_TYPES: [&str; 8] = [
    "SHARED_SECRET",
    "SHARED_SECRET_SIPPED",
    "GOOGLE_AUTH",
    "OBX_ADMIN_USER",
    "JWT_ID",
    "JWT_ACCESS",
    "JWT_REFRESH",
    "JWT_CUSTOM",
];

/// Parses a size with an optional binary unit `K`, `M`, `G` or `T`, optionally followed by `B`
/// or `iB`, case-insensitively. Without a unit the number is bytes.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    if number.is_empty() {
        return Err("expected a whole number with an optional unit K, M, G or T, e.g. 100G".into());
    }
    let unit = unit.trim();
    let upper = unit.to_ascii_uppercase();
    let prefix = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let factor = match prefix {
        "" => 1,
        "K" => KIB,
        "M" => MIB,
        "G" => GIB,
        "T" => TIB,
        _ => {
            return Err(format!(
                "unknown unit \"{unit}\"; use K, M, G or T (binary: K = 1024 bytes), e.g. 100G"
            ));
        }
    };
    if prefix.is_empty() && !upper.is_empty() && upper != "B" {
        // "iB" alone is not a unit.
        return Err(format!(
            "unknown unit \"{unit}\"; use K, M, G or T, e.g. 100G"
        ));
    }
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| "too large".to_owned())
}
