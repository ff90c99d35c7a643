//! `shakedown user …` and `shakedown token add|list|revoke`: accounts and
//! API tokens, managed from the server's own machine (the first admin is
//! created this way; the web app has no default password). Passwords are read from the terminal, or from
//! standard input when it is not one — never from an argument. Every change
//! is written to the audit log as done by `cli`.

use super::args::DbArgs;
use crate::auth::{password, token};
use crate::db::Db;
use anyhow::{bail, Context};
use engine::access::Role;
use engine::access_store::AccessStore;
use engine::run::now_ms;
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

/// `shakedown user`.
#[derive(clap::Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(clap::Subcommand, Debug)]
enum UserCommand {
    /// Create a user; the password is asked on the terminal (twice) or read
    /// from the first line of standard input.
    Add {
        name: String,
        /// viewer, operator, approver or admin; agent for a load agent's
        /// account (`shakedown agent`), which may do nothing else.
        #[arg(long)]
        role: Role,
    },
    /// List users with their roles.
    List,
    /// Change a user's role (their sessions end).
    SetRole { name: String, role: Role },
    /// Set a new password, read like `add` (their sessions and API tokens
    /// end).
    Passwd { name: String },
    /// Stop a user from logging in (their sessions and API tokens end).
    Disable { name: String },
    /// Let a disabled user log in again (with new API tokens: the old ones
    /// ended).
    Enable { name: String },
}

