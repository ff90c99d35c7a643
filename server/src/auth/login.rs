//! The login form's target and logout: `POST /auth/login` checks the
//! password (rate-limited per account and per address, with one answer for
//! a wrong password and an unknown user), starts a session in an HttpOnly,
//! SameSite=Strict cookie and goes back where the user was headed;
//! `POST /auth/logout` ends it.

use super::{password, token, Auth, SESSION_COOKIE};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use engine::run::now_ms;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// What the login form sends.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub next: String,
}

/// Only paths on this site, never `//elsewhere` or a full URL.
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/"
    }
}

fn back_to_login(error: &str, next: &str) -> Response {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("error", error)
        .append_pair("next", next)
        .finish();
    Redirect::to(&format!("/login?{query}")).into_response()
}

/// The client's address, when the server was started with connection info.
pub fn client_address(req_extensions: &axum::http::Extensions) -> Option<IpAddr> {
    req_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// `POST /auth/login`.
pub async fn login(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    let address = client_address(req.extensions());
    let https = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let Form(form) = match Form::<LoginForm>::from_request(req, &()).await {
        Ok(form) => form,
        Err(_) => return back_to_login("form", "/"),
    };
    let next = safe_next(&form.next).to_owned();
    let name = form.name.trim();
    if let Err(wait) = auth.limiter.check(name, address) {
        let _ = auth
            .store
            .audit(
                "anonymous",
                "login_locked",
                name,
                "too many failed attempts",
                now_ms(),
            )
            .await;
        tracing::warn!("login refused for a locked account or address");
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return back_to_login(&format!("locked:{minutes}"), &next);
    }
    let credentials = match auth.store.credentials(name).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("login: {e}");
            return back_to_login("unavailable", &next);
        }
    };
    let stored = credentials
        .as_ref()
        .filter(|c| !c.user.disabled)
        .map(|c| c.password_hash.clone());
    let secret = form.password;
    let ok = tokio::task::spawn_blocking(move || password::verify(&secret, stored.as_deref()))
        .await
        .unwrap_or(false);
    let Some(user) = credentials.filter(|_| ok).map(|c| c.user) else {
        auth.limiter.failed(name, address);
        let _ = auth
            .store
            .audit("anonymous", "login_failed", name, "", now_ms())
            .await;
        return back_to_login("invalid", &next);
    };
    auth.limiter.succeeded(name);
    let session = token::generate();
    let now = now_ms();
    let expires = now + i64::from(auth.args.session_hours) * 3_600_000;
    if let Err(e) = auth
        .store
        .add_session(&token::digest(&session), &user.name, now, expires)
        .await
    {
        tracing::warn!("login: cannot store the session: {e}");
        return back_to_login("unavailable", &next);
    }
    let _ = auth
        .store
        .audit(&user.name, "login", &user.name, user.role.as_str(), now)
        .await;
    (
        [(header::SET_COOKIE, auth.session_cookie(&session, https))],
        Redirect::to(&next),
    )
        .into_response()
}

/// `POST /auth/logout`.
pub async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(session) = super::cookie(&headers, SESSION_COOKIE) {
        let digest = token::digest(session);
        let who = auth
            .store
            .session_user(&digest, now_ms())
            .await
            .ok()
            .flatten();
        let _ = auth.store.remove_session(&digest).await;
        if let Some(user) = who {
            let _ = auth
                .store
                .audit(&user.name, "logout", &user.name, "", now_ms())
                .await;
        }
    }
    (
        [(header::SET_COOKIE, auth.cleared_cookie())],
        Redirect::to("/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/runs/1"), "/runs/1");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil"), "/");
    }
}
