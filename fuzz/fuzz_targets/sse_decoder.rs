//! The SSE decoder never panics and gives the same events however the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use turnout_wire::sse::SseDecoder;

fn decode(parts: &[&[u8]]) -> Vec<(Option<String>, String)> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    for p in parts {
        d.push(p);
        while let Some(e) = d.next_event() {
            out.push((e.event, e.data));
        }
    }
    while let Some(e) = d.finish() {
        out.push((e.event, e.data));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    assert_eq!(decode(&[data]), decode(&[&data[..cut], &data[cut..]]));
});
