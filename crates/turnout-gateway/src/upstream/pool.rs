//! Step 3: HTTP/1.1 connections to plain-HTTP upstreams (vLLM, Ollama, llama.cpp, a sidecar
//! or LAN proxy, the mock), each driven by the request that holds it rather than by a task of
//! its own.
//!
//! hyper-util's pooled client gives every connection a task of its own, so each request
//! crossed tasks twice (the request to the connection task, the response head back) and each
//! streamed chunk once more; every crossing is a wake-up, and across worker threads a futex.
//! Here a request leases an idle connection (or opens one), polls it itself while it waits for
//! the head and while it reads the body, and puts it back once the response is complete. A
//! lease dropped half-way (the client went away, a deadline passed) drops the connection,
//! which closes it: the upstream sees the cancellation at once, as before.
//!
//! HTTPS upstreams keep hyper-util's pooled client (TLS, and HTTP/2 where the upstream offers
//! it, which multiplexes and so needs a connection task).

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tower::Service;

use super::client::SendError;

type Conn = http1::Connection<TokioIo<tokio::net::TcpStream>, Full<Bytes>>;
type Sender = http1::SendRequest<Full<Bytes>>;

/// Idle connections kept per provider, at most (hyper-util's pool was set to the same).
const MAX_IDLE: usize = 1024;
/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Times a request is sent again after a reused connection turned out to be closed before
/// the request was written (the upstream timed it out meanwhile).
const STALE_RETRIES: usize = 2;

/// The connections of one provider. Only the provider's own origin is pooled; a request
/// elsewhere (no provider URL does that today) gets a connection of its own.
pub struct Http1Pool {
    connector: HttpConnector,
    authority: http::uri::Authority,
    host: http::HeaderValue,
    /// Most recently used last: leases take from the back (warm connections, fewer of them
    /// kept busy), expiry drops from the front.
    idle: Mutex<VecDeque<Idle>>,
}

impl std::fmt::Debug for Http1Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Pool")
            .field("authority", &self.authority)
            .field("idle", &self.idle.lock().map(|i| i.len()).unwrap_or(0))
            .finish_non_exhaustive()
    }
}

struct Idle {
    sender: Sender,
    /// Boxed once per connection: a connection's state (its buffers) is most of a kilobyte,
    /// and leases and bodies move.
    conn: Box<Conn>,
    since: Instant,
}

impl Http1Pool {
    pub(super) fn new(connector: HttpConnector, authority: http::uri::Authority) -> Self {
        let host = http::HeaderValue::from_str(authority.as_str())
            .unwrap_or_else(|_| http::HeaderValue::from_static("localhost"));
        Self {
            connector,
            authority,
            host,
            idle: Mutex::new(VecDeque::new()),
        }
    }

