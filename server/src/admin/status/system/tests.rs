use super::*;

#[test]
fn proc_fields_parse() {
    let status = "Name:\tsync-server\nVmRSS:\t   20480 kB\nThreads: 4\n";
    assert_eq!(kib_field(status, "VmRSS:"), Some(20480 * 1024));
    assert_eq!(kib_field(status, "VmSwap:"), None);
    assert_eq!(
        parse_loadavg("0.52 0.58 0.59 2/1234 5678\n"),
        Some([0.52, 0.58, 0.59])
    );
    assert_eq!(parse_loadavg("garbage"), None);
}

#[test]
fn the_machine_answers() {
    assert!(host_name().is_some());
    assert!(free_disk_bytes(Path::new(".")).is_some());
    let interfaces = interfaces();
    assert!(
        interfaces.values().flatten().any(IpAddr::is_loopback),
        "{interfaces:?}"
    );
}
