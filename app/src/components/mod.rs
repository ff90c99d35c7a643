//! Pieces of UI that several pages share.

pub mod account;
pub mod error_view;
pub mod share_links;
pub mod signoff;
