//! The configuration: command line, file and their merge, as data-driven cases.
//!
//! Size: one case per option, key and error message (over 150 of them), each a few lines.

use std::fs;
use std::path::Path;

use clap::error::ErrorKind;

use super::*;

/// Loads `args` (without argv[0]) in a fresh directory holding `file` as the default
/// configuration file, and describes how the result differs from the defaults: one
/// `field: value` line per changed field, then warnings, with the directory prefix removed.
fn check(args: &[&str], file: Option<&str>, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let actual = match load(dir.path(), args, file) {
        Ok(config) => describe(&config, dir.path()),
        Err(e) => format!("error: {e}"),
    };
    let actual = actual.replace(&format!("{}/", dir.path().display()), "");
    assert_eq!(actual, expected.trim(), "args {args:?}, file {file:?}");
}

/// Like [`check`] for a configuration that must fail with `expected` as its message.
fn check_err(args: &[&str], file: Option<&str>, expected: &str) {
    check(args, file, &format!("error: {expected}"));
}

fn load(dir: &Path, args: &[&str], file: Option<&str>) -> Result<Config, ConfigError> {
    if let Some(text) = file {
        fs::write(dir.join(DEFAULT_CONFIG_FILE), text).unwrap();
    }
    Config::load_in(
        dir,
        std::iter::once("sync-server").chain(args.iter().copied()),
    )
}

fn describe(c: &Config, dir: &Path) -> String {
    let d = Config {
        db_directory: dir.join(DEFAULT_DB_DIRECTORY),
        ..Config::defaults()
    };
    let mut out = Vec::new();
    macro_rules! fields {
        ($($field:ident),*) => {$(
            if c.$field != d.$field {
                out.push(format!("{}: {:?}", stringify!($field), c.$field));
            }
        )*};
    }
    if c.bind != d.bind {
        out.push(format!("bind: {}", c.bind));
    }
    match &c.admin_bind {
        None => out.push("admin_bind: None".to_owned()),
        Some(a) if c.admin_bind != d.admin_bind => out.push(format!("admin_bind: {a}")),
        Some(_) => {}
    }
    fields!(
        model_file,
        db_directory,
        db_max_size,
        admin_threads,
        certificate_path,
        workers,
        log_level,
        unsecured_no_authentication,
        auth,
        history_size_max_kb,
        history_size_target_kb,
        full_sync_message_split_mb,
        max_message_size,
        limits,
        client_schema_validation,
        sync_filters,
        remove_without_object_data,
        admin_user,
        admin_password,
        admin_unsecured_no_authentication,
        trial_days,
        unsupported
    );
    for note in &c.notes {
        if note.level == NoteLevel::Warn {
            out.push(format!("warn: {}", note.message));
        }
    }
    out.join("\n")
}

#[test]
fn defaults() {
    check(&[], None, "");
    let dir = tempfile::tempdir().unwrap();
    let c = load(dir.path(), &[], None).unwrap();
    assert_eq!(c.db_directory, dir.path().join("objectbox"));
    assert_eq!(c.db_max_size, 100 * 1024 * 1024 * 1024);
    assert_eq!(c.bind.to_string(), DEFAULT_BIND);
    assert_eq!(
        c.admin_bind.as_ref().unwrap().to_string(),
        DEFAULT_ADMIN_BIND
    );
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.max_message_size, 32 * 1024 * 1024);
    assert_eq!(c.full_sync_message_split_mb, 4.0);
    assert!(c.workers >= 1);
    assert!(!c.has_authenticator());
    assert!(c.unsupported.is_empty());
    let default_note =
        Note::info("Default configuration file sync-server-config.json not found".into());
    assert_eq!(c.notes, vec![default_note]);
}

#[test]
fn default_constants_agree() {
    assert_eq!(SyncBind::default().to_string(), DEFAULT_BIND);
    assert_eq!(AdminBind::default().to_string(), DEFAULT_ADMIN_BIND);
    assert_eq!(
        values::db_max_size(DEFAULT_DB_MAX_SIZE),
        Ok(DEFAULT_DB_MAX_SIZE_BYTES)
    );
    assert_eq!(
        values::db_max_size("104857600K"),
        Ok(DEFAULT_DB_MAX_SIZE_BYTES)
    );
    // Help texts write the defaults out; keep them in step with the constants.
    let help = cli::parse(["sync-server", "--help"])
        .unwrap_err()
        .to_string();
    for default in [
        DEFAULT_CONFIG_FILE,
        DEFAULT_DB_DIRECTORY,
        DEFAULT_DB_MAX_SIZE,
        DEFAULT_BIND,
        DEFAULT_ADMIN_BIND,
        DEFAULT_LOG_LEVEL.as_str(),
        &DEFAULT_ADMIN_THREADS.to_string(),
        &DEFAULT_MAX_CONNECTIONS.to_string(),
        &DEFAULT_MAX_CONNECTIONS_PER_ADDRESS.to_string(),
        &DEFAULT_MAX_MESSAGE_SIZE_MB.to_string(),
        &DEFAULT_MAX_TX_OBJECTS.to_string(),
        &DEFAULT_MAX_INBOUND_MESSAGES_PER_SECOND.to_string(),
        &DEFAULT_MAX_INBOUND_KB_PER_SECOND.to_string(),
    ] {
        assert!(
            help.contains(&format!("[default: {default}")),
            "{default} not in help"
        );
    }
}

