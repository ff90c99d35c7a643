//! Talking to the target: its job protocol, Server-Sent Events, its
//! bucket, and reading answers under the size cap.

pub mod answer;
pub mod bucket;
pub mod jobs;
pub mod sse;
