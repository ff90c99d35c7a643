//! The login form's target and logout: `POST /auth/login` checks the
//! password (rate-limited per account and per address, with one answer for
//! a wrong password, an unknown user and a name that cannot be one), starts
//! a session in an HttpOnly, SameSite=Strict cookie and goes back where the
//! user was headed, if that is a page of this site; `POST /auth/logout`
//! ends it.
//!
//! What an anonymous client can make the server do is bounded: the form is
//! at most [`MAX_FORM_BYTES`] (the router refuses a larger body without
//! reading it), names and passwords have a length limit, the attempt is
//! counted before argon2 runs, at most [`super::PASSWORD_CHECKS_AT_ONCE`]
//! checks run at once, a lockout is audited once per window, and what goes
//! into the audit log is clipped.

use super::rate_limit::{Key, Locked};
use super::{clip, token, valid_user_name, Auth, SESSION_COOKIE};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use engine::access::User;
use engine::run::now_ms;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The largest login form body accepted, in bytes.
pub const MAX_FORM_BYTES: usize = 8 * 1024;

/// The longest password checked, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// What the login form sends.
#[derive(Deserialize)]
pub struct LoginForm {
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub next: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("name", &clip(&self.name))
            .field("password", &"<redacted>")
            .field("next", &clip(&self.next))
            .finish()
    }
}

/// `text` with its `%XX` escapes decoded (bytes that do not form UTF-8
/// become U+FFFD).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                // Two hex digits: at most 255.
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where to go after logging in: `next` when it is a page of this site
/// (`site` is the site's own URL), `/` otherwise. `next` must be a path —
/// one `/`, then no control character, whitespace or backslash, also once
/// `%`-decoded (browsers drop tabs and newlines and read `\` as `/`) — and
/// is resolved against the site with the URL parser; it must stay on the
/// site's origin, and what is kept is the resolved path and query.
pub fn safe_next(next: &str, site: &url::Url) -> String {
    const HOME: &str = "/";
    let decoded = percent_decoded(next);
    let refused = !next.starts_with('/')
        || next.starts_with("//")
        || next
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        || decoded.starts_with("//")
        || decoded.chars().any(|c| c.is_control() || c == '\\');
    if refused {
        return HOME.to_owned();
    }
    let Ok(resolved) = site.join(next) else {
        return HOME.to_owned();
    };
    if resolved.origin() != site.origin() {
        return HOME.to_owned();
    }
    let mut kept = resolved.path().to_owned();
    if let Some(query) = resolved.query() {
        kept.push('?');
        kept.push_str(query);
    }
    // The resolved path may itself have become `//…` (`/..//host`).
    if kept.starts_with("//") || kept.contains('\\') {
        return HOME.to_owned();
    }
    kept
}

/// The site's own URL: `--public-url`, else the one the request's Host
/// names (only what `next` is resolved against, never a redirect target).
fn site_url(auth: &Auth, headers: &HeaderMap) -> url::Url {
    if let Some(public) = &auth.args.public_url {
        return public.clone();
    }
    let from_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| url::Url::parse(&format!("http://{h}/")).ok())
        .filter(|u| u.path() == "/" && u.query().is_none() && u.username().is_empty());
    from_host
        .unwrap_or_else(|| url::Url::parse("http://localhost/").expect("a constant URL parses"))
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

/// Whether the proxy in front says the client used HTTPS.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Back to the form, saying how long the lockout lasts; the first refusal
/// of a lockout is audited.
async fn locked_out(auth: &Auth, locked: Locked, next: &str) -> Response {
    let minutes = locked.wait.as_secs().div_ceil(60).max(1);
    if locked.first {
        let (target, what) = match &locked.key {
            Key::Account(account) => (clip(account), "account"),
            Key::Address(ip) => (ip.to_string(), "address"),
        };
        let detail = format!("{what} locked: too many failed attempts (for up to {minutes} min)");
        let _ = auth
            .store
            .audit("anonymous", "login_locked", &target, &detail, now_ms())
            .await;
    }
    tracing::warn!("login refused for a locked account or address");
    back_to_login(&format!("locked:{minutes}"), next)
}

/// Audits a failed login under the name given, then goes back to the form
/// with the one answer every failure gets.
async fn refused(auth: &Auth, name: &str, detail: &str, next: &str) -> Response {
    let _ = auth
        .store
        .audit("anonymous", "login_failed", &clip(name), detail, now_ms())
        .await;
    back_to_login("invalid", next)
}

