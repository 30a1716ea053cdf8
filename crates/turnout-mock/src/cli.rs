//! `turnout mock`: run one mock provider until Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use crate::config::{Fault, MockConfig};
use crate::server::MockServer;

/// Options of `turnout mock`.
#[derive(Clone, Debug, clap::Args)]
pub struct MockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub listen: SocketAddr,
    /// Name shown as the replies' `system_fingerprint`.
    #[arg(long, default_value = "mock")]
    pub name: String,
    /// Delay before the response headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Content chunks per streamed reply (words of the generated reply).
    #[arg(long, default_value_t = 8)]
    pub chunks: usize,
    /// Delay before each content chunk of a stream, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub chunk_delay_ms: u64,
    /// Probability in [0, 1] of answering 503.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Fixed reply text (default: words derived from the last user message).
    #[arg(long)]
    pub reply: Option<String>,
    /// Answer every request with this HTTP status.
    #[arg(long, value_name = "CODE", conflicts_with = "fault")]
    pub fault_status: Option<u16>,
    /// With --fault-status: the Retry-After header, in seconds.
    #[arg(long, value_name = "S", requires = "fault_status")]
    pub retry_after: Option<u64>,
    /// Any fault as JSON, e.g. '{"type":"stall_after_chunks","after":2}'.
    #[arg(long, value_name = "JSON", value_parser = parse_fault)]
    pub fault: Option<Fault>,
    /// Require `Authorization: Bearer KEY` (else 401 invalid_api_key).
    #[arg(long, value_name = "KEY")]
    pub require_key: Option<String>,
}

fn parse_fault(text: &str) -> Result<Fault, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

impl MockArgs {
    /// The behaviour these options describe.
    pub fn config(&self) -> MockConfig {
        let fault = match self.fault_status {
            Some(status) => Some(Fault::Status {
                status,
                retry_after: self.retry_after,
                body: None,
            }),
            None => self.fault.clone(),
        };
        MockConfig {
            name: self.name.clone(),
            latency_ms: self.latency_ms,
            chunks: self.chunks,
            chunk_delay_ms: self.chunk_delay_ms,
            fail_rate: self.fail_rate,
            fault,
            reply: self.reply.clone(),
            require_key: self.require_key.clone(),
            ..MockConfig::default()
        }
    }
}

/// Serves a mock provider on `args.listen` until Ctrl-C or SIGTERM.
pub async fn run(args: MockArgs) -> std::io::Result<()> {
    let server = MockServer::start_on(args.listen, args.config()).await?;
    tracing::info!(
        addr = %server.addr(),
        base_url = %server.base_url(),
        "mock provider listening"
    );
    shutdown_signal().await?;
    tracing::info!("mock provider stopping");
    drop(server);
    Ok(())
}

async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        mock: MockArgs,
    }

    #[test]
    fn args_map_to_config() {
        let cli = Cli::try_parse_from([
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--fault-status",
            "429",
            "--retry-after",
            "3",
            "--chunks",
            "20",
        ])
        .unwrap();
        let c = cli.mock.config();
        assert_eq!(c.chunks, 20);
        assert_eq!(
            c.fault,
            Some(Fault::Status {
                status: 429,
                retry_after: Some(3),
                body: None
            })
        );
        let cli = Cli::try_parse_from(["mock", "--fault", r#"{"type":"empty_body"}"#]).unwrap();
        assert_eq!(cli.mock.config().fault, Some(Fault::EmptyBody));
        assert_eq!(cli.mock.listen.port(), 9001);
        assert!(Cli::try_parse_from(["mock", "--retry-after", "3"]).is_err());
        assert!(Cli::try_parse_from(["mock", "--fault", "nope"]).is_err());
    }
}
