//! A client of a Toxiproxy-compatible HTTP API (Toxiproxy itself, or
//! `shakedown proxy`): read a proxy and its toxics, add and remove a toxic,
//! disable and enable a proxy, reset. The counters only the built-in proxy
//! keeps (`stats`) are read when present and absent otherwise.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call to the proxy's API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API URL cannot be used.
    #[error("network-fault proxy API {api:?}: {reason}")]
    BadUrl { api: String, reason: String },
    /// No answer (refused, timed out).
    #[error("the network-fault proxy API at {api} is unreachable: {reason}")]
    Unreachable { api: String, reason: String },
    /// The proxy does not exist there.
    #[error("the network-fault proxy API at {api} has no proxy named {proxy:?}")]
    NoProxy { api: String, proxy: String },
    /// Any other refusal.
    #[error("{call} answered {status}: {body}")]
    Refused {
        call: String,
        status: u16,
        body: String,
    },
    /// An answer that is not what the API's shape says.
    #[error("{call}: unexpected answer: {reason}")]
    BadAnswer { call: String, reason: String },
}

/// A proxy as the API shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RemoteProxy {
    pub name: String,
    #[serde(default)]
    pub listen: String,
    #[serde(default)]
    pub upstream: String,
    pub enabled: bool,
    #[serde(default)]
    pub toxics: Vec<RemoteToxic>,
    /// The built-in proxy's counters.
    #[serde(default)]
    pub stats: Option<RemoteProxyStats>,
}

/// A proxy's counters (built-in proxy only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RemoteProxyStats {
    pub connections_accepted: u64,
    pub connections_open: u64,
    pub upstream_connect_failures: u64,
    pub bytes_upstream: u64,
    pub bytes_downstream: u64,
    /// Open connections closed by disabling the proxy (absent from older
    /// builds of the built-in proxy).
    #[serde(default)]
    pub connections_cut: Option<u64>,
    #[serde(default)]
    pub connections_affected_by_toxic: BTreeMap<String, u64>,
}

/// A toxic as the API shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RemoteToxic {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub stream: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
    /// The built-in proxy's counter.
    #[serde(default)]
    pub stats: Option<RemoteToxicStats>,
}

/// A toxic's counter (built-in proxy only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RemoteToxicStats {
    pub connections_affected: u64,
}

/// A client of one API.
#[derive(Debug, Clone)]
pub struct ToxiproxyClient {
    http: reqwest::Client,
    api: Url,
}

