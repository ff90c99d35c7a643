//! Helpers the integration tests share: the workspace root, the demo
//! target's binary built next to `shakedown`, and free loopback ports.

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
pub mod server;
