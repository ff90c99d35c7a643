//! The `command` restart method: any shell command (`docker restart api`,
//! `kubectl rollout restart deploy/api`), run with `sh -c` and a timeout;
//! its exit status is checked and its output kept (clipped) as the answer.

use super::Called;
use crate::plan::CommandRestart;
use std::process::Stdio;
use std::time::Duration;

/// Timeout when the plan sets none.
const DEFAULT_TIMEOUT_S: u32 = 60;

/// Runs the command.
pub async fn call(spec: &CommandRestart) -> Called {
    let timeout = Duration::from_secs(u64::from(
        spec.timeout_s.map_or(DEFAULT_TIMEOUT_S, |t| t.get()),
    ));
    let called = format!("sh -c {:?}", spec.run);
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&spec.run)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) => return Called::failed(called, format!("could not start: {e}")),
    };
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => Called::failed(
            called,
            format!("no exit within {} s; killed", timeout.as_secs()),
        ),
        Ok(Err(e)) => Called::failed(called, format!("could not wait for it: {e}")),
        Ok(Ok(output)) => {
            let status = match output.status.code() {
                Some(code) => format!("exit code {code}"),
                None => "killed by a signal".to_owned(),
            };
            let out = super::clip(&String::from_utf8_lossy(&output.stdout));
            let err = super::clip(&String::from_utf8_lossy(&output.stderr));
            Called {
                called,
                answer: format!("{status}; stdout: {out:?}; stderr: {err:?}"),
                ok: output.status.success(),
                supervisor: None,
            }
        }
    }
}
