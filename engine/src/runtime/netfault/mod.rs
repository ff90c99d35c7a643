//! Network faults on a link between a service and its dependency: a TCP
//! proxy that speaks Toxiproxy's HTTP API and toxic semantics, so a client
//! written for Toxiproxy drives it unchanged. The proxies and their toxics
//! live in a [`ProxyRegistry`] ([`registry`]); each listens and accepts on
//! its own ([`proxy`]); each connection pumps bytes both ways through the
//! toxics of its direction ([`link`]). What a proxy and a toxic are, as the
//! API's JSON spells them, is in [`spec`]; the seeded random source behind
//! `toxicity` and `jitter` is [`rng`]. A client of such an API (this one
//! or a real Toxiproxy) is [`client`]; the faults a run put in place are
//! recorded in [`ledger`] so a crashed run's are removed on the next start.
//!
//! Addresses are loopback only unless the registry is told otherwise: a
//! listen address or an upstream elsewhere is refused by name.

pub mod client;
pub mod ledger;
pub mod link;
pub mod proxy;
pub mod registry;
pub mod spec;

pub use registry::{NetFaultOptions, ProxyRegistry, ProxyStatsView, ProxyView, ToxicView};
pub use spec::{ProxySpec, Stream, ToxicKind, ToxicSpec};

/// What the proxy's API refuses, and why.
#[derive(Debug, thiserror::Error)]
pub enum NetFaultError {
    /// A body or a config entry is wrong; `field` names where.
    #[error("field `{field}`: {message}")]
    Invalid { field: String, message: String },
    /// No proxy of that name.
    #[error("proxy `{0}` not found")]
    ProxyNotFound(String),
    /// The proxy has no toxic of that name.
    #[error("toxic `{toxic}` not found on proxy `{proxy}`")]
    ToxicNotFound { proxy: String, toxic: String },
    /// A proxy of that name exists already.
    #[error("proxy `{0}` already exists")]
    ProxyExists(String),
    /// The proxy has a toxic of that name already.
    #[error("toxic `{toxic}` already exists on proxy `{proxy}`")]
    ToxicExists { proxy: String, toxic: String },
    /// The listen address cannot be bound (in use, say).
    #[error("proxy `{proxy}` cannot listen on {listen}: {source}")]
    Listen {
        proxy: String,
        listen: String,
        source: std::io::Error,
    },
}

/// How an HTTP front end should answer a [`NetFaultError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 400: the request itself is wrong.
    BadRequest,
    /// 404: it names something that does not exist.
    NotFound,
    /// 409: it clashes with what exists (a name, a bound address).
    Conflict,
}

impl NetFaultError {
    /// A bad field, named.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The kind of refusal, for the HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid { .. } => ErrorClass::BadRequest,
            Self::ProxyNotFound(_) | Self::ToxicNotFound { .. } => ErrorClass::NotFound,
            Self::ProxyExists(_) | Self::ToxicExists { .. } | Self::Listen { .. } => {
                ErrorClass::Conflict
            }
        }
    }

    /// The same error with its field placed under `prefix` (`[2].upstream`
    /// for the third entry of a list).
    pub fn under(self, prefix: &str) -> Self {
        match self {
            Self::Invalid { field, message } => Self::Invalid {
                field: format!("{prefix}{field}"),
                message,
            },
            other => other,
        }
    }
}