/// Starts a session for `user` and goes to `next` with its cookie.
async fn start_session(auth: &Auth, user: &User, https: bool, next: &str) -> Response {
    let session = token::generate();
    let now = now_ms();
    let expires = now + i64::from(auth.args.session_hours) * 3_600_000;
    if let Err(e) = auth
        .store
        .add_session(&token::digest(&session), &user.name, now, expires)
        .await
    {
        tracing::warn!("login: cannot store the session: {e}");
        return back_to_login("unavailable", next);
    }
    let _ = auth
        .store
        .audit(&user.name, "login", &user.name, user.role.as_str(), now)
        .await;
    (
        [(header::SET_COOKIE, auth.session_cookie(&session, https))],
        Redirect::to(next),
    )
        .into_response()
}

/// `POST /auth/login`.
pub async fn login(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    let address = client_address(req.extensions());
    let https = forwarded_https(req.headers());
    let site = site_url(&auth, req.headers());
    // A body over the router's limit fails here, unread.
    let Form(form) = match Form::<LoginForm>::from_request(req, &()).await {
        Ok(form) => form,
        Err(_) => return back_to_login("form", "/"),
    };
    let next = safe_next(&form.next, &site);
    let name = form.name.trim();
    let plausible = valid_user_name(name) && form.password.len() <= MAX_PASSWORD_BYTES;
    // Counted before anything is checked: parallel attempts cannot get
    // past the limit. A name that cannot be an account counts against the
    // address only.
    let reservation = match auth.limiter.reserve(plausible.then_some(name), address) {
        Ok(reservation) => reservation,
        Err(locked) => return locked_out(&auth, locked, &next).await,
    };
    if !plausible {
        // The same answer as a wrong password, without argon2.
        let detail = "not a valid user name or password length";
        let answer = refused(&auth, name, detail, &next).await;
        drop(reservation);
        return answer;
    }
    let credentials = match auth.store.credentials(name).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("login: {e}");
            auth.limiter.release(reservation);
            return back_to_login("unavailable", &next);
        }
    };
    let stored = credentials
        .as_ref()
        .filter(|c| !c.user.disabled)
        .map(|c| c.password_hash.clone());
    let ok = auth.verifier.verify(form.password, stored).await;
    let Some(user) = credentials.filter(|_| ok).map(|c| c.user) else {
        // The reservation stays: it was a failed attempt.
        drop(reservation);
        return refused(&auth, name, "", &next).await;
    };
    auth.limiter.succeeded(reservation);
    start_session(&auth, &user, https, &next).await
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
    use super::{safe_next, LoginForm};

    fn site() -> url::Url {
        url::Url::parse("https://shakedown.example.com/").unwrap()
    }

    #[test]
    fn paths_of_this_site_are_kept() {
        let s = site();
        assert_eq!(safe_next("/runs/1", &s), "/runs/1");
        assert_eq!(safe_next("/", &s), "/");
        assert_eq!(
            safe_next("/runs?status=running", &s),
            "/runs?status=running"
        );
        assert_eq!(safe_next("/runs/a%20b", &s), "/runs/a%20b");
        assert_eq!(safe_next("/runs/./x/../y", &s), "/runs/y");
        // Behind a proxy with a path of its own, still this origin.
        let prefixed = url::Url::parse("https://example.com/shakedown/").unwrap();
        assert_eq!(safe_next("/runs/1", &prefixed), "/runs/1");
    }

    #[test]
    fn anything_else_goes_home() {
        let s = site();
        for next in [
            "",
            "runs",
            "//evil.example",
            "//evil.example/runs",
            "///evil.example",
            "/\\evil.example",
            "/\\\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%0D%0A/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/%5Cevil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/..//evil.example",
            "/./..//evil.example",
            "https://evil.example",
            "https://shakedown.example.com/runs",
            "http:evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
            " /runs",
            "/runs\u{0}",
        ] {
            assert_eq!(safe_next(next, &s), "/", "{next:?}");
        }
    }

    #[test]
    fn the_form_does_not_print_its_password() {
        let form = LoginForm {
            name: "ann".into(),
            password: "correct horse battery staple".into(),
            next: "/runs".into(),
        };
        let shown = format!("{form:?}");
        assert!(!shown.contains("horse"), "{shown}");
        assert!(
            shown.contains("ann") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
