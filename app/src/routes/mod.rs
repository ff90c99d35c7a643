//! One page a file; every route is declared in `App`.

pub mod audit;
pub mod lazy;
pub mod login;
pub mod new_run;
pub mod not_found;
pub mod report;
pub mod run;
pub mod runs;
pub mod share;
pub mod users;
