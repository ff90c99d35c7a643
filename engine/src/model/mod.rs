//! Plain data shared by the server and the browser (serde and JSON Schema,
//! no I/O): what a plan says, what a run measured and concluded, and how
//! runs are watched, launched and signed.

pub mod access;
pub mod criteria;
pub mod data_file;
pub mod diff;
pub mod events;
pub mod json_checks;
pub mod launch;
pub mod metrics;
pub mod plan;
pub mod results;
pub mod rng;
pub mod run;
pub mod run_event;
pub mod segments;
mod tag_first;
pub mod template;
pub mod time;
pub mod view;
