//! Runs launched from the web app or the API: the orchestrator that queues,
//! drives and records them ([`orchestrator`]), the checks a launch goes
//! through ([`launch`]: overrides, caps, plan outline), the server's caps
//! ([`caps`]), the engine's events on their way to the database and the
//! browser ([`sink`], [`event_writer`]), the gauges `/metrics` reads
//! ([`gauges`]), the earlier runs a run is judged
//! against ([`references`]), and graceful shutdown ([`lifecycle`]), run ownership across
//! replicas ([`ownership`]), and following a run another replica runs
//! ([`tail`]).

pub mod agents;
pub mod caps;
pub mod event_writer;
pub mod gauges;
pub mod launch;
pub mod lifecycle;
pub mod orchestrator;
pub mod ownership;
pub mod references;
pub mod sink;
pub mod tail;
