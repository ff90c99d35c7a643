//! One page a file; every route is declared in `App`.

pub mod new_run;
pub mod not_found;
pub mod report;
pub mod run;
pub mod runs;
