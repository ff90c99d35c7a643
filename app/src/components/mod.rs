//! Pieces of UI that several pages share.

pub mod account;
pub mod baseline_pin;
pub mod chart;
pub mod error_view;
pub mod report_charts;
pub mod server_html;
pub mod share_links;
pub mod signoff;
pub mod table;