/// `shakedown token add|list|revoke`.
#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(clap::Subcommand, Debug)]
enum TokenCommand {
    /// Create an API token for a user (for `shakedown signoff` in CI); it is
    /// printed once and stored only as a hash.
    Add {
        /// The user it acts as.
        #[arg(long)]
        user: String,
        /// What it is for (shown in the audit log).
        #[arg(long, default_value = "api")]
        label: String,
        /// Days until it expires.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// List API tokens (never the tokens themselves): id, user, label,
    /// created, expires.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke an API token by the id `list` shows (or a longer prefix of
    /// its sha256); it stops working at once.
    Revoke { id: String },
}

fn valid_name(name: &str) -> anyhow::Result<()> {
    if !crate::auth::valid_user_name(name) {
        bail!(
            "user name {name:?}: use 1-{} letters, digits, '.', '_', '-' or '@'",
            crate::auth::MAX_NAME_BYTES
        );
    }
    Ok(())
}

/// Reads a password: twice on a terminal, else the first line of stdin.
fn read_password(name: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "))
            .context("cannot read the password from the terminal")?;
        let again = rpassword::prompt_password("Again: ")
            .context("cannot read the password from the terminal")?;
        if first != again {
            bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}

async fn hash_password(name: &str) -> anyhow::Result<String> {
    let secret = read_password(name)?;
    Ok(tokio::task::spawn_blocking(move || password::hash(&secret)).await??)
}

/// Runs `shakedown user …`.
pub async fn run_user(args: UserArgs) -> anyhow::Result<ExitCode> {
    let db = args.db.open().await?;
    let audit = |action: &'static str, target: String, detail: String| {
        let db = db.clone();
        async move {
            if let Err(e) = db.audit("cli", action, &target, &detail, now_ms()).await {
                eprintln!("shakedown: warning: not written to the audit log: {e}");
            }
        }
    };
    match args.command {
        UserCommand::Add { name, role } => {
            valid_name(&name)?;
            if db.credentials(&name).await?.is_some() {
                bail!("a user named {name:?} already exists (use `shakedown user passwd` or `set-role`)");
            }
            let hash = hash_password(&name).await?;
            let user = db.add_user(&name, role, &hash, now_ms()).await?;
            audit("user_added", user.name.clone(), role.to_string()).await;
            println!("user {} added with role {}", user.name, user.role);
        }
        UserCommand::List => {
            let users = db.users().await?;
            if users.is_empty() {
                println!("no users yet: create the first admin with `shakedown user add NAME --role admin`");
            }
            for u in users {
                println!(
                    "{:<24} {:<9} {}{}",
                    u.name,
                    u.role.as_str(),
                    engine::run::format_utc(u.created_at_ms),
                    if u.disabled { "  (disabled)" } else { "" }
                );
            }
        }
        UserCommand::SetRole { name, role } => {
            let user = db.update_user(&name, Some(role), None, None).await?;
            audit("user_changed", name, format!("role {role}")).await;
            println!("user {} now has role {}", user.name, user.role);
        }
        UserCommand::Passwd { name } => {
            if db.credentials(&name).await?.is_none() {
                bail!("no user named {name:?}");
            }
            let hash = hash_password(&name).await?;
            db.update_user(&name, None, Some(&hash), None).await?;
            audit("user_changed", name.clone(), "password".to_owned()).await;
            println!("password of {name} changed; their sessions and API tokens ended");
        }
        UserCommand::Disable { name } => {
            db.update_user(&name, None, None, Some(true)).await?;
            audit("user_changed", name.clone(), "disabled".to_owned()).await;
            println!("user {name} disabled; their sessions and API tokens ended");
        }
        UserCommand::Enable { name } => {
            db.update_user(&name, None, None, Some(false)).await?;
            audit("user_changed", name.clone(), "enabled".to_owned()).await;
            println!("user {name} enabled");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `shakedown token …`.
pub async fn run_token(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let db = args.db.open().await?;
    match args.command {
        TokenCommand::Add { user, label, days } => add_token(&db, user, label, days).await,
        TokenCommand::List { user } => list_tokens(&db, user.as_deref()).await,
        TokenCommand::Revoke { id } => revoke_token(&db, &id).await,
    }
}

async fn list_tokens(db: &Db, user: Option<&str>) -> anyhow::Result<ExitCode> {
    let tokens = db.api_tokens(user).await?;
    if tokens.is_empty() {
        match user {
            Some(user) => println!("no API tokens for {user}"),
            None => println!("no API tokens"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = now_ms();
    println!(
        "{:<12}  {:<24} {:<16} {:<24} EXPIRES",
        "ID", "USER", "LABEL", "CREATED"
    );
    for t in tokens {
        println!(
            "{:<12}  {:<24} {:<16} {:<24} {}{}",
            t.id,
            t.user,
            t.label,
            engine::run::format_utc(t.created_at_ms),
            engine::run::format_utc(t.expires_at_ms),
            if t.expires_at_ms <= now {
                "  (expired)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn revoke_token(db: &Db, id: &str) -> anyhow::Result<ExitCode> {
    let token = db.revoke_api_token(id).await?;
    if let Err(e) = db
        .audit(
            "cli",
            "token_revoked",
            &token.user,
            &format!("{} ({})", token.id, token.label),
            now_ms(),
        )
        .await
    {
        eprintln!("shakedown: warning: not written to the audit log: {e}");
    }
    println!(
        "API token {} of {} ({}) revoked",
        token.id, token.user, token.label
    );
    Ok(ExitCode::SUCCESS)
}

async fn add_token(db: &Db, user: String, label: String, days: u32) -> anyhow::Result<ExitCode> {
    if days == 0 || days > 3650 {
        bail!("--days: between 1 and 3650");
    }
    let Some(creds) = db.credentials(&user).await? else {
        bail!("no user named {user:?}");
    };
    if creds.user.disabled {
        bail!("user {user:?} is disabled");
    }
    let secret = token::generate();
    let now = now_ms();
    db.add_api_token(
        &token::digest(&secret),
        &user,
        &label,
        now,
        now + i64::from(days) * 86_400_000,
    )
    .await?;
    if let Err(e) = db
        .audit(
            "cli",
            "token_created",
            &user,
            &format!("{label}, {days} days"),
            now,
        )
        .await
    {
        eprintln!("shakedown: warning: not written to the audit log: {e}");
    }
    eprintln!(
        "API token for {user} ({}), valid {days} days. It is shown once; store it in a secret (e.g. SHAKEDOWN_TOKEN):",
        creds.user.role
    );
    println!("{secret}");
    Ok(ExitCode::SUCCESS)
}
