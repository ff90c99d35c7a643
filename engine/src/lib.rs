//! Shakedown's engine: a plain library with no web framework.
//!
//! The data model builds everywhere, including the browser bundle: plans
//! (`plan`), criteria, metrics, results, progress events and runs. What
//! drives load, follows jobs and streams, and runs a plan is behind the
//! `runtime` feature.

pub mod access;
pub mod chaos_model;
pub mod checks;
pub mod criteria;
pub mod events;
pub mod launch;
pub mod metrics;
pub mod plan;
pub mod results;
pub mod run;
pub mod template;

#[cfg(feature = "runtime")]
pub mod access_store;
#[cfg(feature = "runtime")]
pub mod answer;
#[cfg(feature = "runtime")]
pub mod assert;
#[cfg(feature = "runtime")]
pub mod bucket;
#[cfg(feature = "runtime")]
pub mod chaos;
#[cfg(feature = "runtime")]
pub mod chaos_runs;
#[cfg(feature = "runtime")]
pub mod chaos_streams;
#[cfg(feature = "runtime")]
pub mod context;
#[cfg(feature = "runtime")]
pub mod faults;
#[cfg(feature = "runtime")]
pub mod health;
#[cfg(feature = "runtime")]
pub mod job_workload;
#[cfg(feature = "runtime")]
pub mod jobs;
#[cfg(feature = "runtime")]
pub mod load;
#[cfg(feature = "runtime")]
pub mod programs;
#[cfg(feature = "runtime")]
pub mod runner;
#[cfg(feature = "runtime")]
pub mod sse;
#[cfg(feature = "runtime")]
pub mod storage_probe;
#[cfg(feature = "runtime")]
pub mod store;
#[cfg(feature = "runtime")]
pub mod stream;
#[cfg(feature = "runtime")]
pub mod supervisor;
#[cfg(feature = "runtime")]
pub mod target;
