//! The JSON and SSE API beside the pages: a run's summary ([`runs`]), its
//! events ([`events`]), its sign-offs and the audit export ([`signoffs`]),
//! its evidence files ([`evidence`]), and the load agents' endpoints
//! ([`agents`]).

pub mod agents;
pub mod baselines;
pub mod events;
pub mod evidence;
pub mod runs;
pub mod signoffs;
