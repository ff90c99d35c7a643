//! Shakedown's engine: a plain library with no web framework.
//!
//! The data model (`run`) builds everywhere, including the browser bundle;
//! everything that drives load, restarts services, stores results or talks
//! to the network is behind the `runtime` feature.

pub mod run;

#[cfg(feature = "runtime")]
pub mod store;
