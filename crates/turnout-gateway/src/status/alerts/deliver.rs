//! Sending notifications, off the request path: a bounded queue drained by a worker that
//! runs a few deliveries at once, each tried up to `max_attempts` times with exponential
//! backoff and jitter on 5xx, 429, timeouts and network errors (4xx and 3xx are final).
//! Webhooks go through the gateway's HTTP client builder; email through SMTP with lettre.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use metrics::counter;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, mpsc};
use turnout_config::ChannelKind;

use super::payload::Email;
use super::sign;
use crate::upstream::client::HttpClient;

pub const DELIVERIES: &str = "turnout_alert_deliveries_total";
pub const ATTEMPTS: &str = "turnout_alert_delivery_attempts_total";
/// Deliveries in flight at once (each may be waiting out a backoff).
const CONCURRENT: usize = 4;

/// How hard one delivery tries (`[status.alerts]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub backoff_max: Duration,
}

/// What goes out on one channel.
#[derive(Debug, Clone)]
pub enum Content {
    /// A JSON POST; signed when the channel has a secret.
    Http {
        url: SecretString,
        body: Bytes,
        secret: Option<SecretString>,
    },
    Email {
        smtp_url: SecretString,
        from: String,
        to: Vec<String>,
        email: Email,
    },
}

#[derive(Debug, Clone)]
pub struct Job {
    /// The same on every attempt, so receivers can drop duplicates.
    pub delivery_id: String,
    pub event: &'static str,
    pub channel: String,
    pub kind: ChannelKind,
    pub content: Content,
    pub policy: RetryPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt: 5xx, 429, a timeout, the network.
    Retryable(String),
    Permanent(String),
}

impl Failure {
    fn text(&self) -> &str {
        match self {
            Failure::Retryable(t) | Failure::Permanent(t) => t,
        }
    }
}

/// The wait before retry `n` (1 = the first retry): `backoff × 2ⁿ⁻¹` capped at
/// `backoff_max`, then moved by `jitter` ∈ [-1, 1] times 20 %.
pub fn backoff(policy: &RetryPolicy, n: u32, jitter: f64) -> Duration {
    let base = policy
        .backoff
        .saturating_mul(2u32.saturating_pow(n.saturating_sub(1)))
        .min(policy.backoff_max);
    base.mul_f64((1.0 + 0.2 * jitter.clamp(-1.0, 1.0)).max(0.0))
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn post(
    client: &HttpClient,
    job: &Job,
    url: &str,
    body: &Bytes,
    secret: Option<&SecretString>,
) -> Result<(), Failure> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| Failure::Permanent("the channel URL is not a valid URI".into()))?;
    let mut req = http::Request::new(Full::new(body.clone()));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static("Turnout-Alerts/1"),
    );
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    put("x-turnout-event", job.event);
    put("x-turnout-delivery", &job.delivery_id);
    if let Some(secret) = secret {
        // Signed at each attempt: a retry carries a fresh timestamp.
        let t = now_s();
        put(sign::TIMESTAMP_HEADER, &t.to_string());
        put(
            sign::SIGNATURE_HEADER,
            &sign::signature(secret.expose_secret().as_bytes(), t, body),
        );
    }
    match tokio::time::timeout(job.policy.timeout, client.request(req)).await {
        Err(_) => Err(Failure::Retryable(format!(
            "no answer within {} ms",
            job.policy.timeout.as_millis()
        ))),
        Ok(Err(e)) => Err(Failure::Retryable(format!("request failed: {e}"))),
        Ok(Ok(resp)) => {
            let status = resp.status();
            if status.is_success() {
                Ok(())
            } else if status.is_server_error() || status.as_u16() == 429 {
                Err(Failure::Retryable(format!("HTTP {}", status.as_u16())))
            } else {
                Err(Failure::Permanent(format!("HTTP {}", status.as_u16())))
            }
        }
    }
}

async fn mail(
    job: &Job,
    smtp_url: &str,
    from: &str,
    to: &[String],
    email: &Email,
) -> Result<(), Failure> {
    let bad = |what: &str, e: &dyn std::fmt::Display| Failure::Permanent(format!("{what}: {e}"));
    let from: Mailbox = from.parse().map_err(|e| bad("from", &e))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}>", email.message_id)));
    for address in to {
        builder = builder.to(address.parse().map_err(|e| bad("to", &e))?);
    }
    if let Some(first) = &email.in_reply_to {
        builder = builder
            .in_reply_to(format!("<{first}>"))
            .references(format!("<{first}>"));
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| bad("message", &e))?;
    // The URL may hold a password: never in a message.
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
        .map_err(|_| Failure::Permanent("the smtp_url cannot be used".into()))?
        .timeout(Some(job.policy.timeout))
        .build();
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(Failure::Permanent(format!("SMTP: {e}"))),
        Err(e) => Err(Failure::Retryable(format!("SMTP: {e}"))),
    }
}

