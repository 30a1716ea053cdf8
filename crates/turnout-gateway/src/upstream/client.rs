//! Step 3: the one place that builds upstream HTTP clients (one pooled client per provider).

use std::sync::Once;
use std::time::Duration;

use turnout_config::ResolvedTimeouts;

static CRYPTO: Once = Once::new();

/// rustls needs a process-wide crypto provider; ring keeps aws-lc out of the build.
pub fn install_crypto_provider() {
    CRYPTO.call_once(|| {
        // Another component may already have installed one; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A keep-alive pool per provider; HTTP/2 is negotiated by ALPN where the upstream offers it.
#[allow(clippy::disallowed_methods)] // the one place clients are built
pub fn build_client(timeouts: &ResolvedTimeouts) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(30))
        .http2_adaptive_window(true)
        // LLM APIs do not redirect POSTs; following redirects costs per request.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("turnout/", env!("CARGO_PKG_VERSION")))
        .build()
}
