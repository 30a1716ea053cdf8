//! Step 3: the one place that builds upstream HTTP clients (one pool per provider).
//!
//! Plain-HTTP providers get [`pool::Http1Pool`](super::pool): HTTP/1.1 connections driven by
//! the requests that lease them. HTTPS providers get hyper-util's pooled client with rustls
//! (ring), HTTP/2 where the upstream offers it. Both rather than reqwest: reqwest parses each
//! request's URL twice and runs a redirect layer, which callgrind put at ~13% of the gateway's
//! instructions per request. Nothing here needs what reqwest adds.

use std::pin::Pin;
use std::sync::{Arc, Once};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use turnout_config::ResolvedTimeouts;

use super::pool::{Http1Pool, LeasedBody};

pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why a request got no response head.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Refused, reset, DNS, TLS or the connect deadline.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The connection closed before a response came.
    #[error("connection lost")]
    Lost,
    /// The upstream answered something that is not HTTP.
    #[error("connection lost: {0}")]
    Protocol(String),
}

impl SendError {
    pub fn is_connect(&self) -> bool {
        matches!(self, SendError::Connect(_))
    }
}

/// A provider's connections: the HTTP/1.1 pool for `http://` base URLs, the pooled client
/// for `https://` ones.
#[derive(Debug, Clone)]
pub enum Upstream {
    Plain(Arc<Http1Pool>),
    Tls(Box<HttpClient>),
}

impl Upstream {
    /// The connections of a provider whose requests go to `base`.
    pub fn for_base(base: &http::Uri, timeouts: &ResolvedTimeouts) -> std::io::Result<Upstream> {
        // Other rustls users of the process (database and SMTP TLS, the test suites' reqwest
        // clients) rely on the provider being installed once a catalog exists, TLS upstream or
        // not.
        install_crypto_provider();
        match (base.scheme_str(), base.authority()) {
            (Some("http"), Some(authority)) => Ok(Upstream::Plain(Arc::new(Http1Pool::new(
                connector(timeouts, true),
                authority.clone(),
            )))),
            _ => build_client(timeouts).map(|c| Upstream::Tls(Box::new(c))),
        }
    }

    pub async fn request(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<UpstreamBody>, SendError> {
        match self {
            // Boxed: the exchange's state is over a kilobyte, and every future that awaits a
            // request (the handler's, the stream's plan) would otherwise carry it inline and be
            // copied whole when boxed itself.
            Upstream::Plain(pool) => Ok(Box::pin(pool.send(req))
                .await?
                .map(|b| UpstreamBody(BodyKind::Leased(b)))),
            Upstream::Tls(client) => match client.request(req).await {
                Ok(resp) => Ok(resp.map(|b| UpstreamBody(BodyKind::Pooled(b)))),
                Err(e) if e.is_connect() => Err(SendError::Connect(
                    std::error::Error::source(&e)
                        .map_or_else(|| e.to_string(), ToString::to_string),
                )),
                Err(_) => Err(SendError::Lost),
            },
        }
    }
}

/// An upstream response body, from either kind of pool.
pub struct UpstreamBody(BodyKind);

enum BodyKind {
    Leased(LeasedBody),
    Pooled(Incoming),
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.0 {
            BodyKind::Leased(b) => Pin::new(b).poll_frame(cx),
            BodyKind::Pooled(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            BodyKind::Leased(b) => b.is_end_stream(),
            BodyKind::Pooled(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            BodyKind::Leased(b) => b.size_hint(),
            BodyKind::Pooled(b) => b.size_hint(),
        }
    }
}

fn connector(timeouts: &ResolvedTimeouts, enforce_http: bool) -> HttpConnector {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(timeouts.connect));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(30)));
    http.enforce_http(enforce_http);
    http
}

static CRYPTO: Once = Once::new();

/// rustls needs a process-wide crypto provider for clients built without an explicit one
/// (the test suites' reqwest clients); ring keeps aws-lc out of the build.
pub fn install_crypto_provider() {
    CRYPTO.call_once(|| {
        // Another component may already have installed one; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A keep-alive pool per provider; HTTP/2 is negotiated by ALPN where the upstream offers it;
/// TLS certificates are checked by the platform verifier.
#[allow(clippy::disallowed_methods)] // the one place clients are built
pub fn build_client(timeouts: &ResolvedTimeouts) -> std::io::Result<HttpClient> {
    install_crypto_provider();
    let http = connector(timeouts, false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_platform_verifier(Arc::new(rustls::crypto::ring::default_provider()))?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(https))
}

/// A JSON POST to the provider's chat endpoint, with its configured headers (auth included;
/// they may override ours). Streams ask for `text/event-stream`.
pub fn json_post(
    provider: &crate::routing::catalog::Provider,
    body: Vec<u8>,
    stream: bool,
) -> http::Request<Full<Bytes>> {
    let mut req = http::Request::new(Full::new(Bytes::from(body)));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = provider.chat_uri.clone();
    let h = req.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if stream {
        h.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("text/event-stream"),
        );
    }
    for (name, value) in &provider.headers {
        h.insert(name.clone(), value.clone());
    }
    req
}

/// The client alert webhooks are posted with: the upstream client's TLS and connector
/// settings, in a pool of its own so deliveries never hold upstream connections. Redirects are
/// not followed (a webhook's 3xx is a failed delivery).
pub fn build_webhook_client(connect: Duration) -> std::io::Result<HttpClient> {
    build_client(&ResolvedTimeouts {
        connect,
        ..ResolvedTimeouts::default()
    })
}

/// The client OpenTelemetry spans are exported with (`[telemetry]`): the upstream client's
/// TLS and connector settings, in a pool of its own so exports never hold upstream
/// connections; connecting may take at most the export timeout.
pub fn build_otlp_client(export_timeout: Duration) -> std::io::Result<HttpClient> {
    build_client(&ResolvedTimeouts {
        connect: export_timeout,
        ..ResolvedTimeouts::default()
    })
}

/// The JSON body of a request built for an upstream (adapter tests).
#[cfg(test)]
#[allow(clippy::expect_used)]
pub(crate) fn sent_json(req: http::Request<Full<Bytes>>) -> serde_json::Value {
    let bytes =
        futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(req.into_body()))
            .expect("ready")
            .expect("body")
            .to_bytes();
    serde_json::from_slice(&bytes).expect("json")
}
