//! The log sink: formatted lines are appended to a shared buffer that one thread writes to
//! stderr every few milliseconds, or sooner once a batch has piled up.
//!
//! A channel per line (tracing-appender's) woke its writer thread for nearly every line: at
//! 10k requests/s that thread spun, yielded and parked about once per request. Appending to a
//! buffer under a mutex costs a copy; the writer wakes on its own clock. Lines reach stderr at
//! most [`INTERVAL`] late; a killed process loses at most that much log. Past [`MAX_PENDING`]
//! bytes lines are dropped (and counted in the next batch) rather than requests slowed.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait for its batch.
const INTERVAL: Duration = Duration::from_millis(20);
/// A batch this large is written at once rather than at the next tick.
const EAGER_BYTES: usize = 64 * 1024;
/// Bytes waiting at most; beyond, lines are dropped.
const MAX_PENDING: usize = 8 * 1024 * 1024;

struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Set when a writer has woken the thread for a large batch, so only one wakes it.
    woken: AtomicBool,
    stopping: AtomicBool,
    dropped: AtomicU64,
}

/// `MakeWriter` for the fmt layer: each formatted event arrives as one `write` call.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
    thread: std::thread::Thread,
}

/// Writes what is pending and stops the thread when dropped (at the end of `main`).
pub struct Guard {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

/// Starts the writer thread over `out`.
pub fn start<W: Write + Send + 'static>(out: W) -> std::io::Result<(BatchWriter, Guard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(EAGER_BYTES * 2)),
        woken: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    let handle = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || run(&shared, out))?
    };
    let writer = BatchWriter {
        shared: shared.clone(),
        thread: handle.thread().clone(),
    };
    Ok((
        writer,
        Guard {
            shared,
            handle: Some(handle),
        },
    ))
}

fn run<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::with_capacity(EAGER_BYTES * 2);
    loop {
        let stopping = shared.stopping.load(Ordering::Acquire);
        if let Ok(mut pending) = shared.pending.lock() {
            std::mem::swap(&mut *pending, &mut batch);
        }
        shared.woken.store(false, Ordering::Release);
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(
                batch,
                "turnout: {dropped} log lines dropped (the log sink could not keep up)"
            );
        }
        if !batch.is_empty() {
            // stderr closed or full: nothing better to do with the lines.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            // A burst may leave a huge buffer behind; don't keep it for good.
            batch.shrink_to(EAGER_BYTES * 2);
        }
        if stopping {
            return;
        }
        std::thread::park_timeout(INTERVAL);
    }
}

impl Write for BatchWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let len = {
            let Ok(mut pending) = self.shared.pending.lock() else {
                return Ok(line.len());
            };
            if pending.len() + line.len() > MAX_PENDING {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(line.len());
            }
            pending.extend_from_slice(line);
            pending.len()
        };
        if len >= EAGER_BYTES && !self.shared.woken.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A `Write` the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_in_order_within_the_interval_and_all_on_stop() {
        let sink = Sink::default();
        let (mut w, guard) = start(sink.clone()).unwrap();
        w.write_all(b"one\n").unwrap();
        w.write_all(b"two\n").unwrap();
        let deadline = std::time::Instant::now() + INTERVAL * 10;
        while sink.0.lock().unwrap().as_slice() != b"one\ntwo\n" {
            assert!(std::time::Instant::now() < deadline, "lines not written");
            std::thread::sleep(Duration::from_millis(2));
        }
        for i in 0..1000 {
            writeln!(w, "line {i}").unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1002);
        assert_eq!(lines[1001], "line 999");
    }

    #[test]
    fn a_full_sink_drops_lines_and_says_how_many() {
        // No writer thread: nothing drains while the buffer fills.
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::new()),
            woken: AtomicBool::new(false),
            stopping: AtomicBool::new(true),
            dropped: AtomicU64::new(0),
        });
        let mut w = BatchWriter {
            shared: shared.clone(),
            thread: std::thread::current(),
        };
        let line = [b'x'; 1024];
        for _ in 0..(MAX_PENDING / 1024 + 10) {
            w.write_all(&line).unwrap();
        }
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 10);
        let sink = Sink::default();
        run(&shared, sink.clone());
        let written = sink.0.lock().unwrap().clone();
        assert_eq!(written.len() - MAX_PENDING, written[MAX_PENDING..].len());
        assert_eq!(
            String::from_utf8_lossy(&written[MAX_PENDING..]),
            "turnout: 10 log lines dropped (the log sink could not keep up)\n"
        );
    }
}