/// One attempt.
pub async fn attempt(client: &HttpClient, job: &Job) -> Result<(), Failure> {
    match &job.content {
        Content::Http { url, body, secret } => {
            post(client, job, url.expose_secret(), body, secret.as_ref()).await
        }
        Content::Email {
            smtp_url,
            from,
            to,
            email,
        } => mail(job, smtp_url.expose_secret(), from, to, email).await,
    }
}

/// How one delivery ended: the log line and the metrics, together.
struct Delivered<'a> {
    job: &'a Job,
    attempts: u32,
    outcome: Result<(), Failure>,
}

impl Delivered<'_> {
    fn emit(&self) {
        let (kind, channel) = (self.job.kind.as_str(), self.job.channel.clone());
        match &self.outcome {
            Ok(()) => {
                counter!(DELIVERIES, "channel" => channel, "kind" => kind, "outcome" => "delivered")
                    .increment(1);
                tracing::info!(channel = %self.job.channel, kind, event = self.job.event,
                    delivery = %self.job.delivery_id, attempts = self.attempts, "alert delivered");
            }
            Err(failure) => {
                counter!(DELIVERIES, "channel" => channel, "kind" => kind, "outcome" => "failed")
                    .increment(1);
                tracing::warn!(channel = %self.job.channel, kind, event = self.job.event,
                    delivery = %self.job.delivery_id, attempts = self.attempts,
                    error = failure.text(), "alert delivery failed");
            }
        }
    }
}

/// Every attempt of one delivery; `true` when it got through.
pub async fn deliver(client: &HttpClient, job: &Job) -> bool {
    let max = job.policy.max_attempts.max(1);
    let mut n = 0;
    loop {
        n += 1;
        let outcome = attempt(client, job).await;
        let result = match &outcome {
            Ok(()) => "ok",
            Err(Failure::Retryable(_)) => "retryable",
            Err(Failure::Permanent(_)) => "permanent",
        };
        counter!(ATTEMPTS, "kind" => job.kind.as_str(), "result" => result).increment(1);
        match outcome {
            Err(Failure::Retryable(why)) if n < max => {
                let wait = backoff(&job.policy, n, rand::random::<f64>() * 2.0 - 1.0);
                tracing::debug!(channel = %job.channel, attempt = n, error = %why,
                    wait_ms = wait.as_millis() as u64, "alert delivery will be retried");
                tokio::time::sleep(wait).await;
            }
            outcome => {
                let ok = outcome.is_ok();
                Delivered {
                    job,
                    attempts: n,
                    outcome,
                }
                .emit();
                return ok;
            }
        }
    }
}

/// The bounded queue in front of the worker.
#[derive(Debug, Clone)]
pub struct Queue {
    tx: mpsc::Sender<Job>,
}

impl Queue {
    /// Starts the worker (on the current tokio runtime); it ends when every `Queue` is dropped.
    pub fn start(capacity: usize, client: HttpClient) -> Queue {
        let (tx, mut rx) = mpsc::channel::<Job>(capacity.max(1));
        let client = Arc::new(client);
        let slots = Arc::new(Semaphore::new(CONCURRENT));
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let client = client.clone();
                tokio::spawn(async move {
                    deliver(&client, &job).await;
                    drop(slot);
                });
            }
        });
        Queue { tx }
    }

    /// Queues a delivery; a full queue drops it (counted and logged) rather than wait.
    pub fn push(&self, job: Job) -> bool {
        match self.tx.try_send(job) {
            Ok(()) => true,
            Err(e) => {
                let job = match e {
                    mpsc::error::TrySendError::Full(job)
                    | mpsc::error::TrySendError::Closed(job) => job,
                };
                counter!(DELIVERIES, "channel" => job.channel.clone(), "kind" => job.kind.as_str(), "outcome" => "dropped")
                    .increment(1);
                tracing::warn!(channel = %job.channel, event = job.event, "alert dropped: the delivery queue is full");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
