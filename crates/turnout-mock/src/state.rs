//! Shared state of one mock provider: its behaviour (swappable at runtime) and its counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::{MockConfig, Prepared};

/// A snapshot of what a mock provider has seen.
///
/// Every chat request counts in `requests`; each then ends as `completed` (its response, error
/// statuses and injected faults included, was fully produced) or `cancelled` (the client went
/// away first: during the latency wait, a hang, or mid-stream), so
/// `requests == completed + cancelled + in flight`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MockStats {
    pub requests: u64,
    pub completed: u64,
    pub cancelled: u64,
    /// Response bodies being streamed right now (a live gauge, not reset by `reset_stats`).
    pub open_streams: u64,
    /// TCP connections accepted by the mock's own listener: a client that keeps its
    /// connections alive opens few.
    #[serde(default)]
    pub connections: u64,
    /// The last valid JSON body received on the chat endpoint.
    pub last_request: Option<serde_json::Value>,
    /// Path and query of the last chat request on the Azure and OpenRouter routes.
    #[serde(default)]
    pub last_path: Option<String>,
    /// The W3C `traceparent` header of the last chat request that carried one.
    #[serde(default)]
    pub last_traceparent: Option<String>,
}

/// Handle on a mock provider's state; cheap to clone. Pass it to [`crate::router`] to embed
/// the mock in another server.
#[derive(Clone)]
pub struct MockState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for MockState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockState")
            .field("config", &self.config())
            .field("stats", &self.stats())
            .finish()
    }
}

pub(crate) struct Inner {
    pub config: ArcSwap<Prepared>,
    requests: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
    open_streams: AtomicU64,
    connections: AtomicU64,
    /// Source of ids and of the fail-rate draws.
    sequence: AtomicU64,
    last_request: Mutex<Option<Bytes>>,
    last_path: Mutex<Option<String>>,
    last_traceparent: Mutex<Option<String>>,
}

impl MockState {
    pub fn new(config: MockConfig) -> MockState {
        MockState {
            inner: Arc::new(Inner {
                config: ArcSwap::from_pointee(Prepared::new(config)),
                requests: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                open_streams: AtomicU64::new(0),
                connections: AtomicU64::new(0),
                sequence: AtomicU64::new(0),
                last_request: Mutex::new(None),
                last_path: Mutex::new(None),
                last_traceparent: Mutex::new(None),
            }),
        }
    }

    /// The current behaviour.
    pub fn config(&self) -> MockConfig {
        self.inner.config.load().config.clone()
    }

    /// Replaces the behaviour for the requests that arrive from now on.
    pub fn set_config(&self, config: MockConfig) {
        self.inner.config.store(Arc::new(Prepared::new(config)));
    }

    pub fn stats(&self) -> MockStats {
        let last = self
            .inner
            .last_request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        MockStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            completed: self.inner.completed.load(Ordering::Relaxed),
            cancelled: self.inner.cancelled.load(Ordering::Relaxed),
            open_streams: self.inner.open_streams.load(Ordering::Relaxed),
            connections: self.inner.connections.load(Ordering::Relaxed),
            last_request: last.and_then(|body| serde_json::from_slice(&body).ok()),
            last_path: self
                .inner
                .last_path
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            last_traceparent: self
                .inner
                .last_traceparent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// Zeroes the counters and forgets the last request (`open_streams` stays: it is a gauge).
    pub fn reset_stats(&self) {
        self.inner.requests.store(0, Ordering::Relaxed);
        self.inner.completed.store(0, Ordering::Relaxed);
        self.inner.cancelled.store(0, Ordering::Relaxed);
        self.inner.connections.store(0, Ordering::Relaxed);
        let old = self
            .inner
            .last_request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(old);
        let path = self
            .inner
            .last_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(path);
    }

    /// Counts a connection accepted by the mock's listener.
    pub(crate) fn connection_accepted(&self) {
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request and returns the guard that will count how it ended.
    pub(crate) fn begin(&self) -> Outcome {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        Outcome {
            state: self.clone(),
            done: false,
            stream: false,
        }
    }

    pub(crate) fn remember_path(&self, uri: &axum::http::Uri) {
        let path = uri.path_and_query().map(ToString::to_string);
        *self
            .inner
            .last_path
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = path;
    }

    pub(crate) fn remember_traceparent(&self, value: &str) {
        *self
            .inner
            .last_traceparent
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(value.to_owned());
    }

    pub(crate) fn remember_request(&self, body: Bytes) {
        let old = self
            .inner
            .last_request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(body);
        drop(old);
    }

    /// A fresh number: unique per instance, scattered.
    pub(crate) fn next_id(&self) -> u64 {
        crate::reply::mix(self.inner.sequence.fetch_add(1, Ordering::Relaxed))
    }

    /// A deterministic draw in `[0, 1)`.
    pub(crate) fn draw(&self) -> f64 {
        let bits = crate::reply::mix(
            self.inner.sequence.fetch_add(1, Ordering::Relaxed) ^ 0x5eed_5eed_5eed_5eed,
        );
        (bits >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Counts how a request ended: dropped before [`Outcome::complete`] means cancelled.
pub(crate) struct Outcome {
    state: MockState,
    done: bool,
    stream: bool,
}

impl Outcome {
    pub fn complete(mut self) {
        self.finish();
    }

    pub fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.state.inner.completed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// From now on this request holds an open stream (counted in the gauge until dropped).
    pub fn open_stream(&mut self) {
        if !self.stream {
            self.stream = true;
            self.state
                .inner
                .open_streams
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if self.stream {
            self.state
                .inner
                .open_streams
                .fetch_sub(1, Ordering::Relaxed);
        }
        if !self.done {
            self.state.inner.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}
