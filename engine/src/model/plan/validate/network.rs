//! Network faults: an environment's network-fault proxy (`network.api`, its
//! `links`), and a chaos test's `fault.network` (a known link in every
//! environment, the toxic's parameters and no others, a window within the
//! test's deadline).

use super::Validator;
use crate::plan::read::FieldPath;
use crate::plan::{ChaosFault, ChaosSpec, Environment, HoldUntil, NetworkAccess, NetworkFault};
use url::Url;

/// A chaos test's deadline when it sets none (the engine's default).
pub const DEFAULT_DEADLINE_S: u32 = 60;

impl Validator {
    /// An environment's `network` table: an http URL for the API on an
    /// allowed host (like every address a plan sends to), and links with
    /// names and proxy names.
    pub(super) fn network_access(
        &mut self,
        path: &FieldPath,
        env: &Environment,
        network: &NetworkAccess,
    ) {
        let api = Url::parse(&network.api)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        match api {
            None => self.problem(
                path.key("api"),
                format!(
                    "expected the proxy API's http URL (http://127.0.0.1:8474), got {:?}",
                    without_credentials(&network.api)
                ),
            ),
            Some(url) if !url.username().is_empty() || url.password().is_some() => self.problem(
                path.key("api"),
                "remove the user name and password from the proxy API's URL: Toxiproxy's API has no login, and a URL's credentials would be kept in the fault ledger and dropped from the calls that undo the fault",
            ),
            Some(url) if !super::host_allowed(env, &url) => self.problem(
                path.key("api"),
                format!(
                    "host {} is not an allowed host: add it to allowed_hosts to drive that proxy",
                    super::host_port(&url)
                ),
            ),
            Some(_) => {}
        }
        for (link, proxy) in &network.links {
            if proxy.trim().is_empty() || proxy.contains('/') {
                self.problem(
                    path.key("links").key(link),
                    format!("expected the name of a proxy, got {proxy:?}"),
                );
            }
        }
    }

    /// A chaos test's fault: exactly one of a restart (`service` alone) or
    /// `fault.network`, and a network fault that every environment can run.
    pub(super) fn chaos_fault(
        &mut self,
        kind_path: &FieldPath,
        spec: &ChaosSpec,
        envs: &[(&String, &Environment)],
    ) {
        let Some(ChaosFault::Network(fault)) = &spec.fault else {
            if spec.service.is_none() {
                self.problem(
                    kind_path.key("service"),
                    "expected the service to restart, or a fault.network = { link, toxic, duration_s } table",
                );
            }
            return;
        };
        let path = kind_path.key("fault").key("network");
        if spec.signal.is_some() {
            self.problem(
                kind_path.key("signal"),
                "a network fault restarts nothing; remove signal",
            );
        }
        self.fault_link(&path, fault, envs);
        self.toxic_parameters(&path, fault);
        self.fault_window(&path, spec, fault);
    }

    /// A network fault's link: named in every environment's proxy links.
    fn fault_link(
        &mut self,
        path: &FieldPath,
        fault: &NetworkFault,
        envs: &[(&String, &Environment)],
    ) {
        for (name, env) in envs {
            match &env.network {
                None => self.problem(
                    path.key("link"),
                    format!(
                        "environment {name:?} has no network-fault proxy: add [environments.{name}.network] with api = \"http://127.0.0.1:8474\" and links = {{ {} = \"PROXY\" }}",
                        fault.link
                    ),
                ),
                Some(network) if !network.links.contains_key(&fault.link) => {
                    let known: Vec<&str> = network.links.keys().map(String::as_str).collect();
                    self.problem(
                        path.key("link"),
                        format!(
                            "no link named {:?} in environment {name:?}; its links are: {}",
                            fault.link,
                            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                        ),
                    );
                }
                Some(_) => {}
            }
        }
    }

    /// A network fault's toxic parameters: the ones it needs, no others.
    fn toxic_parameters(&mut self, path: &FieldPath, fault: &NetworkFault) {
        let takes = fault.toxic.parameters();
        for (field, value) in fault.parameter_values() {
            let wanted = takes.iter().find(|(name, _)| *name == field);
            match (wanted, value) {
                (Some((_, true)), None) => self.problem(
                    path.key(field),
                    format!("toxic {:?} needs {field}", fault.toxic.name()),
                ),
                (None, Some(_)) => self.problem(
                    path.key(field),
                    format!(
                        "toxic {:?} takes no {field}; it takes: {}",
                        fault.toxic.name(),
                        if takes.is_empty() {
                            "nothing but link and duration_s or until".to_owned()
                        } else {
                            takes.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        }
                    ),
                ),
                _ => {}
            }
        }
    }

    /// A network fault's toxicity (0 to 1) and its window, shorter than the
    /// test's deadline.
    fn fault_window(&mut self, path: &FieldPath, spec: &ChaosSpec, fault: &NetworkFault) {
        if let Some(t) = fault.toxicity {
            if !(0.0..=1.0).contains(&t) {
                self.problem(path.key("toxicity"), format!("expected 0 to 1, got {t}"));
            }
        }
        let deadline = spec.deadline_s.map_or(DEFAULT_DEADLINE_S, |d| d.get());
        match (fault.duration_s, fault.until) {
            (Some(duration), None) if duration.get() >= deadline => self.problem(
                path.key("duration_s"),
                format!(
                    "the fault's window ({duration} s) is not shorter than the test's deadline ({deadline} s{}); shorten duration_s or raise deadline_s",
                    if spec.deadline_s.is_none() { ", the default" } else { "" }
                ),
            ),
            (Some(_), Some(until)) => self.problem(
                path.key("until"),
                format!(
                    "until = {:?} and duration_s both say when the fault ends; keep one",
                    until.name()
                ),
            ),
            (None, None) => self.problem(
                path.key("duration_s"),
                "expected duration_s (a fixed window in seconds) or until = \"runs_settled\" (held until every run the test submitted is terminal)",
            ),
            (None, Some(HoldUntil::RunsSettled)) if spec.jobs.is_none() => self.problem(
                path.key("until"),
                "until = \"runs_settled\" waits for the test's runs, and the test submits none: add jobs = { kind, count }, or set duration_s",
            ),
            _ => {}
        }
    }
}

/// `text` with whatever stands between `://` and the last `@` of its
/// authority hidden: a URL that does not parse may still carry a password.
pub fn without_credentials(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => text.to_owned(),
    }
}
