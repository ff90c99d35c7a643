//! Load generation for `http_load` (`kinds::http_load`): closed and open
//! models.
//!
//! Shaped like oha: workers only produce (send, time, classify) and hand
//! compact samples in batches to one recorder that owns the histograms; a
//! shared atomic counter says how much work is left and a cancellation
//! token stops everyone. A spec with placeholders renders each request
//! ([`render`]); one without is serialised once.

pub mod deadline;
pub mod h1;
pub mod recorder;
pub mod render;
pub mod snapshot;
pub mod transport;
