//! Configuration of both roles, from flags or `SUT_*` environment
//! variables. Secrets (S3 keys) are referenced by the *name* of the
//! environment variable that holds them, never passed or logged as values.

use crate::faults::{Faults, UnknownFault};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything both roles read; each role ignores what it does not use.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the API listens on (port 0 picks a free one; the bound
    /// address is printed as `listening on http://ADDR`).
    #[arg(long, env = "SUT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Which HTTP API the `api` role serves: `runs` (`/runs`, `/health`, …)
    /// or `tasks` (`/api/v2/…`, a job service of another design over the
    /// same database, worker and fault switches).
    #[arg(long, env = "SUT_SHAPE", value_enum, default_value_t = Shape::Runs)]
    pub shape: Shape,

    /// Directory for the default SQLite file and the local bucket.
    #[arg(long, env = "SUT_DATA_DIR", default_value = "./sut-data")]
    pub data_dir: PathBuf,

    /// `postgres://…` or `sqlite://…`; default: a SQLite file in the data dir.
    #[arg(long, env = "SUT_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Name of the bucket artifacts belong in.
    #[arg(
        long,
        env = "SUT_BUCKET",
        default_value = "shakedown-staging-artifacts"
    )]
    pub bucket: String,

    /// Root directory of local buckets (a bucket is a sub-directory);
    /// default: `<data-dir>/buckets`.
    #[arg(long, env = "SUT_BUCKET_DIR")]
    pub bucket_dir: Option<PathBuf>,

    /// S3-compatible endpoint (e.g. http://127.0.0.1:9000); when set the
    /// bucket is an S3 bucket (path-style addressing).
    #[arg(long, env = "SUT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region name sent in signatures.
    #[arg(long, env = "SUT_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Name of the environment variable holding the S3 access key id.
    #[arg(
        long,
        env = "SUT_S3_ACCESS_KEY_ENV",
        default_value = "SUT_S3_ACCESS_KEY_ID"
    )]
    pub s3_access_key_env: String,

    /// Name of the environment variable holding the S3 secret key.
    #[arg(
        long,
        env = "SUT_S3_SECRET_KEY_ENV",
        default_value = "SUT_S3_SECRET_ACCESS_KEY"
    )]
    pub s3_secret_key_env: String,

    /// Environment name reported by /health and written into artifacts.
    #[arg(long, env = "SUT_ENVIRONMENT", default_value = "staging")]
    pub environment: String,

    /// Steps a run works through (one progress event each).
    #[arg(long, env = "SUT_RUN_STEPS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub run_steps: u32,

    /// Duration of one step in milliseconds.
    #[arg(long, env = "SUT_STEP_MS", default_value_t = 200)]
    pub step_ms: u64,

    /// Lease a worker holds on a claimed run; renewed by its heartbeat.
    #[arg(long, env = "SUT_LEASE_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(300..))]
    pub lease_ms: u64,

    /// Runs one worker process works on at once.
    #[arg(long = "worker-concurrency", env = "SUT_WORKER_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    /// How often an idle worker looks for queued runs.
    #[arg(long, env = "SUT_POLL_MS", default_value_t = 100)]
    pub poll_ms: u64,

    /// Claims of one run before it is failed instead of retried.
    #[arg(long, env = "SUT_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: i64,

    /// On SIGTERM, how long a worker lets in-flight runs finish before it
    /// puts them back in the queue and exits.
    #[arg(long, env = "SUT_SHUTDOWN_GRACE_MS", default_value_t = 5000)]
    pub shutdown_grace_ms: u64,

    /// If set, the worker serves `GET /health` on this address (for
    /// supervisors that want a health check of the worker process itself).
    #[arg(long, env = "SUT_WORKER_HEALTH_LISTEN")]
    pub worker_health_listen: Option<SocketAddr>,

    /// Identity of this worker in leases and heartbeats (default: generated).
    #[arg(long, env = "SUT_WORKER_ID")]
    pub worker_id: Option<String>,

    /// A worker whose last heartbeat is older than this is not alive.
    #[arg(long, env = "SUT_WORKER_STALE_MS", default_value_t = 5000)]
    pub worker_stale_ms: u64,

    /// Children one expansion adds to a universe node.
    #[arg(long, env = "SUT_EXPAND_CHILDREN", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub expand_children: u32,

    /// SHA-256 rounds of work one expansion does per child.
    #[arg(long, env = "SUT_EXPAND_WORK", default_value_t = 2_000)]
    pub expand_work: u32,

    /// Fault switches, comma-separated; may repeat.
    #[arg(long = "fault", env = "SUT_FAULTS", value_delimiter = ',')]
    pub faults: Vec<String>,

    /// Delay the `slow` fault adds to each expansion.
    #[arg(long, env = "SUT_SLOW_MS", default_value_t = 1500)]
    pub slow_ms: u64,

    /// With `errors-during-restart`, how long after it starts the API
    /// answers 503 to everything but its health routes.
    #[arg(long, env = "SUT_RESTART_ERRORS_MS", default_value_t = 3000)]
    pub restart_errors_ms: u64,

    /// With `graph-corruption`, one expansion in this many leaves a
    /// dangling edge (the first one of each process does).
    #[arg(long, env = "SUT_GRAPH_CORRUPTION_EVERY", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    pub graph_corruption_every: u64,

    /// The bucket `wrong-bucket` writes to (default: the configured name
    /// with `staging` replaced by `production`, or `-production` appended).
    #[arg(long, env = "SUT_WRONG_BUCKET")]
    pub wrong_bucket: Option<String>,
}

/// The API's shape: its routes and JSON layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shape {
    /// `/runs`, `/runs/{id}/events`, `/health/ready`, …
    Runs,
    /// `/api/v2/tasks`, `/api/v2/tasks/{id}/watch`, `/api/v2/ready`, …
    Tasks,
}

impl Config {
    /// The parsed fault switches.
    pub fn faults(&self) -> Result<Faults, UnknownFault> {
        Faults::parse(&self.faults)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("sut.db").display()
            ),
        }
    }

    /// Root directory of local buckets.
    pub fn bucket_root(&self) -> PathBuf {
        self.bucket_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("buckets"))
    }

    /// The bucket `wrong-bucket` sends objects to.
    pub fn wrong_bucket_name(&self) -> String {
        match &self.wrong_bucket {
            Some(name) => name.clone(),
            None if self.bucket.contains("staging") => self.bucket.replace("staging", "production"),
            None => format!("{}-production", self.bucket),
        }
    }
}
