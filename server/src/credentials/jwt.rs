//! JWT login: checks a token's signature against the configured public key(s) and its claims.
//!
//! Checked: the signature with an algorithm of the key's own family (`alg: none` and HS* never
//! verify), `exp` (required) and `nbf` with [`JWT_LEEWAY_SECONDS`] of clock skew, `aud` against
//! `claimAud` and `iss` against `claimIss` when those are set (the claim is then required).
//!
//! Invariant: a token is never logged or put into a message; messages name only claims' names,
//! the key id and the algorithm.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};

use super::key_cache::KeyCache;
use super::keys::KeySet;
use super::{Error, Failure, JWT_LEEWAY_SECONDS, Timings};
use crate::config::{DEFAULT_JWT_PUBLIC_KEY_CACHE_EXPIRATION_SECONDS, JwtConfig};

/// Validates JWTs as `auth.jwt` says.
pub(crate) struct JwtAuthenticator {
    source: KeySource,
    /// Accepted `aud` values; empty means `aud` is not checked.
    audience: Vec<String>,
    /// Required `iss`, if any.
    issuer: Option<String>,
}

impl JwtAuthenticator {
    /// Reads the inline key, or sets up (without fetching) the key URL.
    pub fn from_config(config: &JwtConfig, timings: Timings) -> Result<JwtAuthenticator, Error> {
        let source = match (&config.public_key, &config.public_key_url) {
            (Some(pem), _) => KeySource::Inline(Arc::new(
                KeySet::from_pem(pem).map_err(|reason| Error::PublicKey { reason })?,
            )),
            (None, Some(url)) => {
                check_url(url)?;
                let ttl = config
                    .public_key_cache_expiration_seconds
                    .unwrap_or(DEFAULT_JWT_PUBLIC_KEY_CACHE_EXPIRATION_SECONDS);
                KeySource::Url(Box::new(KeyCache::new(
                    url.clone(),
                    Duration::from_secs(u64::from(ttl)),
                    timings,
                )))
            }
            (None, None) => {
                return Err(Error::PublicKey {
                    reason: "neither auth.jwt.publicKey nor a public key URL is set".to_owned(),
                });
            }
        };
        Ok(JwtAuthenticator {
            source,
            audience: config.claim_aud.clone(),
            issuer: config.claim_iss.clone(),
        })
    }

    /// Checks `token` and returns its claims. Failure messages never contain the token.
    pub async fn verify(&self, token: &str) -> Result<serde_json::Value, Failure> {
        let rejected = Failure::CredentialsRejected;
        let header = decode_header(token).map_err(|e| match e.kind() {
            // An unknown `alg` (including "none") fails to deserialize the header.
            ErrorKind::Json(_) => rejected(
                "the header is not valid JSON or names an unsupported algorithm (e.g. \"none\")"
                    .to_owned(),
            ),
            _ => rejected(format!("malformed token: {}", describe(e.kind()))),
        })?;
        let kid = header.kid.as_deref();
        let keys = match &self.source {
            KeySource::Inline(keys) => Arc::clone(keys),
            KeySource::Url(cache) => cache.keys_for(kid).await?,
        };
        let candidates = keys.candidates(kid);
        if candidates.is_empty() {
            return Err(rejected(match (kid, &self.source) {
                (Some(kid), KeySource::Url(cache)) => {
                    format!("no public key with kid {kid:?} at {}", cache.url())
                }
                (Some(kid), KeySource::Inline(_)) => format!("no public key with kid {kid:?}"),
                (None, _) => "no public key".to_owned(),
            }));
        }
        let mut reason = String::new();
        for key in candidates {
            if !key.algorithms.contains(&header.alg) {
                reason = format!(
                    "algorithm {:?} is not accepted for the {} key (accepted: {:?})",
                    header.alg, key.kind, key.algorithms
                );
                continue;
            }
            match decode::<serde_json::Value>(token, &key.decoding, &self.validation(header.alg)) {
                Ok(data) => return Ok(data.claims),
                // Try the next candidate only if this key did not sign the token; claims are
                // checked after the signature, so any other error is final.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                    reason = describe(e.kind());
                }
                Err(e) => return Err(rejected(describe(e.kind()))),
            }
        }
        Err(rejected(reason))
    }

    /// For the start-up log, e.g. `JWT (publicKeyUrl https://…, claimAud app)`.
    pub fn describe(&self) -> String {
        let mut parts = vec![match &self.source {
            KeySource::Inline(keys) => format!("publicKey {}", keys.kinds()),
            KeySource::Url(cache) => format!("publicKeyUrl {}", redact_userinfo(cache.url())),
        }];
        if !self.audience.is_empty() {
            parts.push(format!("claimAud {}", self.audience.join(" | ")));
        }
        if let Some(iss) = &self.issuer {
            parts.push(format!("claimIss {iss}"));
        }
        format!("JWT ({})", parts.join(", "))
    }

    /// What `decode` checks besides the signature, for a token signed with `alg`.
    fn validation(&self, alg: jsonwebtoken::Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = JWT_LEEWAY_SECONDS;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.required_spec_claims.insert("exp".to_owned());
        if self.audience.is_empty() {
            // Without claimAud, a token's `aud` is not checked (jsonwebtoken would reject any).
            v.validate_aud = false;
        } else {
            v.set_audience(&self.audience);
            v.required_spec_claims.insert("aud".to_owned());
        }
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
            v.required_spec_claims.insert("iss".to_owned());
        }
        v
    }
}

// Helpers below.

/// Where the keys come from.
enum KeySource {
    /// `auth.jwt.publicKey`, parsed at start-up.
    Inline(Arc<KeySet>),
    /// `publicKeyUrl`, fetched on demand.
    Url(Box<KeyCache>),
}

/// Checks that the key URL is an absolute http(s) URL.
fn check_url(url: &str) -> Result<(), Error> {
    let invalid = |reason: &str| Error::PublicKeyUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: ureq::http::Uri = url.parse().map_err(|_| invalid("not a valid URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid("the URL must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    Ok(())
}

/// `url` with any `user:password@` replaced by `***@`, for the log.
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// A short reason for a failed check, without the token's content.
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidToken => "malformed token".to_owned(),
        ErrorKind::InvalidSignature => "the signature does not match the public key".to_owned(),
        ErrorKind::ExpiredSignature => "the token has expired (exp)".to_owned(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidAudience => "aud does not match claimAud".to_owned(),
        ErrorKind::InvalidIssuer => "iss does not match claimIss".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the {claim} claim is missing"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the {claim} claim is malformed"),
        ErrorKind::InvalidAlgorithm => "the algorithm is not accepted for this key".to_owned(),
        ErrorKind::Base64(_) => "the token is not valid base64url".to_owned(),
        ErrorKind::Json(_) => "the claims are not valid JSON".to_owned(),
        ErrorKind::Utf8(_) => "the token is not valid UTF-8".to_owned(),
        other => format!("the token cannot be verified ({other:?})"),
    }
}