impl ToxiproxyClient {
    /// A client of the API at `api` (`http://127.0.0.1:8474`).
    pub fn new(api: &str) -> Result<Self, ClientError> {
        let bad = |reason: String| ClientError::BadUrl {
            api: api.to_owned(),
            reason,
        };
        let mut url = Url::parse(api).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad("expected an http URL with a host".to_owned()));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self { http, api: url })
    }

    /// The API's URL as given (for evidence; no query or credentials).
    pub fn api(&self) -> String {
        let mut u = self.api.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_query(None);
        u.as_str().trim_end_matches('/').to_owned()
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn call(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<(u16, String), ClientError> {
        let url = self.url(segments);
        let mut request = self.http.request(method, url.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            api: self.api(),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable {
                api: self.api(),
                reason: e.to_string(),
            })?;
        Ok((status, text))
    }

    fn parse<T: serde::de::DeserializeOwned>(call: &str, text: &str) -> Result<T, ClientError> {
        serde_json::from_str(text).map_err(|e| ClientError::BadAnswer {
            call: call.to_owned(),
            reason: e.to_string(),
        })
    }

    fn refused(call: String, status: u16, body: &str) -> ClientError {
        ClientError::Refused {
            call,
            status,
            body: body.chars().take(300).collect(),
        }
    }

    /// A call's answer read: its JSON when its status is one of `ok`;
    /// that there is no such proxy when it is 404 and the call is about
    /// `proxy`; otherwise a refusal naming `call`.
    fn read<T: serde::de::DeserializeOwned>(
        &self,
        call: String,
        proxy: Option<&str>,
        ok: &[u16],
        (status, text): (u16, String),
    ) -> Result<T, ClientError> {
        match (status, proxy) {
            (status, _) if ok.contains(&status) => Self::parse(&call, &text),
            (404, Some(proxy)) => Err(ClientError::NoProxy {
                api: self.api(),
                proxy: proxy.to_owned(),
            }),
            (status, _) => Err(Self::refused(call, status, &text)),
        }
    }

    /// `GET /proxies/{proxy}`.
    pub async fn proxy(&self, proxy: &str) -> Result<RemoteProxy, ClientError> {
        let answer = self
            .call(reqwest::Method::GET, &["proxies", proxy], None)
            .await?;
        self.read(format!("GET /proxies/{proxy}"), Some(proxy), &[200], answer)
    }

    /// `GET /proxies/{proxy}/toxics`.
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<RemoteToxic>, ClientError> {
        let answer = self
            .call(reqwest::Method::GET, &["proxies", proxy, "toxics"], None)
            .await?;
        let call = format!("GET /proxies/{proxy}/toxics");
        self.read(call, Some(proxy), &[200], answer)
    }

    /// `POST /proxies/{proxy}/toxics` with Toxiproxy's body (`name`,
    /// `type`, `stream`, `toxicity`, `attributes`).
    pub async fn add_toxic(&self, proxy: &str, body: &Value) -> Result<RemoteToxic, ClientError> {
        let segments = ["proxies", proxy, "toxics"];
        let answer = self
            .call(reqwest::Method::POST, &segments, Some(body))
            .await?;
        let call = format!("POST /proxies/{proxy}/toxics");
        self.read(call, None, &[200, 201], answer)
    }

    /// `DELETE /proxies/{proxy}/toxics/{toxic}`; `Ok(false)` when it was
    /// not there.
    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<bool, ClientError> {
        let call = format!("DELETE /proxies/{proxy}/toxics/{toxic}");
        match self
            .call(
                reqwest::Method::DELETE,
                &["proxies", proxy, "toxics", toxic],
                None,
            )
            .await?
        {
            (200..=299, _) => Ok(true),
            (404, _) => Ok(false),
            (status, text) => Err(Self::refused(call, status, &text)),
        }
    }

    /// `POST /proxies/{proxy}` with `{"enabled": …}`: `false` takes the
    /// link down (connections refused), `true` brings it back.
    pub async fn set_enabled(
        &self,
        proxy: &str,
        enabled: bool,
    ) -> Result<RemoteProxy, ClientError> {
        let body = serde_json::json!({ "enabled": enabled });
        let answer = self
            .call(reqwest::Method::POST, &["proxies", proxy], Some(&body))
            .await?;
        let call = format!("POST /proxies/{proxy} enabled={enabled}");
        self.read(call, Some(proxy), &[200, 201], answer)
    }

    /// `POST /reset`: every proxy enabled, every toxic removed.
    pub async fn reset(&self) -> Result<(), ClientError> {
        match self.call(reqwest::Method::POST, &["reset"], None).await? {
            (200..=299, _) => Ok(()),
            (status, text) => Err(Self::refused("POST /reset".to_owned(), status, &text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_read_by_its_status_and_whether_the_call_names_a_proxy() {
        let client = ToxiproxyClient::new("http://127.0.0.1:9").expect("a client");
        let answer = |status: u16, text: &str| (status, text.to_owned());
        let read = |proxy, ok: &[u16], answer| {
            client.read::<RemoteToxicStats>("GET /x".to_owned(), proxy, ok, answer)
        };
        let stats = read(
            None,
            &[200, 201],
            answer(201, r#"{"connections_affected": 3}"#),
        );
        assert_eq!(stats.expect("read").connections_affected, 3);
        let missing = read(Some("db"), &[200], answer(404, "")).expect_err("404");
        assert!(matches!(missing, ClientError::NoProxy { ref proxy, .. } if proxy == "db"));
        let refused = read(None, &[200], answer(404, "gone")).expect_err("404");
        assert_eq!(refused.to_string(), "GET /x answered 404: gone");
        let created = read(Some("db"), &[200], answer(201, "{}")).expect_err("not 200");
        assert!(matches!(created, ClientError::Refused { status: 201, .. }));
        let bad = read(None, &[200], answer(200, "[")).expect_err("not JSON");
        assert!(matches!(bad, ClientError::BadAnswer { .. }));
    }
}
