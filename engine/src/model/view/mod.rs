//! What pages read of the engine's data, and nothing more: serde structs
//! over the same JSON as the full model types, with only the fields a page
//! shows. Serde skips every other field, so the browser bundle carries no
//! decoder for them (plan parameters, histograms, tool and environment
//! details, sign-off copies, …). Each view is tested against the full type
//! it reads: the same JSON gives the same figures.

pub mod finished;
pub mod live_event;
