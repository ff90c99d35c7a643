//! Arguments several subcommands share: where the database is, and which
//! stored evidence pack to read.

use crate::db::Db;
use crate::evidence::config::EvidenceArgs;
use std::path::PathBuf;

/// Which database holds the runs and accounts.
#[derive(clap::Args, Debug, Clone)]
pub struct DbArgs {
    /// Folder of the default SQLite database.
    #[arg(
        long,
        env = "SHAKEDOWN_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL (`postgres://…` or `sqlite://…`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    /// Opens (and migrates) the database.
    pub async fn open(&self) -> anyhow::Result<Db> {
        Ok(Db::open_in(&self.data_dir, self.database_url.as_deref()).await?)
    }
}

/// Which version of a run's pack to read, and the evidence store it is in.
#[derive(clap::Args, Debug, Clone)]
pub struct PackArgs {
    /// Pack version (default: the newest).
    #[arg(long)]
    pub version: Option<u32>,
    /// Folder holding the local evidence store (`DATA_DIR/evidence`).
    #[arg(long, env = "SHAKEDOWN_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

/// The Shakedown server an approver's command talks to, and the
/// environment variable holding their API token.
#[derive(clap::Args, Debug, Clone)]
pub struct ApproverArgs {
    /// The Shakedown server.
    #[arg(
        long,
        env = "SHAKEDOWN_SERVER",
        default_value = "http://127.0.0.1:3000"
    )]
    pub server: url::Url,
    /// The environment variable holding the approver's API token
    /// (`shakedown token add`).
    #[arg(long, default_value = "SHAKEDOWN_TOKEN")]
    pub token_env: String,
}

impl ApproverArgs {
    /// A POST to `path` on the server, carrying the token, and the URL it
    /// goes to.
    pub fn post(&self, path: &str) -> anyhow::Result<(reqwest::RequestBuilder, url::Url)> {
        use anyhow::Context as _;
        let token = std::env::var(&self.token_env).with_context(|| {
            format!(
                "set {} to an approver's API token (create one with `shakedown token add --user NAME`)",
                self.token_env
            )
        })?;
        let url = self
            .server
            .join(path)
            .context("the server URL cannot take a path")?;
        let request = reqwest::Client::new()
            .post(url.clone())
            .bearer_auth(token.trim());
        Ok((request, url))
    }
}
