use super::*;

fn check(ip: &str, listen: &str, expected: Option<&str>) {
    let ip: IpAddr = ip.parse().unwrap();
    let listen: SocketAddr = listen.parse().unwrap();
    assert_eq!(
        url_on(ip, listen, "ws").as_deref(),
        expected,
        "{ip} on {listen}"
    );
}

#[test]
fn urls_follow_the_listen_address() {
    check("192.168.1.5", "0.0.0.0:9999", Some("ws://192.168.1.5:9999"));
    check("127.0.0.1", "0.0.0.0:9999", Some("ws://127.0.0.1:9999"));
    check("fe80::1", "0.0.0.0:9999", None);
    check("fe80::1", "[::]:9999", Some("ws://[fe80::1]:9999"));
    check("10.0.0.2", "[::]:9999", Some("ws://10.0.0.2:9999"));
    check("127.0.0.1", "127.0.0.1:9999", Some("ws://127.0.0.1:9999"));
    check("192.168.1.5", "127.0.0.1:9999", None);
    check("::1", "[::1]:9980", Some("ws://[::1]:9980"));
}
