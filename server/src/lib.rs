//! The `shakedown` binary's library: everything but argument parsing.
//!
//! - [`cli`]: one module per subcommand, plus the arguments they share;
//! - [`web`]: the HTTP surface (app state, router, probes, JSON API);
//! - [`runs`]: runs launched from the web app: the orchestrator, launch
//!   checks (overrides, caps, outline), the event sink and writer, and
//!   shutdown;
//! - [`db`], [`auth`], [`evidence`], [`report`], [`approvals`]: storage,
//!   accounts, evidence packs, reports and sign-off;
//! - [`net`]: whether a `Host` names loopback (local mode, proxy API);
//! - [`proxy_api`]: the Toxiproxy-compatible API of `shakedown proxy`.

#![recursion_limit = "256"]

pub mod approval_policy;
pub mod approvals;
pub mod auth;
pub mod cli;
pub mod db;
pub mod evidence;
pub mod net;
pub mod proxy_api;
pub mod report;
pub mod runs;
pub mod web;
