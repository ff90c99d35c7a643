//! Helpers the integration tests share: the workspace root, the demo
//! target's binary built next to `shakedown`, free loopback ports, and
//! feeding a child's standard input without racing its exit.

#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds `shakedown-sut` once, so it sits next to `shakedown`.
pub fn build_sut() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "sut", "--bin", "shakedown-sut"])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building shakedown-sut failed");
    });
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `input` to the child's standard input and closes it. A child may
/// exit before reading (a refused argument, say): the pipe is then broken,
/// which is not an error here; callers judge the child by its exit status
/// and output, never by whether the write got through.
pub fn feed_stdin(child: &mut std::process::Child, input: &[u8]) {
    use std::io::Write;
    let Some(mut stdin) = child.stdin.take() else {
        return;
    };
    match stdin.write_all(input) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("cannot write to the child's standard input: {e}"),
    }
    // Dropping `stdin` closes it: the child reads end of file.
}

pub mod network;
pub mod pg;
pub mod plans;
pub mod server;
