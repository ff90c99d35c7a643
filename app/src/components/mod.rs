//! Pieces of UI that several pages share.

pub mod error_view;
