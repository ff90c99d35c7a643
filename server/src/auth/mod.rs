//! Who is asking, and may they: every request passes [`gate`], which
//! refuses cross-site state changes, establishes the [`Principal`] from a
//! session cookie, an API token (`Authorization: Bearer`) or single-user
//! local mode, and sends anonymous visitors to the login page. Handlers and
//! server functions then check the role they need.

pub mod login;
pub mod password;
pub mod rate_limit;
pub mod token;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use engine::access::{Principal, Role};
use engine::access_store::AccessStore;
use engine::run::now_ms;
use engine::store::StoreError;
use rate_limit::{Limits, LoginLimiter};
use std::sync::Arc;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "shakedown_session";

/// The name everyone acts under in local mode.
pub const LOCAL_USER: &str = "local";

/// How the server authenticates (part of `serve` and `demo`'s flags).
#[derive(clap::Args, Debug, Clone)]
pub struct AuthArgs {
    /// Single-user local mode: no login, everyone who can reach the server
    /// acts as the admin `local` (shown in the header). For a laptop, never
    /// for a shared server.
    #[arg(long, env = "SHAKEDOWN_LOCAL_MODE")]
    pub local_mode: bool,
    /// Mark the session cookie Secure (set it when served over HTTPS; implied
    /// by an https `--public-url`).
    #[arg(long, env = "SHAKEDOWN_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// The address users reach the server at (`https://shakedown.example.com`):
    /// state-changing requests must come from this origin, and share links
    /// are built on it. Default: the request's own Host.
    #[arg(long, env = "SHAKEDOWN_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// How long a login lasts, in hours.
    #[arg(long, env = "SHAKEDOWN_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u32,
}

impl Default for AuthArgs {
    fn default() -> Self {
        AuthArgs {
            local_mode: false,
            secure_cookies: false,
            public_url: None,
            session_hours: 12,
        }
    }
}

/// The longest user name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// How many password checks (argon2, about 19 MiB each) run at once.
pub const PASSWORD_CHECKS_AT_ONCE: usize = 2;

