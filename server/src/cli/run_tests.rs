use super::loopback_port;

#[test]
fn the_demo_takes_ports_on_loopback_only() {
    assert_eq!(
        loopback_port("base_url", "http://127.0.0.1:8080").unwrap(),
        8080
    );
    assert_eq!(
        loopback_port("network.api", "http://localhost:8474/").unwrap(),
        8474
    );
    assert_eq!(loopback_port("base_url", "http://127.0.0.1").unwrap(), 80);
    for (url, host) in [
        ("http://10.0.0.5:8474", "10.0.0.5"),
        ("http://[::1]:8474", "[::1]"),
        ("http://toxiproxy.staging:8474", "toxiproxy.staging"),
    ] {
        let error = loopback_port("network.api", url).unwrap_err().to_string();
        assert!(
            error.contains(&format!("names host {host}")) && error.contains("network.api"),
            "{error}"
        );
    }
}