#[test]
fn command_line_options() {
    check(
        &["-m", "model.json"],
        None,
        r#"model_file: Some("model.json")"#,
    );
    check(
        &["--model", "/abs/model.json"],
        None,
        r#"model_file: Some("/abs/model.json")"#,
    );
    check(&["-d", "data"], None, r#"db_directory: "data""#);
    check(
        &["--db-directory", "/var/data"],
        None,
        r#"db_directory: "/var/data""#,
    );
    check(&["--db-max-size", "512M"], None, "db_max_size: 536870912");
    check(&["-b", "ws://127.0.0.1:0"], None, "bind: ws://127.0.0.1:0");
    check(&["--bind", "localhost"], None, "bind: ws://localhost:9999");
    check(&["--bind", ""], None, "");
    check(
        &["--admin-bind", "0.0.0.0:8080"],
        None,
        "admin_bind: http://0.0.0.0:8080",
    );
    check(&["--admin-off"], None, "admin_bind: None");
    check(&["--workers", "3"], None, "workers: 3");
    check(&["--workers", "0"], None, "");
    check(&["--log-level", "debug"], None, "log_level: Debug");
    check(&["--log-level", "WARN"], None, "log_level: Warn");
    check(
        &["--unsecured-no-authentication"],
        None,
        "unsecured_no_authentication: true",
    );
    check(
        &["--debug"],
        None,
        "log_level: Debug\nwarn: --debug is deprecated, use --log-level debug",
    );
    check(
        &["--debug", "--log-level", "error"],
        None,
        "log_level: Error\nwarn: --debug is deprecated, use --log-level debug",
    );
    check(
        &["--admin-off", "--admin-bind", "0.0.0.0:1"],
        None,
        "admin_bind: None\nwarn: --admin-bind 0.0.0.0:1 is ignored because of --admin-off",
    );
    check(
        &[
            "--max-connections",
            "5",
            "--max-connections-per-address",
            "0",
            "--max-tx-objects",
            "7",
            "--max-inbound-messages-per-second",
            "0",
            "--max-inbound-kb-per-second",
            "2",
            "--max-message-size-mb",
            "8",
        ],
        None,
        "max_message_size: 8388608\nlimits: Limits { max_connections: 5, \
         max_connections_per_address: 0, max_tx_objects: 7, max_inbound_messages_per_second: 0, \
         max_inbound_bytes_per_second: 2048, handshake_timeout: 30s }",
    );
}

#[test]
fn limits_from_the_file_and_their_errors() {
    check(
        &["--max-connections", "9"],
        Some(
            r#"{"maxConnections": 3, "maxConnectionsPerAddress": 2, "maxTxObjects": 100,
                "maxInboundMessagesPerSecond": 50, "maxInboundKbPerSecond": 0}"#,
        ),
        "limits: Limits { max_connections: 9, max_connections_per_address: 2, \
         max_tx_objects: 100, max_inbound_messages_per_second: 50, \
         max_inbound_bytes_per_second: 0, handshake_timeout: 30s }",
    );
    check_err(
        &[],
        Some(r#"{"maxConnections": 0}"#),
        "invalid value 0 for maxConnections in sync-server-config.json: must be at least 1",
    );
    check_err(
        &[],
        Some(r#"{"maxTxObjects": 0}"#),
        "invalid value 0 for maxTxObjects in sync-server-config.json: must be at least 1",
    );
    let err = load(
        tempfile::tempdir().unwrap().path(),
        &["--max-connections", "0"],
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("--max-connections"), "{err}");
}

#[test]
fn command_line_errors() {
    check_err(
        &["--log-level", "loud"],
        None,
        r#"invalid value "loud" for --log-level: expected one of: all, trace, verbose, debug, info, warn, error, none"#,
    );
    check_err(
        &["-b", "ws://0.0.0.0:99999"],
        None,
        r#"invalid value "ws://0.0.0.0:99999" for --bind: port must be 0-65535, found 99999"#,
    );
    check_err(
        &["--admin-bind", "ws://0.0.0.0:1"],
        None,
        r#"invalid value "ws://0.0.0.0:1" for --admin-bind: unsupported scheme "ws://"; use http:// or https://"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let kind = |args: &[&str]| match load(dir.path(), args, None) {
        Err(ConfigError::Clap(e)) => e.kind(),
        other => panic!("expected a clap error, got {other:?}"),
    };
    assert_eq!(kind(&["--workers", "many"]), ErrorKind::ValueValidation);
    assert_eq!(kind(&["--admin-threads", "0"]), ErrorKind::ValueValidation);
    assert_eq!(kind(&["--bogus"]), ErrorKind::UnknownArgument);
    assert_eq!(kind(&["--model", ""]), ErrorKind::InvalidValue);
    assert_eq!(
        kind(&["--backup-overwrites-db"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(kind(&["--help"]), ErrorKind::DisplayHelp);
    assert_eq!(kind(&["-h"]), ErrorKind::DisplayHelp);
    assert_eq!(kind(&["-v"]), ErrorKind::DisplayVersion);
}

#[test]
fn version() {
    let err = cli::parse(["sync-server", "--version"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DisplayVersion);
    let expected = format!(
        "sync-server {} (protocol version: 1)\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(err.to_string(), expected);
    assert_eq!(
        Config::version_text(),
        expected["sync-server ".len()..].trim_end()
    );
}

#[test]
fn file_keys() {
    check(
        &[],
        Some(
            r#"{ "dbDirectory": "data", "dbMaxSize": "1T", "modelFile": "objectbox-model.json",
                 "bind": "ws://127.0.0.1:9000", "adminBind": "http://localhost:9001",
                 "workers": 97, "unsecuredNoAuthentication": true, "logLevel": "warn" }"#,
        ),
        r#"
bind: ws://127.0.0.1:9000
admin_bind: http://localhost:9001
model_file: Some("objectbox-model.json")
db_directory: "data"
db_max_size: 1099511627776
workers: 97
log_level: Warn
unsecured_no_authentication: true"#,
    );
    check(
        &[],
        Some(r#"{"dbMaxSize": 2147483648}"#),
        "db_max_size: 2147483648",
    );
    check(&[], Some(r#"{"dbMaxSize": ""}"#), "");
    check(
        &[],
        Some(r#"{"historySizeMaxKb": 1000, "historySizeTargetKb": 800}"#),
        "history_size_max_kb: Some(1000)\nhistory_size_target_kb: Some(800)",
    );
    check(
        &[],
        Some(r#"{"historySizeMaxKb": 0, "historySizeTargetKb": 0}"#),
        "",
    );
    check(
        &[],
        Some(r#"{"fullSyncMessageSplitMb": 2.5}"#),
        "full_sync_message_split_mb: 2.5",
    );
    check(
        &[],
        Some(r#"{"maxMessageSizeMb": 64}"#),
        "max_message_size: 67108864",
    );
    check(
        &[],
        Some(r#"{"removeWithoutObjectData": true}"#),
        "remove_without_object_data: true\nunsupported: [\"removeWithoutObjectData\"]",
    );
    check(&[], Some(r#"{"removeWithoutObjectData": false}"#), "");
    check(
        &[],
        Some(r#"{"clientSchemaValidation": {"defaultHash": "00112233445566778899AABBCCDDEEFF"}}"#),
        r#"client_schema_validation: ClientSchemaValidation { strict: false, default_hash: Some("00112233445566778899aabbccddeeff") }"#,
    );
    check(
        &[],
        Some(r#"{"clientSchemaValidation": {"strict": true}}"#),
        "client_schema_validation: ClientSchemaValidation { strict: true, default_hash: None }",
    );
    check(
        &[],
        Some(r#"{"debugLog": true}"#),
        r#"log_level: Debug
warn: debugLog in sync-server-config.json is deprecated, use "logLevel": "debug""#,
    );
    check(
        &[],
        Some(r#"{"debugLog": true, "logLevel": "error"}"#),
        r#"log_level: Error
warn: debugLog in sync-server-config.json is deprecated, use "logLevel": "debug""#,
    );
}

#[test]
fn command_line_overrides_file() {
    let file = r#"{"dbDirectory": "from-file", "bind": "ws://1.2.3.4:1", "logLevel": "warn",
                   "workers": 97, "adminBind": "127.0.0.1:2"}"#;
    check(
        &[
            "-d",
            "from-cli",
            "-b",
            "ws://5.6.7.8:3",
            "--log-level",
            "error",
            "--workers",
            "98",
        ],
        Some(file),
        r#"
bind: ws://5.6.7.8:3
admin_bind: http://127.0.0.1:2
db_directory: "from-cli"
workers: 98
log_level: Error"#,
    );
    check(
        &["--admin-off", "--debug"],
        Some(file),
        r#"
bind: ws://1.2.3.4:1
admin_bind: None
db_directory: "from-file"
workers: 97
log_level: Debug
warn: --debug is deprecated, use --log-level debug"#,
    );
}

#[test]
fn comment_keys_are_ignored_at_every_level() {
    check(
        &[],
        Some(
            r#"{ "_note": "top", "_debug": true, "_note": "comments may repeat",
                 "log": {"_why": 1},
                 "clientSchemaValidation": {"_c": [], "strict": true},
                 "syncFilters": {"_c": 5, "Task": "owner == $auth.sub"},
                 "serversToConnect": [{"_c": 1, "url": "ws://peer:9999"}] }"#,
        ),
        r#"
client_schema_validation: ClientSchemaValidation { strict: true, default_hash: None }
sync_filters: {"Task": "owner == $auth.sub"}
unsupported: ["syncFilters", "serversToConnect"]"#,
    );
}

#[test]
fn unknown_keys() {
    let cases = [
        (
            r#"{"dbDirctory": "x"}"#,
            r#""dbDirctory" in sync-server-config.json; did you mean "dbDirectory"?"#,
        ),
        (
            r#"{"DBDIRECTORY": "x"}"#,
            r#""DBDIRECTORY" in sync-server-config.json; did you mean "dbDirectory"?"#,
        ),
        (
            r#"{"logLvl": "x"}"#,
            r#""logLvl" in sync-server-config.json; did you mean "logLevel"?"#,
        ),
        (r#"{"zzz": 1}"#, r#""zzz" in sync-server-config.json"#),
        (
            r#"{"crasherKey": 1}"#,
            r#""crasherKey" in sync-server-config.json"#,
        ),
        (
            r#"{"auth": {"jwt": {"claimAudd": "a"}}}"#,
            r#""auth.jwt.claimAudd" in sync-server-config.json; did you mean "auth.jwt.claimAud"?"#,
        ),
        (
            r#"{"auth": {"sharedSecret": {"valu": "s"}}}"#,
            r#""auth.sharedSecret.valu" in sync-server-config.json; did you mean "auth.sharedSecret.value"?"#,
        ),
        (
            r#"{"log": {"queris": true}}"#,
            r#""log.queris" in sync-server-config.json; did you mean "log.queries"?"#,
        ),
        (
            r#"{"mongoDb": {"uri": "x"}}"#,
            r#""mongoDb.uri" in sync-server-config.json; did you mean "mongoDb.url"?"#,
        ),
        (
            r#"{"serversToConnect": [{"url": "ws://a:1", "credential": "x"}]}"#,
            r#""serversToConnect[0].credential" in sync-server-config.json; did you mean "serversToConnect[0].credentials"?"#,
        ),
    ];
    for (file, expected) in cases {
        check_err(&[], Some(file), &format!("unknown key {expected}"));
    }
}

#[test]
fn wrong_types() {
    let cases = [
        (
            r#"{"workers": "four"}"#,
            r#"workers in sync-server-config.json: expected a non-negative integer, found "four""#,
        ),
        (
            r#"{"workers": -1}"#,
            "workers in sync-server-config.json: expected a non-negative integer, found -1",
        ),
        (
            r#"{"workers": 1.5}"#,
            "workers in sync-server-config.json: expected a non-negative integer, found 1.5",
        ),
        (
            r#"{"bind": 9999}"#,
            "bind in sync-server-config.json: expected a string, found 9999",
        ),
        (
            r#"{"modelFile": null}"#,
            "modelFile in sync-server-config.json: expected a string, found null",
        ),
        (
            r#"{"unsecuredNoAuthentication": "yes"}"#,
            r#"unsecuredNoAuthentication in sync-server-config.json: expected true or false, found "yes""#,
        ),
        (
            r#"{"dbMaxSize": true}"#,
            r#"dbMaxSize in sync-server-config.json: expected a size string like "100G" or a number of bytes, found true"#,
        ),
        (
            r#"{"fullSyncMessageSplitMb": "4"}"#,
            r#"fullSyncMessageSplitMb in sync-server-config.json: expected a number, found "4""#,
        ),
        (
            r#"{"log": []}"#,
            "log in sync-server-config.json: expected an object { ... }, found []",
        ),
        (
            r#"{"log": {"wal": 1}}"#,
            "log.wal in sync-server-config.json: expected true or false, found 1",
        ),
        (
            r#"{"syncFilters": {"Task": 1}}"#,
            "syncFilters.Task in sync-server-config.json: expected a filter expression string, found 1",
        ),
        (
            r#"{"auth": {"sharedSecret": 42}}"#,
            r#"auth.sharedSecret in sync-server-config.json: expected a string or an object {"value": "...", "required": true}, found 42"#,
        ),
        (
            r#"{"auth": {"obxAdmin": "yes"}}"#,
            r#"auth.obxAdmin in sync-server-config.json: expected true, false or an object {"required": true}, found "yes""#,
        ),
        (
            r#"{"auth": {"jwt": {"claimAud": ["a", 2]}}}"#,
            "auth.jwt.claimAud[1] in sync-server-config.json: expected a string, found 2",
        ),
        (
            r#"{"auth": {"jwt": {"claimAud": 7}}}"#,
            "auth.jwt.claimAud in sync-server-config.json: expected a string or an array of strings, found 7",
        ),
        (
            r#"{"auth": {"google": {"clientIds": "abc"}}}"#,
            r#"auth.google.clientIds in sync-server-config.json: expected an array of strings, found "abc""#,
        ),
        (
            r#"{"serversToConnect": {}}"#,
            "serversToConnect in sync-server-config.json: expected an array of objects, found {}",
        ),
        (
            r#"{"clientSchemaValidation": {"strict": "1"}}"#,
            r#"clientSchemaValidation.strict in sync-server-config.json: expected true or false, found "1""#,
        ),
        (
            r#"{"adminPassword": ["a very long list of things that goes on and on and on and on"]}"#,
            r#"adminPassword in sync-server-config.json: expected a string, found ["a very long list of things that goes on and on and on and ..."#,
        ),
    ];
    for (file, expected) in cases {
        check_err(&[], Some(file), &format!("wrong type for {expected}"));
    }
}

#[test]
fn invalid_json() {
    let cases = [
        (
            "{\n  \"workers\": 3,\n}",
            "line 3, column 1: trailing comma",
        ),
        (
            "{\n  \"workers\": 3\n  \"bind\": \"ws://a:1\"\n}",
            "line 3, column 3: expected `,` or `}`",
        ),
        ("", "line 1, column 0: EOF while parsing a value"),
        (
            "{\"bind\": \"a\", \"bind\": \"b\"}",
            "line 1, column 20: duplicate key \"bind\"",
        ),
        (
            "{\"auth\": {\"jwt\": {}, \"jwt\": {}}}",
            "line 1, column 26: duplicate key \"jwt\"",
        ),
    ];
    for (file, expected) in cases {
        check_err(
            &[],
            Some(file),
            &format!("invalid JSON in sync-server-config.json at {expected}"),
        );
    }
    check_err(
        &[],
        Some("[1, 2]"),
        "invalid configuration file sync-server-config.json: expected a JSON object { ... }, found [1,2]",
    );
}

#[test]
fn sizes() {
    let check_size = |input: &str, expected: Result<u64, &str>| {
        assert_eq!(
            values::db_max_size(input),
            expected.map_err(str::to_owned),
            "{input:?}"
        );
    };
    const K: u64 = 1024;
    check_size("100G", Ok(100 * K * K * K));
    check_size("104857600K", Ok(104857600 * K));
    check_size("512M", Ok(512 * K * K));
    check_size("1T", Ok(K * K * K * K));
    check_size("1g", Ok(K * K * K));
    check_size("2GB", Ok(2 * K * K * K));
    check_size("2GiB", Ok(2 * K * K * K));
    check_size(" 3 M ", Ok(3 * K * K));
    check_size("1048576", Ok(K * K));
    check_size("1048576B", Ok(K * K));
    check_size("1024K", Ok(K * K));
    check_size("1M", Ok(K * K));
    let unit = r#"; use K, M, G or T (binary: K = 1024 bytes), e.g. 100G"#;
    check_size("100X", Err(&format!(r#"unknown unit "X"{unit}"#)));
    check_size("100 GG", Err(&format!(r#"unknown unit "GG"{unit}"#)));
    check_size("1.5G", Err(&format!(r#"unknown unit ".5G"{unit}"#)));
    check_size(
        "10iB",
        Err(r#"unknown unit "iB"; use K, M, G or T, e.g. 100G"#),
    );
    check_size(
        "G",
        Err("expected a whole number with an optional unit K, M, G or T, e.g. 100G"),
    );
    check_size(
        "-1G",
        Err("expected a whole number with an optional unit K, M, G or T, e.g. 100G"),
    );
    check_size("99999999999999999999T", Err("too large"));
    check_size("99999999T", Err("too large"));
    let small = "; a number without unit is bytes, so write e.g. 100G";
    check_size(
        "1023K",
        Err(&format!(
            "must be at least 1M (1048576 bytes), found 1047552 bytes{small}"
        )),
    );
    check_size(
        "100",
        Err(&format!(
            "must be at least 1M (1048576 bytes), found 100 bytes{small}"
        )),
    );

    check_err(
        &[],
        Some(r#"{"dbMaxSize": "10Q"}"#),
        &format!(
            r#"invalid value "10Q" for dbMaxSize in sync-server-config.json: unknown unit "Q"{unit}"#
        ),
    );
    check_err(
        &[],
        Some(r#"{"dbMaxSize": 1000}"#),
        &format!(
            "invalid value 1000 for dbMaxSize in sync-server-config.json: must be at least 1M (1048576 bytes), found 1000 bytes{small}"
        ),
    );
    check_err(
        &["--db-max-size", "0"],
        None,
        &format!(
            r#"invalid value "0" for --db-max-size: must be at least 1M (1048576 bytes), found 0 bytes{small}"#
        ),
    );
}

#[test]
fn binds() {
    let check_bind = |input: &str, expected: &str| {
        let actual = match input.parse::<SyncBind>() {
            Ok(b) => format!("{b} host={} port={}", b.host, b.port),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(actual, expected, "{input:?}");
    };
    check_bind(
        "ws://0.0.0.0:9999",
        "ws://0.0.0.0:9999 host=0.0.0.0 port=9999",
    );
    check_bind(
        "wss://sync.example.com:443",
        "wss://sync.example.com:443 host=sync.example.com port=443",
    );
    check_bind(
        "WS://localhost:1/",
        "ws://localhost:1 host=localhost port=1",
    );
    check_bind("ws://[::1]:9999", "ws://[::1]:9999 host=::1 port=9999");
    check_bind("ws://[::]", "ws://[::]:9999 host=:: port=9999");
    check_bind(
        "localhost:9998",
        "ws://localhost:9998 host=localhost port=9998",
    );
    check_bind(
        "ws://127.0.0.1",
        "ws://127.0.0.1:9999 host=127.0.0.1 port=9999",
    );
    check_bind("ws://127.0.0.1:0", "ws://127.0.0.1:0 host=127.0.0.1 port=0");
    check_bind(
        "ws://0.0.0.0:99999",
        "error: port must be 0-65535, found 99999",
    );
    check_bind("ws://0.0.0.0:", "error: the port is missing after ':'");
    check_bind("ws://0.0.0.0:ab", r#"error: port "ab" is not a number"#);
    check_bind("ws://0.0.0.0:-1", r#"error: port "-1" is not a number"#);
    check_bind(
        "http://0.0.0.0:1",
        r#"error: unsupported scheme "http://"; use ws:// or wss://"#,
    );
    check_bind(
        "ws://:9999",
        "error: the host is missing; use e.g. ws://0.0.0.0:9999",
    );
    check_bind(
        "ws://::1:9999",
        "error: put an IPv6 address in brackets, e.g. ws://[::1]:9999",
    );
    check_bind(
        "ws://[::1:9999",
        "error: missing ']' after the IPv6 address",
    );
    check_bind("ws://[nope]:1", r#"error: "nope" is not an IPv6 address"#);
    check_bind(
        "ws://[::1]x",
        r#"error: unexpected "x" after the IPv6 address"#,
    );
    check_bind(
        "ws://host:1/sync",
        "error: expected ws://host:port without path or user, found '/'",
    );
    check_bind(
        "ws://user@host:1",
        "error: expected ws://host:port without path or user, found '@'",
    );
    check_bind(
        "ws://ho st:1",
        r#"error: "ho st" is not a valid host name or IP address"#,
    );

    let check_admin = |input: &str, expected: &str| {
        let actual = match input.parse::<AdminBind>() {
            Ok(b) => b.to_string(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(actual, expected, "{input:?}");
    };
    check_admin("http://127.0.0.1:9980", "http://127.0.0.1:9980");
    check_admin("0.0.0.0:9980", "http://0.0.0.0:9980");
    check_admin("0.0.0.0", "http://0.0.0.0:9980");
    check_admin("https://admin.local:8443", "https://admin.local:8443");
    check_admin("http://[::]:0", "http://[::]:0");
    check_admin(
        "ws://a:1",
        r#"error: unsupported scheme "ws://"; use http:// or https://"#,
    );
    check_admin("http://a:65536", "error: port must be 0-65535, found 65536");

    assert_eq!(
        "ws://[::1]:1".parse::<SyncBind>().unwrap().host_port(),
        "[::1]:1"
    );
    assert_eq!(
        "http://a:2".parse::<AdminBind>().unwrap().host_port(),
        "a:2"
    );
    check_err(
        &[],
        Some(r#"{"bind": "ws://0.0.0.0:99999"}"#),
        r#"invalid value "ws://0.0.0.0:99999" for bind in sync-server-config.json: port must be 0-65535, found 99999"#,
    );
    check_err(
        &[],
        Some(r#"{"adminBind": "https://0.0.0.0:1"}"#),
        "invalid --admin-bind / adminBind: https://0.0.0.0:1 needs a certificate directory with cert.pem and key.pem; set --cert or certificatePath",
    );
}

#[test]
fn configuration_file_location() {
    let dir = tempfile::tempdir().unwrap();
    let info = |m: String| Note {
        level: NoteLevel::Info,
        message: m,
    };

    // The default file is optional.
    let c = load(dir.path(), &[], None).unwrap();
    assert_eq!(
        c.notes,
        vec![info(
            "Default configuration file sync-server-config.json not found".into()
        )]
    );

    // A found default file is noted with its path.
    let c = load(dir.path(), &[], Some(r#"{"workers": 7}"#)).unwrap();
    let path = dir.path().join(DEFAULT_CONFIG_FILE);
    assert_eq!(
        c.notes,
        vec![info(format!(
            "Loaded configuration file {}",
            path.display()
        ))]
    );
    assert_eq!(c.workers, 7);

    // --conf is resolved against the working directory, and replaces the default file.
    fs::create_dir(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("etc/server.json"), r#"{"workers": 9}"#).unwrap();
    let c = load(dir.path(), &["-c", "etc/server.json"], None).unwrap();
    assert_eq!(c.workers, 9);
    let c = load(dir.path(), &["--conf", "etc/server.json"], None).unwrap();
    assert_eq!(c.workers, 9);

    // A missing explicit file is an error.
    check_err(
        &["--conf", "missing.json"],
        None,
        "configuration file missing.json not found (given with --conf)",
    );
    check_err(
        &["-c", "missing.json"],
        Some("{}"),
        "configuration file missing.json not found (given with --conf)",
    );

    // A directory cannot be read as a file.
    let err = load(dir.path(), &["--conf", "etc"], None).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
}

#[test]
fn certificates() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    fs::create_dir(&certs).unwrap();
    fs::write(certs.join("cert.pem"), "").unwrap();
    let run = |args: &[&str]| {
        match load(dir.path(), args, None) {
            Ok(c) => describe(&c, dir.path()),
            Err(e) => format!("error: {e}"),
        }
        .replace(&format!("{}/", dir.path().display()), "")
    };

    assert_eq!(
        run(&["--cert", "certs", "-b", "wss://0.0.0.0:443"]),
        "error: invalid --cert / certificatePath: certificate directory certs has no key.pem; it must contain cert.pem and key.pem"
    );
    assert_eq!(
        run(&["--cert", "nope"]),
        "error: invalid --cert / certificatePath: certificate directory nope does not exist or is not a directory"
    );
    assert_eq!(
        run(&["-b", "wss://0.0.0.0:443"]),
        "error: invalid --bind / bind: wss://0.0.0.0:443 needs a certificate directory with cert.pem and key.pem; set --cert or certificatePath"
    );
    fs::write(certs.join("key.pem"), "").unwrap();
    assert_eq!(
        run(&["--cert", "certs", "-b", "wss://0.0.0.0:443"]),
        r#"bind: wss://0.0.0.0:443
certificate_path: Some("certs")"#
    );
    assert_eq!(
        run(&["--cert", "certs", "--admin-bind", "https://127.0.0.1:8443"]),
        r#"admin_bind: https://127.0.0.1:8443
certificate_path: Some("certs")"#
    );
    assert_eq!(
        run(&["--admin-bind", "https://127.0.0.1:8443"]),
        "error: invalid --admin-bind / adminBind: https://127.0.0.1:8443 needs a certificate directory with cert.pem and key.pem; set --cert or certificatePath"
    );
    // With --admin-off an https:// admin address needs no certificate: nothing listens there.
    assert_eq!(
        run(&["--admin-off", "--admin-bind", "https://127.0.0.1:8443"]),
        "admin_bind: None\nwarn: --admin-bind https://127.0.0.1:8443 is ignored because of --admin-off"
    );
    assert_eq!(
        run(&["--cert", "certs"]),
        r#"certificate_path: Some("certs")
warn: --cert / certificatePath has no effect because neither the bind address ws://0.0.0.0:9999 is wss:// nor the admin bind address is https://"#
    );
}

#[test]
fn authentication() {
    let dir = tempfile::tempdir().unwrap();
    let auth = |args: &[&str], file: &str| -> Result<AuthConfig, String> {
        load(dir.path(), args, Some(file))
            .map(|c| c.auth)
            .map_err(|e| {
                e.to_string()
                    .replace(&format!("{}/", dir.path().display()), "")
            })
    };
    let secret = |value: &str, required| SharedSecret {
        value: value.into(),
        required,
    };

    let a = auth(&[], r#"{"auth": {"sharedSecret": "s3cret"}}"#).unwrap();
    assert_eq!(a.shared_secret, Some(secret("s3cret", false)));
    let a = auth(
        &[],
        r#"{"auth": {"sharedSecret": {"value": "v", "required": true}}}"#,
    )
    .unwrap();
    assert_eq!(a.shared_secret, Some(secret("v", true)));
    assert_eq!(
        auth(&[], r#"{"auth": {"sharedSecret": ""}}"#).unwrap_err(),
        r#"invalid value "" for auth.sharedSecret in sync-server-config.json: the secret must not be empty"#
    );
    assert_eq!(
        auth(&[], r#"{"auth": {"sharedSecret": {"required": true}}}"#).unwrap_err(),
        r#"invalid auth.sharedSecret in sync-server-config.json: "value" must be set to the secret"#
    );

    let a = auth(
        &[],
        r#"{"auth": {"google": {"clientIds": ["id1", "id2"], "required": true}}}"#,
    )
    .unwrap();
    assert_eq!(
        a.google,
        Some(GoogleAuth {
            client_ids: vec!["id1".into(), "id2".into()],
            required: true
        })
    );
    assert_eq!(
        auth(&[], r#"{"auth": {"google": {}}}"#).unwrap_err(),
        r#"invalid auth.google in sync-server-config.json: "clientIds" must be set to a list of one or more non-empty client IDs"#
    );

    assert_eq!(
        auth(&[], r#"{"auth": {"obxAdmin": false}}"#)
            .unwrap()
            .obx_admin,
        None
    );
    assert_eq!(
        auth(&[], r#"{"auth": {"obxAdmin": true}}"#)
            .unwrap()
            .obx_admin,
        Some(ObxAdminAuth { required: false })
    );
    assert_eq!(
        auth(&[], r#"{"auth": {"obxAdmin": {"required": true}}}"#)
            .unwrap()
            .obx_admin,
        Some(ObxAdminAuth { required: true })
    );
    assert_eq!(
        auth(
            &["--auth-obx-admin"],
            r#"{"auth": {"obxAdmin": {"required": true}}}"#
        )
        .unwrap()
        .obx_admin,
        Some(ObxAdminAuth { required: true })
    );
    assert_eq!(
        auth(&["--auth-obx-admin"], "{}").unwrap().obx_admin,
        Some(ObxAdminAuth { required: false })
    );

    let jwt = auth(
        &[],
        r#"{"auth": {"jwt": {"publicKeyUrl": "https://keys", "claimAud": ["a", "b"], "claimIss": "iss",
                              "publicKeyCacheExpirationSeconds": 60, "required": true, "requiredAccess": true,
                              "requiredRefresh": true, "requiredCustom": true}}}"#,
    )
    .unwrap()
    .jwt
    .unwrap();
    assert_eq!(
        jwt,
        JwtConfig {
            public_key: None,
            public_key_url: Some("https://keys".into()),
            claim_aud: vec!["a".into(), "b".into()],
            claim_iss: Some("iss".into()),
            public_key_cache_expiration_seconds: Some(60),
            required: true,
            required_access: true,
            required_refresh: true,
            required_custom: true,
        }
    );
    let jwt = auth(
        &["--jwt-public-key-url", "https://cli", "--jwt-claim-aud", "cli-aud", "--jwt-claim-iss", "cli-iss"],
        r#"{"auth": {"jwt": {"publicKey": "-----BEGIN PUBLIC KEY-----", "claimAud": "file-aud", "required": true}}}"#,
    )
    .unwrap()
    .jwt
    .unwrap();
    assert_eq!(
        jwt,
        JwtConfig {
            public_key_url: Some("https://cli".into()),
            claim_aud: vec!["cli-aud".into()],
            claim_iss: Some("cli-iss".into()),
            required: true,
            ..JwtConfig::default()
        }
    );
    assert_eq!(
        auth(&["--jwt-claim-aud", "a"], "{}").unwrap_err(),
        "invalid auth.jwt / --jwt-public-key-url: JWT validation needs a public key: set --jwt-public-key-url, auth.jwt.publicKeyUrl or auth.jwt.publicKey"
    );
    assert_eq!(
        auth(
            &[],
            r#"{"auth": {"jwt": {"publicKey": "k", "publicKeyUrl": "u"}}}"#
        )
        .unwrap_err(),
        "invalid auth.jwt / --jwt-public-key-url: set either auth.jwt.publicKey or a public key URL, not both"
    );
    assert_eq!(
        auth(
            &[],
            r#"{"auth": {"jwt": {"publicKey": "k", "publicKeyCacheExpirationSeconds": 5}}}"#
        )
        .unwrap_err(),
        "invalid auth.jwt / --jwt-public-key-url: auth.jwt.publicKeyCacheExpirationSeconds only applies to a public key URL, not to auth.jwt.publicKey"
    );

    let required = auth(
        &[
            "--auth-required",
            "jwt_id, SharedSecretSipped,JWT_ID,,obx-admin-user",
        ],
        "{}",
    )
    .unwrap()
    .required;
    assert_eq!(
        required,
        ["JWT_ID", "SHARED_SECRET_SIPPED", "OBX_ADMIN_USER"]
    );
    assert_eq!(
        auth(&["--auth-required", "JWT"], "{}").unwrap_err(),
        r#"invalid value "JWT" for --auth-required: unknown credential type "JWT"; expected a comma-separated list of: SHARED_SECRET, SHARED_SECRET_SIPPED, GOOGLE_AUTH, OBX_ADMIN_USER, JWT_ID, JWT_ACCESS, JWT_REFRESH, JWT_CUSTOM"#
    );
}

#[test]
fn has_authenticator() {
    let dir = tempfile::tempdir().unwrap();
    let has = |args: &[&str], file: &str| {
        load(dir.path(), args, Some(file))
            .unwrap()
            .has_authenticator()
    };
    assert!(!has(&[], "{}"));
    assert!(!has(&["--unsecured-no-authentication"], "{}"));
    assert!(has(&[], r#"{"auth": {"sharedSecret": "s"}}"#));
    assert!(has(&[], r#"{"auth": {"google": {"clientIds": ["c"]}}}"#));
    assert!(has(&["--auth-obx-admin"], "{}"));
    assert!(has(&["--jwt-public-key-url", "https://k"], "{}"));
    // Both together are allowed.
    let c = load(
        dir.path(),
        &["--unsecured-no-authentication", "--auth-obx-admin"],
        Some("{}"),
    )
    .unwrap();
    assert!(c.has_authenticator() && c.unsecured_no_authentication);
}

#[test]
fn cross_field_rules() {
    check_err(
        &[],
        Some(
            r#"{"clientSchemaValidation": {"strict": true, "defaultHash": "00112233445566778899aabbccddeeff"}}"#,
        ),
        "invalid clientSchemaValidation in sync-server-config.json: strict cannot be combined with defaultHash: \
         unknown clients are either rejected (strict) or treated as the default schema",
    );
    check(
        &[],
        Some(
            r#"{"clientSchemaValidation": {"strict": false, "defaultHash": "00112233445566778899aabbccddeeff"}}"#,
        ),
        r#"client_schema_validation: ClientSchemaValidation { strict: false, default_hash: Some("00112233445566778899aabbccddeeff") }"#,
    );
    check_err(
        &[],
        Some(r#"{"clientSchemaValidation": {"defaultHash": "0x00112233445566778899aabbccddee"}}"#),
        r#"invalid value "0x00112233445566778899aabbccddee" for clientSchemaValidation.defaultHash in sync-server-config.json: expected a schema hash of 32 hexadecimal characters without 0x"#,
    );
    check_err(
        &[],
        Some(r#"{"historySizeMaxKb": 1000, "historySizeTargetKb": 1000}"#),
        "invalid value 1000 for historySizeTargetKb in sync-server-config.json: must be less than historySizeMaxKb (1000)",
    );
    check_err(
        &[],
        Some(r#"{"historySizeTargetKb": 500}"#),
        "invalid value 500 for historySizeTargetKb in sync-server-config.json: needs historySizeMaxKb: the target is \
         what the history is cut down to once it reaches the maximum",
    );
    check_err(
        &[],
        Some(r#"{"fullSyncMessageSplitMb": 0.5}"#),
        "invalid value 0.5 for fullSyncMessageSplitMb in sync-server-config.json: must be a number of MiB, at least 1",
    );
    check_err(
        &[],
        Some(r#"{"fullSyncMessageSplitMb": 40}"#),
        "invalid fullSyncMessageSplitMb: 40 is larger than the maximum message size of 32 MiB (maxMessageSizeMb)",
    );
    check(
        &[],
        Some(r#"{"fullSyncMessageSplitMb": 40, "maxMessageSizeMb": 40}"#),
        "full_sync_message_split_mb: 40.0\nmax_message_size: 41943040",
    );
    check_err(
        &[],
        Some(r#"{"maxMessageSizeMb": 0}"#),
        "invalid value 0 for maxMessageSizeMb in sync-server-config.json: must be at least 1",
    );
    check_err(
        &[],
        Some(r#"{"adminThreads": 0}"#),
        "invalid value 0 for adminThreads in sync-server-config.json: must be at least 1",
    );
    check_err(
        &[],
        Some(r#"{"trialDays": 5000000000}"#),
        "invalid value 5000000000 for trialDays in sync-server-config.json: the number is too large",
    );
    check_err(
        &[],
        Some(r#"{"dbDirectory": ""}"#),
        r#"invalid value "" for dbDirectory in sync-server-config.json: the path must not be empty"#,
    );
}

#[test]
fn unsupported_options_are_reported() {
    check(
        &[
            "--auth-required",
            "OBX_ADMIN_USER,GOOGLE_AUTH",
            "--admin-threads",
            "8",
            "--admin-user",
            "admin",
            "--admin-password",
            "pw",
            "--admin-unsecured-no-authentication",
            "--trial-days",
            "30",
            "--cluster-id",
            "c1",
            "--fixed-leader",
            "--fixed-follower",
            "--mongo-url",
            "mongodb://m",
            "--mongo-db",
            "db",
            "--mongo-initial-import",
            "--no-stacks",
            "--async-tx-slot",
            "100",
            "--restore-backup",
            "b.bak",
            "--backup-overwrites-db",
        ],
        None,
        r#"
admin_threads: Some(8)
auth: AuthConfig { shared_secret: None, google: None, obx_admin: None, jwt: None, required: ["OBX_ADMIN_USER", "GOOGLE_AUTH"] }
admin_user: Some("admin")
admin_password: Some("<redacted>")
admin_unsecured_no_authentication: true
trial_days: Some(30)
unsupported: ["--admin-threads / adminThreads", "GOOGLE_AUTH in --auth-required", "--cluster-id / clusterId", "--fixed-leader / fixedLeader", "--fixed-follower / fixedFollower", "--mongo-url / mongoDb.url", "--mongo-db / mongoDb.database", "--mongo-initial-import / mongoDb.automaticInitialImport", "--no-stacks / noStacks", "--async-tx-slot / asyncTxSlot", "--restore-backup", "--backup-overwrites-db"]"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let unsupported = |file: &str| load(dir.path(), &[], Some(file)).unwrap().unsupported;
    assert_eq!(
        unsupported(
            r#"{"auth": {"sharedSecret": "s", "google": {"clientIds": ["c"]}, "obxAdmin": true,
                         "jwt": {"publicKeyUrl": "u"}},
                "adminThreads": 2, "adminUser": "u", "adminPassword": "p", "adminUnsecuredNoAuthentication": true,
                "trialDays": 1, "syncFilters": {"T": "x == 1"}, "clusterId": "c", "fixedLeader": true,
                "fixedFollower": true, "preferredLeader": true, "serversToConnect": [],
                "mongoDb": {"url": "m", "database": "d", "automaticInitialImport": true,
                            "maxPropertySizeToMongoDb": 0, "omitNullValuesToMongoDb": true,
                            "skipOversizedDocumentsToMongoDb": false},
                "noStacks": true, "asyncTxSlot": 3000, "maxReaders": 10,
                "log": {"transactionRead": true, "wal": true, "queries": false}}"#
        ),
        [
            "--admin-threads / adminThreads",
            "auth.google",
            "syncFilters",
            "--cluster-id / clusterId",
            "--fixed-leader / fixedLeader",
            "--fixed-follower / fixedFollower",
            "--mongo-url / mongoDb.url",
            "--mongo-db / mongoDb.database",
            "--mongo-initial-import / mongoDb.automaticInitialImport",
            "--no-stacks / noStacks",
            "--async-tx-slot / asyncTxSlot",
            "log.transactionRead",
            "log.wal",
            "serversToConnect",
            "preferredLeader",
            "maxReaders",
            "mongoDb.maxPropertySizeToMongoDb",
            "mongoDb.omitNullValuesToMongoDb",
        ]
    );
    // Implemented authentication options are not reported.
    let implemented = load(
        dir.path(),
        &[
            "--auth-required",
            "SHARED_SECRET_SIPPED,JWT_ID,JWT_ACCESS",
            "--jwt-claim-aud",
            "aud",
            "--jwt-claim-iss",
            "iss",
        ],
        Some(
            r#"{"auth": {"sharedSecret": {"value": "s", "required": true},
                         "jwt": {"publicKeyUrl": "https://k", "required": true, "requiredRefresh": true}}}"#,
        ),
    )
    .unwrap();
    assert!(implemented.has_authenticator());
    assert!(
        implemented.unsupported.is_empty(),
        "{:?}",
        implemented.unsupported
    );
    // Settings equal to "off" are not reported.
    assert!(
        unsupported(r#"{"noStacks": false, "fixedLeader": false, "log": {"wal": false}, "auth": {"obxAdmin": false}}"#)
            .is_empty()
    );
}

#[test]
fn secrets_are_redacted_in_debug() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(
        dir.path(),
        &["--admin-password", "hunter2"],
        Some(r#"{"auth": {"sharedSecret": "s3cret-value"}}"#),
    )
    .unwrap();
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("s3cret-value"),
        "{debug}"
    );
    assert!(
        debug.contains("admin_password: Some(\"<redacted>\")"),
        "{debug}"
    );
    assert_eq!(c.admin_password.as_deref(), Some("hunter2"));
}

#[test]
fn for_tests() {
    let c = Config::for_tests(Some("model.json".into()), "db".into());
    assert_eq!(c.model_file, Some(PathBuf::from("model.json")));
    assert_eq!(c.db_directory, PathBuf::from("db"));
    assert_eq!(c.bind.to_string(), "ws://127.0.0.1:0");
    assert_eq!(
        c.admin_bind.as_ref().map(ToString::to_string).as_deref(),
        Some("http://127.0.0.1:0")
    );
    assert!(c.unsecured_no_authentication);
    assert!(!c.has_authenticator());
    assert!(c.notes.is_empty() && c.unsupported.is_empty());
    assert_eq!(c.db_max_size, DEFAULT_DB_MAX_SIZE_BYTES);
}
