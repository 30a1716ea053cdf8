//! `turnout keys …`, `turnout credits …`, `turnout migrate`: work on the database directly,
//! also while a server runs on it (the server picks changes up within a second).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rust_decimal::Decimal;
use turnout_store::{LimitReset, Nanos, NewKey, RateLimit, Store, clock, keys};

/// Where the database is: `--database-url`, else `[storage] database_url` of `--config`
/// (default `./turnout.toml`), else the default `sqlite://turnout.db`.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Config file whose `[storage] database_url` to use (default: ./turnout.toml when present).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Database URL, overriding the config (sqlite://PATH or postgres://…).
    #[arg(long, global = true, env = "TURNOUT_DATABASE_URL")]
    database_url: Option<String>,
}

impl DatabaseArgs {
    fn url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        let path = match &self.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("turnout.toml")).filter(|p| p.exists()),
        };
        match path {
            Some(p) => {
                let config = turnout_config::load_file(&p).map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok(config.storage.database_url)
            }
            None => Ok(turnout_config::StorageConfig::default().database_url),
        }
    }

    async fn open(&self) -> anyhow::Result<Store> {
        let url = self.url()?;
        Store::open(&url)
            .await
            .with_context(|| format!("cannot open the database {url}"))
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; the secret is printed once, alone on the last line.
    Create {
        #[arg(long)]
        name: String,
        /// The account the key spends from (created when new).
        #[arg(long, default_value = "default")]
        account: String,
        /// A management key: administers keys and credits, cannot call models.
        #[arg(long)]
        management: bool,
        /// Spending limit in USD.
        #[arg(long)]
        limit: Option<Decimal>,
        #[arg(long, value_parser = ["daily", "weekly", "monthly"])]
        limit_reset: Option<String>,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u32>,
        /// Tokens per minute.
        #[arg(long)]
        tpm: Option<u64>,
        /// Model id globs this key may use (repeatable), e.g. `openai/*`.
        #[arg(long = "allow-model")]
        allowed_models: Vec<String>,
        /// Expiry, RFC 3339 UTC (2027-12-31T23:59:59Z).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List live keys (hash, account, name, flags).
    List {
        #[arg(long)]
        account: Option<String>,
        /// Include disabled keys.
        #[arg(long)]
        all: bool,
    },
    /// Revoke (delete) a key by its hash; running servers refuse it within a second.
    Revoke { hash: String },
}

#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// Add credits (USD) to an account; its balance is enforced from then on.
    Add {
        #[arg(long, default_value = "default")]
        account: String,
        amount_usd: Decimal,
        #[arg(long)]
        note: Option<String>,
    },
    /// Show every account's credits, usage and balance.
    Show {
        #[arg(long)]
        account: Option<String>,
    },
}

fn out(line: impl std::fmt::Display) -> anyhow::Result<()> {
    writeln!(std::io::stdout(), "{line}").context("cannot write to stdout")
}

pub async fn keys(db: &DatabaseArgs, command: KeysCommand) -> anyhow::Result<()> {
    let store = db.open().await?;
    match command {
        KeysCommand::Create {
            name,
            account,
            management,
            limit,
            limit_reset,
            rpm,
            tpm,
            allowed_models,
            expires_at,
        } => {
            if limit.is_some_and(|l| l.is_sign_negative()) {
                bail!("--limit must not be negative");
            }
            let expires_at_ms = match expires_at {
                Some(s) => Some(
                    clock::parse_iso(&s)
                        .with_context(|| format!("--expires-at {s:?} is not RFC 3339"))?,
                ),
                None => None,
            };
            store.ensure_account(&account).await?;
            let secret = keys::generate();
            let k = store
                .create_key(
                    &secret,
                    &NewKey {
                        account,
                        name,
                        is_management: management,
                        limit: limit.map(Nanos::from_usd),
                        limit_reset: limit_reset.as_deref().and_then(LimitReset::parse),
                        expires_at_ms,
                        allowed_models: (!allowed_models.is_empty()).then_some(allowed_models),
                        rate_limit: RateLimit {
                            requests_per_minute: rpm,
                            tokens_per_minute: tpm,
                        },
                    },
                )
                .await?;
            eprintln!(
                "created {} key {:?} on account {:?}, hash {} (the key is shown only now):",
                if k.is_management {
                    "management"
                } else {
                    "inference"
                },
                k.name,
                k.account,
                k.hash
            );
            out(secret)
        }
        KeysCommand::List { account, all } => {
            let keys = store
                .list_keys(account.as_deref(), all, 0, u32::MAX)
                .await?;
            for k in keys {
                let mut flags = Vec::new();
                if k.is_management {
                    flags.push("management".to_owned());
                }
                if k.disabled {
                    flags.push("disabled".to_owned());
                }
                if let Some(l) = k.limit {
                    let reset = k.limit_reset.map_or("", LimitReset::as_str);
                    flags.push(format!("limit ${l} {reset}").trim().to_owned());
                }
                if let Some(rpm) = k.rate_limit.requests_per_minute {
                    flags.push(format!("{rpm} rpm"));
                }
                out(format_args!(
                    "{}  {:<12} {:<20} {}  {}",
                    k.hash,
                    k.account,
                    k.name,
                    k.label,
                    flags.join(", ")
                ))?;
            }
            Ok(())
        }
        KeysCommand::Revoke { hash } => {
            if !store.delete_key(&hash).await? {
                bail!("no live key has hash {hash}");
            }
            eprintln!("revoked {hash}");
            Ok(())
        }
    }
}

pub async fn credits(db: &DatabaseArgs, command: CreditsCommand) -> anyhow::Result<()> {
    let store = db.open().await?;
    match command {
        CreditsCommand::Add {
            account,
            amount_usd,
            note,
        } => {
            if amount_usd.is_sign_negative() {
                bail!("the amount must not be negative");
            }
            store.ensure_account(&account).await?;
            store
                .add_credits(&account, Nanos::from_usd(amount_usd), note.as_deref())
                .await?;
            show(&store, Some(&account)).await
        }
        CreditsCommand::Show { account } => show(&store, account.as_deref()).await,
    }
}

async fn show(store: &Store, account: Option<&str>) -> anyhow::Result<()> {
    let (totals, _) = store.account_totals(0).await?;
    out(format_args!(
        "{:<20} {:>16} {:>16} {:>16}  metered",
        "account", "credits", "usage", "balance"
    ))?;
    for t in totals
        .iter()
        .filter(|t| account.is_none_or(|a| a == t.account))
    {
        out(format_args!(
            "{:<20} {:>16} {:>16} {:>16}  {}",
            t.account,
            t.credits,
            t.usage,
            t.credits - t.usage,
            if t.metered { "yes" } else { "no" }
        ))?;
    }
    Ok(())
}

pub async fn migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    let url = db.url()?;
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {url}"))?;
    store.migrate().await?;
    eprintln!("{}: migrated", redact(&url));
    Ok(())
}

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
