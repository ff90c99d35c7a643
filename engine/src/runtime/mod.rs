//! Running a plan: the runner and its context ([`runner`]), one module per
//! test kind ([`kinds`]), clients that talk to the target ([`clients`]),
//! the load generator ([`load`]), restarts and their proof ([`faults`]),
//! the Toxiproxy-compatible proxy for network faults ([`netfault`]),
//! the programs Shakedown supervises ([`supervisor`]), and the storage
//! traits the server implements ([`store`], [`access_store`], [`agents`]).

pub mod access_store;
pub mod agents;
pub mod clients;
pub mod faults;
pub mod kinds;
pub mod load;
pub mod netfault;
pub mod runner;
pub mod store;
pub mod supervisor;
