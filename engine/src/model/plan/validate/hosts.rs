//! Where a plan may send requests: resolving its paths and URLs against an
//! environment, the allowed hosts, and the `${secret.NAME}` references in
//! header values.

use crate::plan::Environment;
use url::Url;

/// `host` or `host:port` of a URL.
pub fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}

/// Whether the environment allows requests to this URL's host.
pub fn host_allowed(env: &Environment, url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let with_port = url
        .port_or_known_default()
        .map(|port| format!("{host}:{port}"));
    if env.allowed_hosts.is_empty() {
        return Url::parse(&env.base_url).is_ok_and(|base| {
            base.host_str().map(str::to_ascii_lowercase).as_deref() == Some(host.as_str())
                && base.port_or_known_default() == url.port_or_known_default()
        });
    }
    env.allowed_hosts.iter().any(|allowed| {
        let allowed = allowed.to_ascii_lowercase();
        let allowed = allowed.trim_start_matches('[').replace("]:", ":");
        let allowed = allowed.trim_end_matches(']');
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        if let Some(domain) = allowed.strip_prefix("*.") {
            bare_host.ends_with(&format!(".{domain}"))
        } else {
            allowed == bare_host
                || with_port
                    .as_deref()
                    .is_some_and(|hp| hp.trim_start_matches('[').replace("]:", ":") == allowed)
        }
    })
}

/// The URL a plan's path or URL stands for in an environment, refused when
/// its host is not allowed.
pub fn resolve(env: &Environment, path_or_url: &str) -> Result<Url, String> {
    let base = Url::parse(&env.base_url)
        .map_err(|e| format!("base_url {:?} is not a URL: {e}", env.base_url))?;
    let url = if path_or_url.starts_with('/') {
        let joined = format!("{}{}", env.base_url.trim_end_matches('/'), path_or_url);
        Url::parse(&joined).map_err(|e| format!("{path_or_url:?} does not form a URL: {e}"))?
    } else if path_or_url.contains("://") {
        Url::parse(path_or_url).map_err(|e| format!("{path_or_url:?} is not a URL: {e}"))?
    } else {
        return Err(format!(
            "expected a path starting with / or an http(s) URL, got {path_or_url:?}"
        ));
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "expected an http or https URL, got {path_or_url:?}"
        ));
    }
    if !host_allowed(env, &url) {
        let allowed = if env.allowed_hosts.is_empty() {
            format!("only {} (base_url) is allowed", host_port(&base))
        } else {
            format!("allowed_hosts: {}", env.allowed_hosts.join(", "))
        };
        return Err(format!(
            "host {} is not an allowed host ({allowed})",
            host_port(&url)
        ));
    }
    Ok(url)
}

/// The secret names referred to as `${secret.NAME}` in a value.
pub fn secret_refs(value: &str) -> Vec<Result<&str, String>> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            found.push(Err(format!("unclosed ${{ in {value:?}")));
            break;
        };
        let inner = &after[..end];
        match inner.strip_prefix("secret.") {
            Some(name) if !name.is_empty() => found.push(Ok(name)),
            _ => found.push(Err(format!("expected ${{secret.NAME}}, got ${{{inner}}}"))),
        }
        rest = &after[end + 1..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(base: &str, allowed: &[&str]) -> Environment {
        Environment {
            base_url: base.to_owned(),
            allowed_hosts: allowed.iter().map(|s| s.to_string()).collect(),
            health_path: None,
            readiness_path: None,
            expected_bucket: None,
            secrets: BTreeMap::new(),
            headers: BTreeMap::new(),
            description: None,
            required_approvals: None,
            ca_file: None,
            bucket: None,
            project_id: None,
            network: None,
        }
    }

    #[test]
    fn paths_resolve_on_the_base_url() {
        let e = env("http://127.0.0.1:8080/api", &[]);
        assert_eq!(
            resolve(&e, "/runs/1").unwrap().as_str(),
            "http://127.0.0.1:8080/api/runs/1"
        );
        assert!(resolve(&e, "http://127.0.0.1:9090/x").is_err());
        assert!(resolve(&e, "http://example.com/x").is_err());
        assert!(resolve(&e, "runs").is_err());
    }

    #[test]
    fn allowed_hosts_match_host_port_and_wildcards() {
        let e = env(
            "https://api.example.com",
            &[
                "api.example.com",
                "127.0.0.1:9000",
                "*.internal.example.com",
            ],
        );
        assert!(resolve(&e, "https://api.example.com:8443/x").is_ok());
        assert!(resolve(&e, "http://127.0.0.1:9000/x").is_ok());
        assert!(resolve(&e, "http://127.0.0.1:9001/x").is_err());
        assert!(resolve(&e, "http://db.internal.example.com/x").is_ok());
        assert!(resolve(&e, "http://internal.example.com.evil.org/x").is_err());
    }

    #[test]
    fn secret_references_are_found() {
        let refs = secret_refs("Bearer ${secret.token} ${secret.other}");
        assert_eq!(refs, vec![Ok("token"), Ok("other")]);
        assert!(secret_refs("${env.X}")[0].is_err());
    }
}
