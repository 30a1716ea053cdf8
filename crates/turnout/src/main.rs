//! The `turnout` binary: CLI over the gateway (DESIGN.md §3).

mod admin;
mod check;
mod demo;
mod logfields;
mod logwriter;
mod statuspage;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use turnout_gateway::accounting::Accounts;
use turnout_gateway::{AppState, Runtime, server};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "turnout",
    version,
    about = "A self-hosted, OpenRouter-compatible LLM gateway"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Config file (default: ./turnout.toml when present).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// No file, no network: in-process mock providers and a demo catalog.
        #[arg(long, conflicts_with = "config")]
        demo: bool,
        /// Listen address, overriding `[server] listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Database URL, overriding `[storage] database_url` (the demo's default keeps
        /// everything in memory).
        #[arg(long, env = "TURNOUT_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run an OpenAI-compatible mock provider (for tests, benchmarks and experiments).
    Mock(turnout_mock::cli::MockArgs),
    /// Create, list and revoke API keys (works while a server runs on the same database).
    Keys {
        #[command(flatten)]
        db: admin::DatabaseArgs,
        #[command(subcommand)]
        command: admin::KeysCommand,
    },
    /// Add and show account credits.
    Credits {
        #[command(flatten)]
        db: admin::DatabaseArgs,
        #[command(subcommand)]
        command: admin::CreditsCommand,
    },
    /// Is that OpenAI-compatible API down, rate limited, out of credits or misconfigured?
    /// Exit codes: 0 healthy, 3 degraded, 4 auth, 5 credits, 6 rate limited, 7 model
    /// unavailable, 8 outage, 2 usage.
    /// A Statuspage v2 `…/summary.json` URL instead reads that page (OpenAI's, Anthropic's,
    /// OpenRouter's…) and prints its components.
    Check(check::CheckArgs),
    /// A running Turnout's own status: page state, components with problems, incidents.
    /// Exit codes as `check`.
    Status(statuspage::StatusArgs),
    /// Create or upgrade the database schema (`serve` does this on start too).
    Migrate {
        #[command(flatten)]
        db: admin::DatabaseArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a file and report every problem with file, line and field.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Writes the pending log lines when dropped.
    let log_guard = init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("turnout: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                config,
                demo,
                listen,
                database_url,
            } => serve(config, demo, listen, database_url).await,
            Command::Config {
                command: ConfigCommand::Check { file },
            } => return config_check(&file),
            Command::Mock(args) => turnout_mock::cli::run(args)
                .await
                .context("mock provider failed"),
            Command::Keys { db, command } => admin::keys(&db, command).await,
            Command::Credits { db, command } => admin::credits(&db, command).await,
            Command::Migrate { db } => admin::migrate(&db).await,
            Command::Check(args) => return Ok(check::run(args).await),
            Command::Status(args) => return Ok(statuspage::status(args).await),
        }
        .map(|()| ExitCode::SUCCESS)
    });
    // The log before the final error line.
    drop(log_guard);
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("turnout: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// RFC 3339 UTC timestamps with microseconds, as tracing-subscriber writes them, but with the
/// date and time formatted once per second per thread: the per-line calendar math was ~2% of
/// a proxied request's instructions.
struct CachedTime;

impl tracing_subscriber::fmt::time::FormatTime for CachedTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        use std::cell::RefCell;
        thread_local! {
            static PREFIX: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
        }
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = since.as_secs();
        PREFIX.with(|cell| {
            let mut cached = cell.borrow_mut();
            if cached.0 != secs {
                let at = time::OffsetDateTime::from_unix_timestamp(secs as i64)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                cached.1 = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    at.year(),
                    u8::from(at.month()),
                    at.day(),
                    at.hour(),
                    at.minute(),
                    at.second()
                );
                cached.0 = secs;
            }
            write!(w, "{}.{:06}Z", cached.1, since.subsec_micros())
        })
    }
}

fn init_logging(format: LogFormat) -> Option<logwriter::Guard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(CachedTime);
    match logwriter::start(std::io::stderr()) {
        Ok((writer, guard)) => {
            match format {
                LogFormat::Text => builder
                    .fmt_fields(logfields::FastFields)
                    .with_writer(writer)
                    .init(),
                LogFormat::Json => builder.json().with_writer(writer).init(),
            }
            Some(guard)
        }
        // No thread for the batching sink: write each line to stderr directly.
        Err(_) => {
            match format {
                LogFormat::Text => builder
                    .fmt_fields(logfields::FastFields)
                    .with_writer(std::io::stderr)
                    .init(),
                LogFormat::Json => builder.json().with_writer(std::io::stderr).init(),
            }
            None
        }
    }
}

fn config_check(file: &Path) -> anyhow::Result<ExitCode> {
    match turnout_config::load_file(file) {
        Ok(config) => match Runtime::build(&config) {
            Ok(_) => {
                eprintln!(
                    "{}: ok ({} providers, {} models)",
                    file.display(),
                    config.providers.len(),
                    config.models.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                Ok(ExitCode::FAILURE)
            }
        },
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn serve(
    config_path: Option<PathBuf>,
    demo: bool,
    listen: Option<SocketAddr>,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // The demo's mock providers must live as long as the server.
    let (config, reload_path, _mocks) = if demo {
        let (config, mocks) = demo::start().await?;
        (config, None, Some(mocks))
    } else {
        let path = match config_path {
            Some(p) => p,
            None if Path::new("turnout.toml").exists() => PathBuf::from("turnout.toml"),
            None => anyhow::bail!(
                "no configuration: pass --config FILE, put a turnout.toml in this directory, or try --demo"
            ),
        };
        let config = turnout_config::load_file(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
        (config, Some(path), None)
    };
    let runtime = Runtime::build(&config).context("invalid configuration")?;
    // Traces are set up once, at start: a reload does not change `[telemetry]`.
    let traces = match &config.telemetry {
        Some(telemetry) => Some(
            turnout_gateway::otel::install(telemetry)
                .context("[telemetry]: cannot start OpenTelemetry export")?,
        ),
        None => None,
    };
    // The demo keeps nothing on disk unless asked to.
    let database_url = match &database_url {
        Some(url) => url.as_str(),
        None if demo => "sqlite::memory:",
        None => config.storage.database_url.as_str(),
    };
    let redis_url = config.storage.redis_url.as_deref();
    let accounts = Accounts::open_shared(database_url, redis_url)
        .await
        .with_context(|| match redis_url {
            Some(r) => format!("cannot open the database {database_url} with Redis at {r}"),
            None => format!("cannot open the database {database_url}"),
        })?;
    let state = AppState::new(runtime, accounts.clone());
    let addr: SocketAddr = match listen {
        Some(a) => a,
        None => config
            .server
            .listen
            .parse()
            .with_context(|| format!("[server] listen = {:?}", config.server.listen))?,
    };
    let listener = server::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    if let Some(path) = reload_path {
        tokio::spawn(server::reload_on_hangup(state.clone(), path));
    }
    tracing::info!(
        addr = %local,
        models = config.models.len(),
        providers = config.providers.len(),
        ready_ms = started.elapsed().as_millis() as u64,
        "turnout listening; OpenAI base URL http://{local}/api/v1"
    );
    if demo {
        demo::print_hint(local);
    }
    let flush_state = state.clone();
    let served = server::run(
        listener,
        state,
        server::termination(),
        Duration::from_millis(config.server.shutdown_grace_ms),
    )
    .await
    .context("server failed");
    // Nothing settled is lost on a graceful stop.
    accounts.flush().await;
    flush_state.flush_history().await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    served
}
