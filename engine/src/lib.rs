//! Shakedown's engine: a plain library with no web framework.
//!
//! Two halves, each re-exported at the crate root (`engine::plan`,
//! `engine::kinds::chaos`):
//! - [`model`]: plain data, also built for the browser bundle: plans,
//!   criteria, metrics, results, progress events, runs and sign-offs;
//! - [`runtime`] (feature `runtime`): running a plan: the runner, one module
//!   per test kind, clients that talk to the target, the load generator,
//!   faults and the supervisor, and the traits the server implements.

pub mod model;
pub use model::*;

#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "runtime")]
pub use runtime::*;
