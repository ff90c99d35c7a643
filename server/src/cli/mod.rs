//! The subcommands, one module each (`shakedown serve` is [`serve`]), and
//! what several of them share: the database arguments ([`args`]) and
//! reading a stored evidence pack ([`packs`]).

pub mod agent;
pub mod args;
pub mod baseline;
pub mod check;
pub mod demo;
pub mod diff;
pub mod launch;
pub mod packs;
pub mod proxy;
pub mod report;
pub mod run;
pub mod runs;
pub mod schema;
pub mod serve;
pub mod signoff;
pub mod user;
pub mod verify;
