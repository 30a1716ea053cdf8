//! Step 5: generation records and their charges reach the database through one bounded,
//! batched writer (group commit). Whatever is queued when a commit starts goes in that
//! commit, so the window a hard crash can lose is one commit's duration. A full queue makes
//! producers wait; nothing is dropped. A failed commit is retried with the same batch, which
//! is safe because a generation is written (and charged) at most once.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use turnout_store::{Generation, Store};

/// Records waiting for a commit; beyond this, producers wait.
const QUEUE: usize = 16_384;
/// Records per transaction, at most.
const BATCH: usize = 2_048;
/// How long a commit waits for company. Each commit rewrites every index page it touches
/// (generation ids arrive in no order within a second), so fewer, larger commits cut the
/// writer's CPU per record; 25 ms plus the commit stays inside the 50 ms a crash may lose
/// (DESIGN.md §4).
const GATHER: Duration = Duration::from_millis(25);

enum Message {
    Record(Box<Generation>),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Record(g) => write!(f, "Record({})", g.id),
            Message::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl Writer {
    pub fn start(store: Store) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        Writer { tx }
    }

    /// Queues a record, waiting while the queue is full.
    pub async fn submit(&self, g: Generation) {
        if self.tx.send(Message::Record(Box::new(g))).await.is_err() {
            tracing::error!("generation writer stopped; a record was not written");
        }
    }

    /// Queues a record from a place that cannot wait (a dropped stream): when the queue is
    /// full, a task waits for room instead.
    pub fn submit_detached(&self, g: Generation) {
        match self.tx.try_send(Message::Record(Box::new(g))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(m)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if tx.send(m).await.is_err() {
                        tracing::error!("generation writer stopped; a record was not written");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("generation writer stopped; a record was not written");
            }
        }
    }

    /// Resolves when everything queued before it is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Message>) {
    let mut batch: Vec<Generation> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut next = Some(first);
        let mut gathered = false;
        loop {
            while let Some(m) = next.take() {
                match m {
                    Message::Record(g) => batch.push(*g),
                    Message::Flush(done) => waiting.push(done),
                }
                if batch.len() < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            // A flush is waited on: commit now.
            if gathered || !waiting.is_empty() || batch.len() >= BATCH {
                break;
            }
            gathered = true;
            tokio::time::sleep(GATHER).await;
            next = rx.try_recv().ok();
        }
        commit(&store, &batch).await;
        metrics::counter!("turnout_generation_records_written_total").increment(batch.len() as u64);
        batch.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Commits the batch, retrying until the database takes it.
async fn commit(store: &Store, batch: &[Generation]) {
    let mut wait = Duration::from_millis(50);
    loop {
        match store.write_generations(batch).await {
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), retry_in_ms = wait.as_millis() as u64,
                    "cannot write generation records; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}
