//! One module per test kind: each takes its spec and the test's context,
//! drives the target and returns the test's outcome.

pub mod assert;
pub mod chaos;
pub mod health;
pub mod http_load;
pub mod job_workload;
pub mod storage_probe;
pub mod stream;
