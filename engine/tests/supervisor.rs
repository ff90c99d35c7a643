//! The supervisor against real processes on loopback: a restart is proved
//! by a new PID and a passing health check, a process that ignores its stop
//! signal is killed after the grace period, and nothing outlives stop_all.

use engine::supervisor::{HealthCheck, ProcessSpec, StopSignal, Supervisor, SupervisorError};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real HTTP server (Python's) on a loopback port; `ignore_term` makes it
/// ignore SIGTERM so only SIGKILL stops it.
fn web_server(name: &str, port: u16, ignore_term: bool) -> ProcessSpec {
    let script = format!(
        "import signal, http.server\n\
         {}\n\
         http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()",
        if ignore_term {
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)"
        } else {
            ""
        }
    );
    ProcessSpec {
        name: name.to_owned(),
        argv: vec!["python3".into(), "-c".into(), script],
        env: vec![],
        cwd: Some(std::env::temp_dir()),
        user: None,
        stop_signal: StopSignal::Sigterm,
        grace: Duration::from_millis(500),
        start_timeout: Duration::from_secs(15),
        health: HealthCheck::Http {
            url: format!("http://127.0.0.1:{port}/"),
        },
        log: None,
    }
}

fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

#[tokio::test]
async fn a_restart_is_proved_by_a_new_pid_and_a_passing_health_check() {
    let sup = Supervisor::new();
    let port = free_port();
    let first = sup.start(web_server("web", port, false)).await.unwrap();
    assert!(alive(first.pid));

    let proof = sup.restart("web", None).await.unwrap();
    assert!(proof.observed(), "{proof:?}");
    assert_eq!(proof.old_pid, first.pid);
    assert_ne!(proof.new_pid, first.pid);
    assert!(!alive(first.pid));
    assert!(alive(proof.new_pid));
    assert!(!proof.killed);
    assert!(proof.old_exit.contains("SIGTERM"), "{}", proof.old_exit);
    assert!(proof.new_started_at_ms >= proof.old_started_at_ms);
    assert!(proof.recovery_ms >= proof.stop_ms);
    assert!(!proof.timeline.first().unwrap().healthy);
    assert!(proof.timeline.last().unwrap().healthy);
    // Probes are about 100 ms apart (plus the probe's own time).
    for pair in proof.timeline.windows(2) {
        assert!(
            pair[1].at_ms - pair[0].at_ms < 1_200,
            "{:?}",
            proof.timeline
        );
    }
    assert_eq!(sup.info("web").await.unwrap().pid, proof.new_pid);

    sup.stop_all().await;
    assert!(!alive(proof.new_pid));
    assert!(sup.names().await.is_empty());
}

#[tokio::test]
async fn a_process_that_ignores_its_stop_signal_is_killed_after_the_grace_period() {
    let sup = Supervisor::new();
    let port = free_port();
    let first = sup.start(web_server("stubborn", port, true)).await.unwrap();
    let proof = sup.restart("stubborn", None).await.unwrap();
    assert!(proof.killed);
    assert!(proof.old_exit.contains("SIGKILL"), "{}", proof.old_exit);
    assert!(proof.stop_ms >= 500);
    assert!(!alive(first.pid));
    assert!(proof.observed());
    sup.stop_all().await;
    assert!(!alive(proof.new_pid));
}

#[tokio::test]
async fn sigkill_restarts_skip_the_grace_period() {
    let sup = Supervisor::new();
    let port = free_port();
    sup.start(web_server("web", port, true)).await.unwrap();
    let proof = sup.restart("web", Some(StopSignal::Sigkill)).await.unwrap();
    assert!(proof.killed);
    assert!(proof.stop_ms < 500, "{}", proof.stop_ms);
    assert!(proof.observed());
    sup.stop_all().await;
}

#[tokio::test]
async fn start_failures_name_the_process() {
    let sup = Supervisor::new();
    let mut spec = web_server("broken", free_port(), false);
    spec.argv = vec!["sh".into(), "-c".into(), "exit 3".into()];
    let err = sup.start(spec).await.unwrap_err();
    assert!(
        matches!(&err, SupervisorError::ExitedEarly { name, status, .. } if name == "broken" && status == "exit code 3"),
        "{err}"
    );

    let mut spec = web_server("silent", free_port(), false);
    spec.argv = vec!["sleep".into(), "30".into()];
    spec.start_timeout = Duration::from_millis(400);
    let err = sup.start(spec).await.unwrap_err();
    assert!(matches!(err, SupervisorError::Unhealthy { .. }), "{err}");

    let err = sup.restart("nobody", None).await.unwrap_err();
    assert_eq!(err.to_string(), "no process named \"nobody\" is supervised");
}

#[tokio::test]
async fn sigkill_takes_the_process_helpers_with_it() {
    let dir = std::env::temp_dir().join(format!("sup-group-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("helper.pid");
    let sup = Supervisor::new();
    let port = free_port();
    let mut spec = web_server("forking", port, false);
    let python = spec.argv[2].clone();
    // A helper process forked by the service, like a database's backends.
    spec.argv = vec![
        "sh".into(),
        "-c".into(),
        format!(
            "sleep 300 & echo $! > {}; exec python3 -c \"$0\"",
            pid_file.display()
        ),
        python,
    ];
    sup.start(spec).await.unwrap();
    let helper: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(helper));
    let proof = sup
        .restart("forking", Some(StopSignal::Sigkill))
        .await
        .unwrap();
    assert!(proof.observed());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(helper) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(helper), "the helper outlived SIGKILL of its group");
    sup.stop_all().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
