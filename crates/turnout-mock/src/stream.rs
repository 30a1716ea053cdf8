//! Response bodies sent in pieces: SSE streams paced by `chunk_delay_ms`, and bodies that
//! stall or drop the connection part-way. Dropping the body before its end counts a
//! cancellation.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::reply::RenderedStream;
use crate::state::Outcome;

/// How a body ends once its frames are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Normally.
    Finish,
    /// It never does: the connection stays open and silent.
    Stall,
    /// The connection is cut (the body fails, so the server aborts it).
    Drop,
}

pub(crate) struct Paced {
    frames: std::vec::IntoIter<Bytes>,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
    started: bool,
    end: End,
    /// For `End::Drop`: one pending poll so the server flushes what was sent before the cut.
    flushed: bool,
    outcome: Outcome,
    done: bool,
}

impl Paced {
    /// Frames sent one after another, each but the first after `delay`.
    pub fn new(frames: Vec<Bytes>, delay: Duration, end: End, mut outcome: Outcome) -> Paced {
        outcome.open_stream();
        Paced {
            frames: frames.into_iter(),
            delay,
            sleep: None,
            armed: false,
            started: false,
            end,
            flushed: false,
            outcome,
            done: false,
        }
    }
}

/// Splits a rendered stream into frames: its first `upto` events, cut before every content
/// event when `paced` (so each content chunk goes out after its delay), else in one frame.
pub(crate) fn frames(stream: &RenderedStream, upto: usize, paced: bool) -> Vec<Bytes> {
    let upto = upto.min(stream.ends.len());
    let end_of = |event: usize| -> usize {
        event
            .checked_sub(1)
            .and_then(|i| stream.ends.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut out = Vec::with_capacity(if paced { stream.content + 2 } else { 1 });
    let mut start = 0;
    if paced {
        for event in 1..=stream.content.min(upto.saturating_sub(1)) {
            let begin = end_of(event);
            if begin > start {
                out.push(stream.buf.slice(start..begin));
                start = begin;
            }
        }
    }
    let end = end_of(upto);
    if end > start {
        out.push(stream.buf.slice(start..end));
    }
    out
}

impl Stream for Paced {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.frames.len() > 0 {
            if this.started && !this.delay.is_zero() {
                let deadline = Instant::now() + this.delay;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.armed {
                    sleep.as_mut().reset(deadline);
                    this.armed = true;
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.armed = false;
            }
            this.started = true;
            return Poll::Ready(this.frames.next().map(Ok));
        }
        match this.end {
            End::Finish => {
                this.done = true;
                this.outcome.finish();
                Poll::Ready(None)
            }
            // Never woken: the body stays pending until the client (or the server) drops it.
            End::Stall => Poll::Pending,
            End::Drop if !this.flushed => {
                this.flushed = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            End::Drop => {
                this.done = true;
                this.outcome.finish();
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "mock fault: connection dropped",
                ))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MockConfig;
    use crate::reply::{Meta, build_reply, render_stream};

    fn rendered(chunks: usize, usage: bool) -> RenderedStream {
        let config = MockConfig {
            chunks,
            ..MockConfig::default()
        };
        let meta = Meta {
            id: 1,
            created: 2,
            model: "m",
            fingerprint_json: "\"f\"",
            prompt_tokens: 1,
            extras: crate::reply::Extras::default(),
        };
        render_stream(&meta, &build_reply(&config, 0, None), usage)
    }

    #[test]
    fn frames_split_before_content() {
        let s = rendered(3, true);
        // role, 3 content, finish, usage, done
        assert_eq!(s.ends.len(), 7);
        let all = frames(&s, s.ends.len(), false);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0], s.buf);
        let paced = frames(&s, s.ends.len(), true);
        assert_eq!(paced.len(), 4);
        assert_eq!(paced.concat(), s.buf.to_vec());
        assert!(paced[3].ends_with(b"data: [DONE]\n\n"));
        // Two content chunks, paced: role | c1 | c2.
        let cut = frames(&s, 3, true);
        assert_eq!(cut.len(), 3);
        assert_eq!(cut.concat(), s.buf[..s.ends[2]].to_vec());
        assert_eq!(frames(&s, 1, true).len(), 1);
        assert!(frames(&s, 0, true).is_empty());
    }
}
