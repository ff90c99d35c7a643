//! The supervisor against real processes on loopback: a restart is proved
//! by a new PID and a passing health check, a process that ignores its stop
//! signal is killed after the grace period, and nothing outlives stop_all.
//! A process killed from outside is started again and its exit recorded;
//! requested restarts and stops are not recorded; a process that keeps
//! crashing is restarted after doubling waits; each child leads its own
//! process group and dies with a SIGKILLed Shakedown.

use engine::results::UnplannedExit;
use engine::supervisor::{
    HealthCheck, ProcessSpec, RestartPolicy, StopSignal, Supervisor, SupervisorError,
};
use std::path::Path;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real HTTP server (Python's) on a loopback port. With `term_log` it
/// ignores SIGTERM, so only SIGKILL stops it, and appends a line to that file
/// each time a SIGTERM arrives: tests read the file to know which signals the
/// process got instead of timing how fast it died.
fn web_server(name: &str, port: u16, term_log: Option<&std::path::Path>) -> ProcessSpec {
    let handler = match term_log {
        Some(path) => format!(
            "signal.signal(signal.SIGTERM, lambda *_: open({:?}, 'a').write('TERM\\n'))",
            path.display().to_string()
        ),
        None => String::new(),
    };
    let script = format!(
        "import signal, http.server\n\
         {handler}\n\
         http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()"
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

/// A fresh file name for one test's `term_log`.
fn term_log_path(test: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "shakedown-supervisor-{test}-{}.terms",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// The SIGTERMs a `web_server` with a `term_log` has received.
fn terms_received(term_log: &std::path::Path) -> usize {
    std::fs::read_to_string(term_log)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// Whether the process exists and is not a zombie (a zombie is dead; its
/// new parent may not have reaped it yet).
fn alive(pid: u32) -> bool {
    let exists = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok();
    exists
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let (_, after) = stat.rsplit_once(')')?;
                after.split_whitespace().next().map(|state| state != "Z")
            })
            .unwrap_or(false)
}

/// Polls `check` every 20 ms until it gives a value; panics after `limit`.
async fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sigkill(pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

/// A shell script as a supervised process, healthy once `health_file`
/// exists.
fn script(name: &str, body: &str, dir: &Path, health_file: &str) -> ProcessSpec {
    ProcessSpec {
        name: name.to_owned(),
        argv: vec!["sh".into(), "-c".into(), body.to_owned()],
        env: vec![],
        cwd: Some(dir.to_path_buf()),
        user: None,
        stop_signal: StopSignal::Sigterm,
        grace: Duration::from_secs(5),
        start_timeout: Duration::from_secs(15),
        health: HealthCheck::Command {
            argv: vec![
                "test".into(),
                "-e".into(),
                dir.join(health_file).display().to_string(),
            ],
        },
        log: None,
    }
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sup-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_restart_is_proved_by_a_new_pid_and_a_passing_health_check() {
    let sup = Supervisor::new();
    let port = free_port();
    let first = sup.start(web_server("web", port, None)).await.unwrap();
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
    let term_log = term_log_path("stubborn");
    let first = sup
        .start(web_server("stubborn", port, Some(&term_log)))
        .await
        .unwrap();
    let proof = sup.restart("stubborn", None).await.unwrap();
    assert!(proof.killed);
    assert!(proof.old_exit.contains("SIGKILL"), "{}", proof.old_exit);
    assert_eq!(terms_received(&term_log), 1);
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
    let term_log = term_log_path("sigkill");
    sup.start(web_server("web", port, Some(&term_log)))
        .await
        .unwrap();
    let proof = sup.restart("web", Some(StopSignal::Sigkill)).await.unwrap();
    assert!(proof.killed);
    assert!(proof.old_exit.contains("SIGKILL"), "{}", proof.old_exit);
    // Killed at once: no SIGTERM was sent first, so no grace period ran.
    assert_eq!(terms_received(&term_log), 0);
    assert!(proof.observed());
    sup.stop_all().await;
}

#[tokio::test]
async fn start_failures_name_the_process() {
    let sup = Supervisor::new();
    let mut spec = web_server("broken", free_port(), None);
    spec.argv = vec!["sh".into(), "-c".into(), "exit 3".into()];
    let err = sup.start(spec).await.unwrap_err();
    assert!(
        matches!(&err, SupervisorError::ExitedEarly { name, status, .. } if name == "broken" && status == "exit code 3"),
        "{err}"
    );

    let mut spec = web_server("silent", free_port(), None);
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
    let mut spec = web_server("forking", port, None);
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
    // The new process forked a helper of its own: a graceful stop of the
    // process takes it too.
    let second = eventually("the new helper", Duration::from_secs(10), || {
        std::fs::read_to_string(&pid_file)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&pid| pid != helper)
    })
    .await;
    assert!(alive(second));
    sup.stop_all().await;
    eventually("the second helper to die", Duration::from_secs(5), || {
        (!alive(second)).then_some(())
    })
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_process_killed_from_outside_is_started_again_and_its_exit_recorded() {
    let sup = Supervisor::new();
    let port = free_port();
    let first = sup.start(web_server("web", port, None)).await.unwrap();
    sigkill(first.pid);

    let exit: UnplannedExit = eventually("the restart", Duration::from_secs(15), || {
        sup.unplanned_exits()
            .into_iter()
            .find(|e| e.new_pid.is_some())
    })
    .await;
    assert_eq!(exit.service, "web");
    assert_eq!(exit.pid, first.pid);
    assert_eq!(exit.signal.as_deref(), Some("SIGKILL"));
    assert_eq!(exit.exit, "killed by SIGKILL");
    assert_eq!(exit.code, None);
    assert!(exit.at_ms >= first.started_at_ms);
    // The first restart after a crash waits the initial 100 ms.
    assert_eq!(exit.restart_delay_ms, Some(100));
    assert!(exit.restarted_at_ms.is_some());
    let new_pid = exit.new_pid.unwrap();
    assert_ne!(new_pid, first.pid);
    assert!(!alive(first.pid));
    assert!(alive(new_pid));
    assert_eq!(sup.info("web").await.unwrap().pid, new_pid);
    assert!(exit
        .describe()
        .contains("exited unasked (killed by SIGKILL)"));
    assert_eq!(sup.unplanned_exits_since(exit.at_ms).len(), 1);
    assert!(sup.unplanned_exits_since(exit.at_ms + 1).is_empty());

    // The new process serves again, and a requested restart of it works.
    let health = HealthCheck::Http {
        url: format!("http://127.0.0.1:{port}/"),
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !engine::supervisor::probe(&health).await {
        assert!(
            Instant::now() < deadline,
            "the restarted server never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let proof = sup.restart("web", None).await.unwrap();
    assert_eq!(proof.old_pid, new_pid);
    assert!(proof.observed());

    sup.stop_all().await;
    assert!(!alive(proof.new_pid));
    // Only the kill from outside is unplanned.
    assert_eq!(sup.unplanned_exits().len(), 1);
}

#[tokio::test]
async fn requested_restarts_and_stops_are_not_unplanned() {
    let sup = Supervisor::new();
    let port = free_port();
    let first = sup.start(web_server("web", port, None)).await.unwrap();
    let graceful = sup.restart("web", None).await.unwrap();
    let killed = sup.restart("web", Some(StopSignal::Sigkill)).await.unwrap();
    assert!(graceful.observed() && killed.observed());
    assert_eq!(killed.old_pid, graceful.new_pid);
    assert!(killed.old_exit.contains("SIGKILL"), "{}", killed.old_exit);
    assert!(!alive(first.pid) && !alive(graceful.new_pid));

    let ended = sup.stop("web").await.unwrap();
    assert!(ended.contains("SIGTERM"), "{ended}");
    assert!(!alive(killed.new_pid));
    assert!(sup.names().await.is_empty());
    assert!(sup.info("web").await.is_none());
    assert_eq!(sup.unplanned_exits(), vec![]);
    let err = sup.stop("web").await.unwrap_err();
    assert!(matches!(err, SupervisorError::Unknown(_)), "{err}");
}

#[tokio::test]
async fn a_process_that_keeps_crashing_is_restarted_after_doubling_waits() {
    let dir = temp_dir("crashing");
    let sup = Supervisor::with_policy(RestartPolicy {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(160),
        reset_after: Duration::from_secs(3600),
    });
    // Every start appends a line to `starts` (the test's own counter).
    // Without `crash` it stays up; with it, it exits 3 at once.
    let body = "echo start >> starts; if [ -e crash ]; then exit 3; fi; exec sleep 300";
    let first = sup
        .start(script("crasher", body, &dir, "starts"))
        .await
        .unwrap();
    std::fs::write(dir.join("crash"), "").unwrap();
    sigkill(first.pid);

    let exits = eventually("seven unplanned exits", Duration::from_secs(30), || {
        let exits = sup.unplanned_exits();
        (exits.len() >= 7).then_some(exits)
    })
    .await;
    // Counted after the records: each start but the first follows a
    // recorded exit, so the starts are bounded by the exits, whatever the
    // machine's speed.
    let starts = std::fs::read_to_string(dir.join("starts"))
        .unwrap()
        .lines()
        .count();
    sup.stop_all().await;
    let all = sup.unplanned_exits();
    assert!(
        (exits.len()..=exits.len() + 2).contains(&starts) && starts <= all.len() + 1,
        "{starts} starts for {} exits then {}",
        exits.len(),
        all.len()
    );

    assert_eq!(exits[0].exit, "killed by SIGKILL");
    for e in &exits[1..] {
        assert_eq!((e.exit.as_str(), e.code), ("exit code 3", Some(3)), "{e:?}");
    }
    let waits: Vec<Option<u64>> = exits[..6].iter().map(|e| e.restart_delay_ms).collect();
    let expected = [20, 40, 80, 160, 160, 160].map(Some);
    assert_eq!(waits, expected);
    // Each restart has its own process.
    let mut pids: Vec<u32> = exits[..6].iter().map(|e| e.new_pid.unwrap()).collect();
    pids.push(first.pid);
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 7);
    assert!(sup.names().await.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_process_that_ran_long_enough_is_restarted_after_the_first_wait_again() {
    let dir = temp_dir("reset");
    // Every run counts as long enough: the wait never grows.
    let sup = Supervisor::with_policy(RestartPolicy {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(5),
        reset_after: Duration::ZERO,
    });
    let body = "echo start >> starts; if [ -e crash ]; then exit 1; fi; exec sleep 300";
    sup.start(script("flaky", body, &dir, "starts"))
        .await
        .unwrap();
    std::fs::write(dir.join("crash"), "").unwrap();
    sigkill(sup.info("flaky").await.unwrap().pid);
    let exits = eventually("four unplanned exits", Duration::from_secs(30), || {
        let exits = sup.unplanned_exits();
        (exits.len() >= 4).then_some(exits)
    })
    .await;
    sup.stop_all().await;
    let waits: Vec<Option<u64>> = exits[..3].iter().map(|e| e.restart_delay_ms).collect();
    assert_eq!(waits, [Some(20); 3]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn each_child_leads_its_own_process_group() {
    let sup = Supervisor::new();
    let info = sup
        .start(web_server("web", free_port(), None))
        .await
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(info.pid as i32);
    assert_eq!(nix::unistd::getpgid(Some(pid)).unwrap(), pid);
    assert_ne!(
        nix::unistd::getpgid(Some(pid)).unwrap(),
        nix::unistd::getpgrp()
    );
    sup.stop_all().await;
}

#[tokio::test]
async fn dropping_the_supervisor_kills_its_processes() {
    let sup = Supervisor::new();
    let info = sup
        .start(web_server("web", free_port(), None))
        .await
        .unwrap();
    drop(sup);
    eventually("the process to die", Duration::from_secs(10), || {
        (!alive(info.pid)).then_some(())
    })
    .await;
}

const HELPER_DIR: &str = "SUPERVISOR_TEST_HELPER_DIR";

/// Not a test of its own: the Shakedown stand-in of
/// `nothing_outlives_a_sigkilled_supervisor`, run in a process of its own.
/// It supervises a `sleep`, writes its pid, and waits to be killed.
#[tokio::test]
#[ignore = "a helper process of nothing_outlives_a_sigkilled_supervisor"]
async fn helper_supervises_until_killed() {
    let Some(dir) = std::env::var_os(HELPER_DIR) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let sup = Supervisor::new();
    let mut spec = script("sleeper", "exec sleep 300", &dir, ".");
    spec.health = HealthCheck::Command {
        argv: vec!["true".into()],
    };
    let info = sup.start(spec).await.unwrap();
    std::fs::write(dir.join("pid.tmp"), info.pid.to_string()).unwrap();
    std::fs::rename(dir.join("pid.tmp"), dir.join("pid")).unwrap();
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn nothing_outlives_a_sigkilled_supervisor() {
    let dir = temp_dir("pdeath");
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "helper_supervises_until_killed",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(HELPER_DIR, &dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = dir.join("pid");
    let sleeper: u32 = eventually("the helper's child", Duration::from_secs(30), || {
        if let Ok(Some(status)) = helper.try_wait() {
            panic!("the helper ended early: {status}");
        }
        std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok()
    })
    .await;
    assert!(alive(sleeper));
    helper.kill().unwrap();
    helper.wait().unwrap();
    // The kernel sends SIGKILL to the orphan (parent-death signal).
    eventually("the orphan to die", Duration::from_secs(10), || {
        (!alive(sleeper)).then_some(())
    })
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}
