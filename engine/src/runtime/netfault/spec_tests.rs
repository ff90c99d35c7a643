use super::*;
use serde_json::json;

#[test]
fn toxic_defaults_follow_toxiproxy() {
    let t =
        ToxicSpec::from_json(&json!({"type": "latency", "attributes": {"latency": 300}})).unwrap();
    assert_eq!(t.name, "latency_downstream");
    assert_eq!(t.stream, Stream::Downstream);
    assert_eq!(t.toxicity, 1.0);
    assert_eq!(
        t.kind,
        ToxicKind::Latency {
            latency_ms: 300,
            jitter_ms: 0
        }
    );
    let u = t
        .updated(&json!({"attributes": {"jitter": 50}, "toxicity": 0.5}))
        .unwrap();
    assert_eq!(
        u.kind,
        ToxicKind::Latency {
            latency_ms: 300,
            jitter_ms: 50
        }
    );
    assert_eq!(u.toxicity, 0.5);
}

#[test]
fn bad_toxics_name_the_field() {
    let err = |v: Value| ToxicSpec::from_json(&v).unwrap_err().to_string();
    assert!(err(json!({"type": "lag"})).contains("field `type`: unknown toxic type \"lag\""));
    assert!(err(json!({})).contains("field `type`: missing"));
    assert!(err(json!({"type": "latency", "stream": "sideways"})).contains("field `stream`"));
    assert!(err(json!({"type": "latency", "toxicity": 2})).contains("field `toxicity`"));
    assert!(err(json!({"type": "latency", "attributes": {"rate": 1}}))
        .contains("field `attributes.rate`"));
    assert!(
        err(json!({"type": "latency", "attributes": {"latency": -1}}))
            .contains("field `attributes.latency`")
    );
    assert!(err(json!({"type": "latency", "colour": 1})).contains("field `colour`"));
    assert!(err(json!([1])).contains("field `body`"));
}

#[test]
fn addresses_are_loopback_unless_allowed() {
    let strict = AddressRules::default();
    assert!(check_listen("listen", "127.0.0.1:0", strict).is_ok());
    assert!(check_listen("listen", "[::1]:80", strict).is_ok());
    assert_eq!(
        check_listen("listen", "localhost:9", strict).unwrap(),
        "127.0.0.1:9".parse().unwrap()
    );
    assert!(check_listen("listen", "0.0.0.0:80", strict)
        .unwrap_err()
        .to_string()
        .contains("field `listen`"));
    assert!(check_upstream("upstream", "localhost:5432", strict).is_ok());
    assert!(check_upstream("upstream", "10.0.0.1:5432", strict)
        .unwrap_err()
        .to_string()
        .contains("--allow-remote-upstream"));
    assert!(check_upstream("upstream", "db.internal:5432", strict).is_err());
    let open = AddressRules {
        remote_listen: true,
        remote_upstream: true,
    };
    assert!(check_upstream("upstream", "db.internal:5432", open).is_ok());
    assert!(check_upstream("upstream", "nope", open).is_err());
}
