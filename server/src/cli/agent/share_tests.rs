//! A share is made ready to send (request built, secrets read, host
//! resolved) before its agent says it is ready.

use super::prepare;
use crate::cli::agent::api::Claimed;
use engine::agents::ShardTarget;
use engine::plan::{Environment, HttpLoadSpec};
use tokio_util::sync::CancellationToken;

/// The variable behind the `token` secret, never set.
const UNSET: &str = "SHAKEDOWN_AGENT_SHARE_TEST_NEVER_SET";

fn claimed(spec: &str) -> Claimed {
    let environment: Environment = toml::from_str(&format!(
        "base_url = \"http://127.0.0.1:9\"\nallowed_hosts = [\"127.0.0.1\"]\n\
         [secrets]\ntoken = \"{UNSET}\"\n"
    ))
    .unwrap();
    let target = ShardTarget {
        name: "local".to_owned(),
        environment,
        answer_limit: 1 << 20,
    };
    let spec: HttpLoadSpec = toml::from_str(spec).unwrap();
    Claimed {
        id: 1,
        run_id: "r1".to_owned(),
        test_id: "L1".to_owned(),
        segment: "0:1".to_owned(),
        spec: serde_json::to_value(spec).unwrap(),
        target: serde_json::to_value(target).unwrap(),
    }
}

#[tokio::test]
async fn a_share_whose_requests_cannot_be_built_is_found_before_ready() {
    assert!(std::env::var(UNSET).is_err());
    let lacking = claimed(
        "path = \"/\"\nrate = 10\nduration_s = 1\n\
         headers = { authorization = \"Bearer ${secret.token}\" }",
    );
    let error = match prepare(&lacking, CancellationToken::new()).await {
        Ok(_) => panic!("a secret this agent lacks was not found when preparing"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("cannot prepare the share's requests"),
        "{error}"
    );
    assert!(error.contains(UNSET), "{error}");
    let plain = claimed("path = \"/\"\nrate = 10\nduration_s = 1");
    assert!(prepare(&plain, CancellationToken::new()).await.is_ok());
}
