//! No request body makes the parser panic, and whatever it accepts builds a valid upstream body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = turnout_gateway::ingress::parse::parse_chat(data) {
        let body = input.upstream_body("upstream-model", input.stream);
        assert!(serde_json_is_valid(&body), "accepted request produced invalid upstream JSON");
    }
});

fn serde_json_is_valid(bytes: &[u8]) -> bool {
    serde_json::from_slice::<turnout_wire::chat::RawObject>(bytes).is_ok()
}