    /// Idle connections held right now (tests).
    pub fn idle_connections(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// Sends `req` (absolute URI) and resolves with the response head; the body drives the
    /// connection from there.
    pub async fn send(
        self: &Arc<Self>,
        mut req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<LeasedBody>, SendError> {
        let uri = req.uri().clone();
        let pooled = uri.authority() == Some(&self.authority);
        // HTTP/1.1 wants origin-form on the request line and the authority in `Host`.
        *req.uri_mut() = match uri.path_and_query() {
            Some(pq) => http::Uri::from(pq.clone()),
            None => http::Uri::from_static("/"),
        };
        if !req.headers().contains_key(http::header::HOST) {
            let host = match uri.authority() {
                _ if pooled => self.host.clone(),
                Some(a) => http::HeaderValue::from_str(a.as_str())
                    .map_err(|_| SendError::Connect(format!("bad authority in {uri}")))?,
                None => return Err(SendError::Connect(format!("no host in {uri}"))),
            };
            req.headers_mut().insert(http::header::HOST, host);
        }
        let mut retries = 0;
        loop {
            let (lease, reused) = match pooled.then(|| self.checkout()).flatten() {
                Some(lease) => (lease, true),
                None => (self.connect(&uri).await?, false),
            };
            match exchange(lease, req).await {
                Ok((resp, lease)) => {
                    let pool = pooled.then(|| Arc::clone(self));
                    return Ok(resp.map(|body| LeasedBody::new(body, lease, pool)));
                }
                Err(mut e) => match e.take_message() {
                    // Not written: safe to send again, on another connection.
                    Some(back) if reused && retries < STALE_RETRIES => {
                        retries += 1;
                        req = back;
                    }
                    _ => return Err(lost(e.error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<Lease> {
        loop {
            let mut idle = self.idle.lock().ok()?.pop_back()?;
            if idle.since.elapsed() > IDLE_TIMEOUT {
                // Everything older is staler still.
                let expired = std::mem::take(&mut *self.idle.lock().ok()?);
                drop(expired);
                return None;
            }
            // An upstream that closed the connection while it waited has sent its FIN; one
            // turn of the connection reads it. (The noop waker: no task is waiting on an idle
            // connection; the lease registers its own on the next poll.)
            let mut cx = Context::from_waker(Waker::noop());
            if Pin::new(&mut *idle.conn).poll(&mut cx).is_ready() || !idle.sender.is_ready() {
                continue;
            }
            return Some(Lease {
                sender: idle.sender,
                conn: Some(idle.conn),
            });
        }
    }

    fn put(&self, sender: Sender, conn: Box<Conn>) {
        let now = Instant::now();
        let mut dropped = Vec::new();
        if let Ok(mut idle) = self.idle.lock() {
            while idle
                .front()
                .is_some_and(|c| now.duration_since(c.since) > IDLE_TIMEOUT)
                || idle.len() >= MAX_IDLE
            {
                dropped.extend(idle.pop_front());
            }
            idle.push_back(Idle {
                sender,
                conn,
                since: now,
            });
        }
        // Closing sockets outside the lock.
        drop(dropped);
    }

    async fn connect(&self, uri: &http::Uri) -> Result<Lease, SendError> {
        let io = self
            .connector
            .clone()
            .call(uri.clone())
            .await
            .map_err(|e| SendError::Connect(error_chain(&e)))?;
        let (sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| SendError::Connect(error_chain(&e)))?;
        Ok(Lease {
            sender,
            conn: Some(Box::new(conn)),
        })
    }
}

/// A connection held by one request.
struct Lease {
    sender: Sender,
    /// `None` once the connection has finished (closed, or failed).
    conn: Option<Box<Conn>>,
}

impl Lease {
    /// One turn of the connection: writes what is queued, reads what has arrived.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(conn) = &mut self.conn
            && Pin::new(&mut **conn).poll(cx).is_ready()
        {
            self.conn = None;
        }
    }
}

type Exchanged = (http::Response<Incoming>, Lease);

/// Sends the request and drives the connection until the response head arrives.
async fn exchange(
    mut lease: Lease,
    req: http::Request<Full<Bytes>>,
) -> Result<Exchanged, hyper::client::conn::TrySendError<http::Request<Full<Bytes>>>> {
    // Queued now; written by the connection's next turn.
    let response = lease.sender.try_send_request(req);
    let mut response = std::pin::pin!(response);
    let head = poll_fn(|cx| {
        lease.drive(cx);
        // A connection that ended has answered the request's callback (with an error, if
        // there was no response), so this is ready then.
        response.as_mut().poll(cx)
    })
    .await?;
    Ok((head, lease))
}

fn lost(e: &hyper::Error) -> SendError {
    if e.is_canceled() || e.is_incomplete_message() || e.is_closed() {
        SendError::Lost
    } else {
        SendError::Protocol(error_chain(e))
    }
}

/// `error: cause: cause`, as the legacy client's errors were shown.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// A response body that drives its connection while it is read and returns the connection
/// to the pool once the response is complete.
pub struct LeasedBody {
    body: Incoming,
    lease: Option<Lease>,
    pool: Option<Arc<Http1Pool>>,
}

impl LeasedBody {
    fn new(body: Incoming, lease: Lease, pool: Option<Arc<Http1Pool>>) -> Self {
        Self {
            body,
            lease: Some(lease),
            pool,
        }
    }

    /// The response is complete: one more turn lets the connection close the message and
    /// wait for the next, then it goes back to the pool. Polled with the noop waker: an idle
    /// connection wakes nobody.
    fn release(&mut self) {
        let Some(mut lease) = self.lease.take() else {
            return;
        };
        let Some(pool) = &self.pool else {
            return;
        };
        let mut cx = Context::from_waker(Waker::noop());
        lease.drive(&mut cx);
        if let Some(conn) = lease.conn
            && lease.sender.is_ready()
        {
            pool.put(lease.sender, conn);
        }
    }
}

impl Body for LeasedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        // What the connection has already read first; otherwise one turn of the connection
        // (it reads the socket into the body's channel) and a second look.
        for turn in 0..2 {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(None) => {
                    this.release();
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(frame)) => return Poll::Ready(Some(frame)),
                Poll::Pending if turn == 0 => match &mut this.lease {
                    Some(lease) => lease.drive(cx),
                    None => return Poll::Pending,
                },
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A reader that stops early (a stream at `data: [DONE]`, before the chunked terminator is
/// taken from the body) leaves a connection that may already have the whole response: take
/// what is buffered without waiting and reuse the connection if that completes the response.
/// Otherwise the connection is dropped with the body, which closes it.
impl Drop for LeasedBody {
    fn drop(&mut self) {
        if self.lease.is_none() || self.pool.is_none() {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..4 {
            match Pin::new(&mut self.body).poll_frame(&mut cx) {
                Poll::Ready(None) => {
                    self.release();
                    return;
                }
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(Some(Err(_))) => return,
                Poll::Pending => match &mut self.lease {
                    Some(lease) if lease.conn.is_some() => lease.drive(&mut cx),
                    _ => return,
                },
            }
        }
    }
}
