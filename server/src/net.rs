//! Network-address helpers shared by the web server's local mode
//! (`cli::serve`) and the network-fault proxy's API (`proxy_api`): whether
//! a `Host` names loopback.

/// Whether a `Host` header (or an origin's host and port) names loopback:
/// `localhost` (or a name under it), `127.x.y.z`, `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let Ok(url) = url::Url::parse(&format!("http://{host}")) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_names_under_localhost_and_loopback_addresses() {
        for host in [
            "localhost:3000",
            "127.0.0.1:3000",
            "127.1.2.3",
            "[::1]:3000",
            "app.localhost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:3000",
            "127.0.0.1.evil.example",
            "0.0.0.0:3000",
            "10.0.0.1",
            "",
            "localhost.evil",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
