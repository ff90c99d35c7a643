//! Security headers on every answer of the router. Pages (HTML) get a
//! Content-Security-Policy that lets only this site's own scripts run —
//! the Leptos bundle from `/pkg`, its WebAssembly (`'wasm-unsafe-eval'`)
//! and the inline hydration and streaming scripts Leptos writes, which
//! carry this response's nonce — and forbids framing; every other answer
//! gets `default-src 'none'`. An answer that sets its own policy (evidence
//! files: sandboxed, no script) keeps it. All get `Referrer-Policy:
//! no-referrer` (share links carry their token in the URL) and
//! `X-Content-Type-Options: nosniff`.
//!
//! The nonce is made here, per request, and handed to the Leptos renderer
//! through the request's extensions ([`CspNonce`]; see `web::router`), so
//! the scripts and the header agree.

use axum::extract::Request;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;

/// This request's CSP nonce (128 random bits, base64url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspNonce(pub String);

impl CspNonce {
    fn generate() -> Self {
        use argon2::password_hash::rand_core::{OsRng, RngCore};
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        CspNonce(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// The policy of a page answered with `nonce`.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; \
         script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; style-src-attr 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The policy of every answer that is not a page (JSON, streams, assets).
pub const OTHER_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The middleware: wraps the whole router.
pub async fn add(mut req: Request, next: Next) -> Response {
    let nonce = CspNonce::generate();
    req.extensions_mut().insert(nonce.clone());
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        let html = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.trim_start().starts_with("text/html"));
        let policy = if html {
            HeaderValue::from_str(&page_policy(&nonce.0))
        } else {
            Ok(HeaderValue::from_static(OTHER_POLICY))
        };
        // The nonce is base64url: the value is always valid; should it
        // not be, the strictest policy stands in.
        headers.insert(
            CONTENT_SECURITY_POLICY,
            policy.unwrap_or_else(|_| HeaderValue::from_static(OTHER_POLICY)),
        );
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers
        .entry(REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    headers
        .entry(X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    res
}