/// Whether `name` can be a user name: 1 to [`MAX_NAME_BYTES`] letters,
/// digits, `.`, `_`, `-` or `@`.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Text from a request, made fit for the audit log: at most
/// [`MAX_NAME_BYTES`] bytes (cut at a character, marked with `…`), control
/// characters replaced.
pub fn clip(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = if c.is_control() { '\u{fffd}' } else { c };
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

/// The authentication state shared by every request.
pub struct Auth {
    pub store: Arc<dyn AccessStore>,
    pub args: AuthArgs,
    pub limiter: LoginLimiter,
    /// Password checks, bounded and counted.
    pub verifier: password::Verifier,
}

impl Auth {
    pub fn new(store: Arc<dyn AccessStore>, args: AuthArgs) -> Self {
        Auth {
            store,
            args,
            limiter: LoginLimiter::new(Limits::default()),
            verifier: password::Verifier::new(PASSWORD_CHECKS_AT_ONCE),
        }
    }

    /// Whether cookies get the Secure attribute.
    fn secure(&self) -> bool {
        self.args.secure_cookies
            || self
                .args
                .public_url
                .as_ref()
                .is_some_and(|u| u.scheme() == "https")
    }

    /// The session cookie carrying `token`; `https` when the request came
    /// over HTTPS (through a proxy that says so with `X-Forwarded-Proto`).
    pub fn session_cookie(&self, token: &str, https: bool) -> String {
        let max_age = u64::from(self.args.session_hours) * 3600;
        let secure = if https || self.secure() {
            "; Secure"
        } else {
            ""
        };
        format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
    }

    /// A cookie that removes the session cookie.
    pub fn cleared_cookie(&self) -> String {
        let secure = if self.secure() { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
    }

    /// The principal behind the request's credentials. A bearer token that
    /// is not valid is an error, never a fallback to the cookie.
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Identity, StoreError> {
        if let Some(token) = bearer(headers) {
            let user = self
                .store
                .api_token_user(&token::digest(token), now_ms())
                .await?;
            return Ok(match user {
                Some(u) => Identity::Token(principal(u.name, u.role)),
                None => Identity::BadToken,
            });
        }
        if let Some(token) = cookie(headers, SESSION_COOKIE) {
            if let Some(u) = self
                .store
                .session_user(&token::digest(token), now_ms())
                .await?
            {
                return Ok(Identity::Session(principal(u.name, u.role)));
            }
        }
        if self.args.local_mode {
            return Ok(Identity::Local(Principal {
                name: LOCAL_USER.to_owned(),
                role: Role::Admin,
                local: true,
            }));
        }
        Ok(Identity::Anonymous)
    }

    /// Whether a state-changing request comes from this site: its Origin
    /// (or, lacking one, `Sec-Fetch-Site`) must match the public URL or the
    /// request's Host.
    fn same_origin(&self, headers: &HeaderMap) -> bool {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .filter(|o| *o != "null");
        let Some(origin) = origin else {
            return headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|s| s == "same-origin");
        };
        let Ok(origin) = url::Url::parse(origin) else {
            return false;
        };
        match &self.args.public_url {
            Some(public) => origin.origin() == public.origin(),
            None => {
                let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
                let origin_host = match (origin.host_str(), origin.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_owned(),
                    _ => return false,
                };
                host.is_some_and(|h| h.eq_ignore_ascii_case(&origin_host))
            }
        }
    }
}

fn principal(name: String, role: Role) -> Principal {
    Principal {
        name,
        role,
        local: false,
    }
}

/// How a request identified itself.
#[derive(Debug, Clone)]
pub enum Identity {
    Session(Principal),
    Token(Principal),
    Local(Principal),
    BadToken,
    Anonymous,
}

/// The bearer token of an `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A cookie's value.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Paths anyone may open: the login page and its form, probes, the site's
/// assets, and share links (which carry their own token).
fn public(path: &str) -> bool {
    matches!(
        path,
        "/login"
            | "/auth/login"
            | "/healthz"
            | "/readyz"
            | "/favicon.svg"
            | "/api/whoami"
            | "/api/shared_report"
    ) || path.starts_with("/pkg/")
        || path.starts_with("/share/")
        || path.starts_with("/api/share/")
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// The middleware in front of every route.
pub async fn gate(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // The site's own assets are the same for everyone: no database lookup.
    if safe && (req.uri().path().starts_with("/pkg/") || req.uri().path() == "/favicon.svg") {
        return next.run(req).await;
    }
    if !safe && bearer(headers).is_none() && !auth.same_origin(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "cross-site request refused: state-changing requests must come from this site",
        );
    }
    let identity = match auth.identify(headers).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!("cannot check credentials: {e}");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot check credentials: the database is unavailable",
            );
        }
    };
    let path = req.uri().path().to_owned();
    match identity {
        Identity::Session(p) | Identity::Token(p) | Identity::Local(p) => {
            req.extensions_mut().insert(p);
        }
        Identity::BadToken => {
            return refuse(StatusCode::UNAUTHORIZED, "API token not valid or expired");
        }
        Identity::Anonymous if public(&path) => {}
        Identity::Anonymous => {
            let wants_page = *req.method() == Method::GET
                && !path.starts_with("/api/")
                && req
                    .headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_none_or(|a| a.contains("text/html") || a.contains("*/*"));
            if wants_page {
                let next_path = req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let target: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next_path)
                    .finish();
                return Redirect::to(&format!("/login?{target}")).into_response();
            }
            return refuse(StatusCode::UNAUTHORIZED, "log in first");
        }
    }
    next.run(req).await
}

/// A request refused for who made it.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refuse(self.status, &self.message)
    }
}

/// The request's principal if it has at least `role`; otherwise the
/// refusal to send (401 without one, 403 with too weak a role).
pub fn require(parts: &axum::http::Extensions, role: Role) -> Result<Principal, Refusal> {
    match parts.get::<Principal>() {
        Some(p) if p.can(role) => Ok(p.clone()),
        Some(p) => Err(Refusal {
            status: StatusCode::FORBIDDEN,
            message: format!("{} may not do this: it needs the {role} role", p.role),
        }),
        None => Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            message: "log in first".to_owned(),
        }),
    }
}
