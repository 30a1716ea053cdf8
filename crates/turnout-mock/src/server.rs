//! A running mock provider: a listener with a deep backlog, one task per connection, and
//! shutdown on drop that closes every connection (hanging and stalled ones included).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::MockConfig;
use crate::handlers::router;
use crate::state::{MockState, MockStats};

/// Accept backlog: a burst of 1,000 new connections must not overflow it.
const BACKLOG: u32 = 8192;

/// A mock provider serving on `127.0.0.1:<port>` (HTTP/1.1 and h2c). Dropping it stops the
/// listener and closes every open connection abruptly.
pub struct MockServer {
    state: MockState,
    addr: SocketAddr,
    task: JoinHandle<()>,
    /// Dropped with the server: connection tasks watch it and close their connection.
    _shutdown: watch::Sender<()>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl MockServer {
    /// Starts a mock on `127.0.0.1` with a port chosen by the OS.
    pub async fn start(config: MockConfig) -> std::io::Result<MockServer> {
        MockServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a mock on `addr`.
    pub async fn start_on(addr: SocketAddr, config: MockConfig) -> std::io::Result<MockServer> {
        let state = MockState::new(config);
        MockServer::start_with(addr, state).await
    }

    /// Starts serving an existing state (to share counters with an embedded router).
    pub async fn start_with(addr: SocketAddr, state: MockState) -> std::io::Result<MockServer> {
        let listener = listen(addr)?;
        let addr = listener.local_addr()?;
        let (shutdown, watch) = watch::channel(());
        let app = router(state.clone());
        let task = tokio::spawn(accept_loop(listener, app, state.clone(), watch));
        tracing::debug!(%addr, "mock provider listening");
        Ok(MockServer {
            state,
            addr,
            task,
            _shutdown: shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, as an OpenAI SDK takes it.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1beta`, as a Gemini provider's `base_url`.
    pub fn gemini_base_url(&self) -> String {
        format!("http://{}/v1beta", self.addr)
    }

    /// `http://127.0.0.1:PORT`, as an Azure OpenAI resource URL (deployments under
    /// `/openai/deployments/`).
    pub fn azure_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/openai/v1`, Azure OpenAI's v1 API.
    pub fn azure_v1_base_url(&self) -> String {
        format!("http://{}/openai/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/v1`, as OpenRouter's base URL.
    pub fn openrouter_base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    pub fn state(&self) -> &MockState {
        &self.state
    }

    pub fn stats(&self) -> MockStats {
        self.state.stats()
    }

    pub fn config(&self) -> MockConfig {
        self.state.config()
    }

    pub fn set_config(&self, config: MockConfig) {
        self.state.set_config(config);
    }

    pub fn reset_stats(&self) {
        self.state.reset_stats();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    state: MockState,
    shutdown: watch::Receiver<()>,
) {
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "mock: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        state.connection_accepted();
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "mock: cannot set TCP_NODELAY");
        }
        let builder = Arc::clone(&builder);
        let service = TowerToHyperService::new(app.clone());
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "mock: connection ended with an error");
                    }
                }
                // The server was dropped: close this connection now.
                _ = shutdown.changed() => {}
            }
        });
    }
}

/// A loopback port that refuses every connection for as long as this value lives.
///
/// Binding and dropping a listener to find a free port races with other tests: the OS may
/// hand the port to the next mock that starts. A socket that is bound but never listens keeps
/// the port reserved while the kernel answers each connection attempt with a reset.
#[derive(Debug)]
pub struct RefusingPort {
    _socket: TcpSocket,
    port: u16,
}

impl RefusingPort {
    pub fn new() -> std::io::Result<RefusingPort> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let port = socket.local_addr()?.port();
        Ok(RefusingPort {
            _socket: socket,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>/v1`, the shape of a provider base URL.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}
