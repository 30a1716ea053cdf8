//! Translation tests driven by `shared/fixtures/anthropic/` (snapshots with insta).

use serde_json::{Value, json};

use super::*;
use crate::sse::SseDecoder;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/anthropic/"
);

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}")).expect("fixture")
}

/// A fixture as the SSE bytes Anthropic sends: `*.chunks.txt` hold one data payload per
/// line and are rebuilt as `event: {type}\ndata: {line}\n\n` (spec §A.4).
fn sse_fixture(name: &str) -> String {
    let text = fixture(name);
    if !name.ends_with(".chunks.txt") {
        return text;
    }
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("chunk line is JSON");
        let kind = v["type"].as_str().expect("type");
        out.push_str(&format!("event: {kind}\ndata: {line}\n\n"));
    }
    out
}

fn translate(body: Value) -> Value {
    translate_with(body, 4096)
}

fn translate_with(body: Value, default_max_tokens: u64) -> Value {
    let Value::Object(map) = body else {
        panic!("object")
    };
    let req = request_from_openai(
        &map,
        RequestOptions {
            model: "claude-up",
            default_max_tokens,
            stream: false,
        },
    )
    .expect("translates");
    serde_json::to_value(req).expect("serializes")
}

fn translate_err(body: Value) -> String {
    let Value::Object(map) = body else {
        panic!("object")
    };
    request_from_openai(
        &map,
        RequestOptions {
            model: "m",
            default_max_tokens: 10,
            stream: false,
        },
    )
    .expect_err("refused")
    .to_string()
}

/// Every step of a stream, in a form worth snapshotting, plus the final usage.
fn run_stream(sse: &[&[u8]]) -> (Vec<Value>, Option<Usage>) {
    let mut d = SseDecoder::new();
    let mut state = StreamState::new();
    let mut steps = Vec::new();
    let handle = |data: String, state: &mut StreamState, steps: &mut Vec<Value>| match state
        .on_event(&data)
    {
        Ok(StreamStep::Nothing) => {}
        Ok(StreamStep::Stop) => steps.push(json!("stop")),
        Ok(StreamStep::Delta(c)) => steps.push(json!({
            "delta": serde_json::from_str::<Value>(&c.delta).expect("delta is JSON"),
            "finish_reason": c.finish_reason,
            "native_finish_reason": c.native_finish_reason,
            "content": c.content,
        })),
        Err(e) => steps.push(json!({ "error": e.to_string() })),
    };
    for piece in sse {
        d.push(piece);
        while let Some(e) = d.next_event() {
            handle(e.data, &mut state, &mut steps);
        }
    }
    while let Some(e) = d.finish() {
        handle(e.data, &mut state, &mut steps);
    }
    (steps, state.usage())
}

fn stream_snapshot(name: &str) -> Value {
    let (steps, usage) = run_stream(&[sse_fixture(name).as_bytes()]);
    json!({ "steps": steps, "usage": usage })
}

// ---- requests ----

#[test]
fn request_text_only_gets_a_default_max_tokens() {
    insta::assert_json_snapshot!(translate(json!({
        "model": "anthropic/claude",
        "messages": [{"role": "user", "content": "Hello"}],
    })));
}

#[test]
fn request_max_tokens_comes_from_the_request_then_the_endpoint() {
    let body = json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 77});
    assert_eq!(translate(body)["max_tokens"], 77);
    let body = json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 77, "max_completion_tokens": 88});
    assert_eq!(translate(body)["max_tokens"], 88);
    let body = json!({"messages": [{"role": "user", "content": "x"}]});
    assert_eq!(translate_with(body, 1234)["max_tokens"], 1234);
}

#[test]
fn request_system_and_developer_messages_become_system() {
    insta::assert_json_snapshot!(translate(json!({
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hi"},
        ],
    })));
}

#[test]
fn request_system_with_cache_control_stays_in_blocks() {
    insta::assert_json_snapshot!(translate(json!({
        "messages": [
            {"role": "system", "content": [
                {"type": "text", "text": "A long shared prefix", "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "Question", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ]},
        ],
    })));
}

#[test]
fn request_multi_turn_merges_consecutive_roles_and_maps_sampling() {
    insta::assert_json_snapshot!(translate(json!({
        "messages": [
            {"role": "user", "content": "One"},
            {"role": "user", "content": [{"type": "text", "text": "Two"}, {"type": "text", "text": ""}]},
            {"role": "assistant", "content": "Three"},
            {"role": "assistant", "content": "Four"},
            {"role": "user", "content": "Five"},
        ],
        "temperature": 1.5,
        "top_p": 0.9,
        "top_k": 40,
        "stop": ["END", "STOP"],
        "user": "user-42",
        "seed": 7,
        "frequency_penalty": 0.5,
    })));
}

#[test]
fn request_stop_string_becomes_one_sequence() {
    let out = translate(json!({"messages": [{"role": "user", "content": "x"}], "stop": "\n\n"}));
    assert_eq!(out["stop_sequences"], json!(["\n\n"]));
}

#[test]
fn request_images_by_url_and_base64() {
    insta::assert_json_snapshot!(translate(json!({
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
        ]}],
    })));
}

#[test]
fn request_tools_and_tool_choice_variants() {
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "now"}},
    ]);
    let base = |choice: Value, parallel: Option<bool>| {
        let mut body =
            json!({"messages": [{"role": "user", "content": "x"}], "tools": tools.clone()});
        if !choice.is_null() {
            body["tool_choice"] = choice;
        }
        if let Some(p) = parallel {
            body["parallel_tool_calls"] = json!(p);
        }
        let out = translate(body);
        json!({"tools": out["tools"], "tool_choice": out["tool_choice"]})
    };
    insta::assert_json_snapshot!(json!({
        "default": base(Value::Null, None),
        "auto": base(json!("auto"), None),
        "none": base(json!("none"), None),
        "required": base(json!("required"), None),
        "named": base(json!({"type": "function", "function": {"name": "now"}}), None),
        "no_parallel": base(Value::Null, Some(false)),
        "required_no_parallel": base(json!("required"), Some(false)),
    }));
}

#[test]
fn request_parallel_tool_calls_and_results_round_trip_ids() {
    insta::assert_json_snapshot!(translate(json!({
        "messages": [
            {"role": "user", "content": "Weather in Paris and Tokyo?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "toolu_01A", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_B", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Tokyo\"}"}},
                {"id": "toolu_01C", "type": "function", "function": {"name": "now", "arguments": ""}},
            ]},
            {"role": "tool", "tool_call_id": "toolu_01A", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_B", "content": [{"type": "text", "text": "25C"}]},
            {"role": "tool", "tool_call_id": "toolu_01C", "content": "noon"},
            {"role": "user", "content": "Thanks, compare them."},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    })));
}

#[test]
fn request_reasoning_turns_into_thinking_budgets() {
    let budget = |reasoning: Value, max: Option<u64>| {
        let mut body =
            json!({"messages": [{"role": "user", "content": "x"}], "reasoning": reasoning});
        if let Some(m) = max {
            body["max_tokens"] = json!(m);
        }
        let out = translate_with(body, 8000);
        json!({"thinking": out["thinking"], "max_tokens": out["max_tokens"]})
    };
    let effort_only = {
        let out = translate_with(
            json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"}),
            10_000,
        );
        json!({"thinking": out["thinking"], "max_tokens": out["max_tokens"]})
    };
    insta::assert_json_snapshot!(json!({
        "max_tokens_budget": budget(json!({"max_tokens": 2000}), None),
        "budget_above_max_tokens": budget(json!({"max_tokens": 3000}), Some(1000)),
        "effort_high": budget(json!({"effort": "high"}), Some(20000)),
        "effort_minimal_floor": budget(json!({"effort": "minimal"}), Some(2000)),
        "enabled_default": budget(json!({"enabled": true}), None),
        "disabled": budget(json!({"enabled": false, "effort": "high"}), None),
        "openai_reasoning_effort": effort_only,
    }));
}

#[test]
fn request_thinking_is_replayed_from_reasoning_details_with_signatures() {
    insta::assert_json_snapshot!(translate(json!({
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "Let me check.", "reasoning": "I should call the tool.",
             "reasoning_details": [
                {"type": "reasoning.text", "text": "I should ", "format": "anthropic-claude-v1", "index": 0},
                {"type": "reasoning.text", "text": "call the tool.", "format": "anthropic-claude-v1", "index": 0},
                {"type": "reasoning.text", "text": "", "signature": "EqQBsig==", "format": "anthropic-claude-v1", "index": 0},
                {"type": "reasoning.encrypted", "data": "EmwKAhgBredacted", "format": "anthropic-claude-v1", "index": 1},
                {"type": "reasoning.text", "text": "unsigned, cannot be replayed", "index": 2},
             ],
             "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        ],
        "reasoning": {"max_tokens": 2048},
    })));
}

#[test]
fn request_that_anthropic_cannot_express_is_refused_with_the_field() {
    let m = |c: Value| json!({"messages": c});
    assert!(
        translate_err(m(json!([{"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
        ]}])))
        .contains("arguments` must be a JSON object")
    );
    assert!(
        translate_err(m(
            json!([{"role": "user", "content": [{"type": "input_audio"}]}])
        ))
        .contains("input_audio")
    );
    assert!(translate_err(m(json!([{"role": "tool", "content": "x"}]))).contains("tool_call_id"));
    assert!(translate_err(json!({"messages": "x"})).contains("messages"));
}

#[test]
fn streaming_requests_say_so() {
    let Value::Object(map) = json!({"messages": [{"role": "user", "content": "x"}]}) else {
        unreachable!()
    };
    let req = request_from_openai(
        &map,
        RequestOptions {
            model: "m",
            default_max_tokens: 5,
            stream: true,
        },
    )
    .expect("ok");
    assert_eq!(req.stream, Some(true));
}

// ---- responses ----

fn completion_json(body: &str) -> Value {
    let r: MessagesResponse = serde_json::from_str(body).expect("response parses");
    let c = completion_from_response(&r);
    json!({
        "message": serde_json::from_str::<Value>(&c.message).expect("message is JSON"),
        "finish_reason": c.finish_reason,
        "native_finish_reason": c.native_finish_reason,
        "usage": c.usage,
    })
}

#[test]
fn response_text() {
    insta::assert_json_snapshot!(completion_json(&fixture("vercel-ai__anthropic-text.json")));
}

#[test]
fn response_tool_use_without_arguments() {
    insta::assert_json_snapshot!(completion_json(&fixture(
        "vercel-ai__anthropic-tool-no-args.json"
    )));
}

#[test]
fn response_refusal_is_content_filter() {
    insta::assert_json_snapshot!(completion_json(&fixture(
        "vercel-ai__anthropic-refusal.json"
    )));
}

#[test]
fn response_with_thinking_tokens_detail() {
    let v: Value = serde_json::from_str(&fixture(
        "vercel-ai__issue-14707-claude-opus-4-7-temperature-live.json",
    ))
    .expect("json");
    insta::assert_json_snapshot!(completion_json(&v["response"]["body"].to_string()));
}

#[test]
fn response_thinking_parallel_tools_and_cache_usage() {
    insta::assert_json_snapshot!(completion_json(
        r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[
            {"type":"thinking","thinking":"Two cities, two calls.","signature":"EqQBCgIYAhIMsig"},
            {"type":"redacted_thinking","data":"EmwKAhgBredacted"},
            {"type":"text","text":"Checking both."},
            {"type":"tool_use","id":"toolu_A","name":"get_weather","input":{"city":"Paris"}},
            {"type":"tool_use","id":"toolu_B","name":"get_weather","input":{"city":"Tokyo"}},
            {"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}
        ],"stop_reason":"tool_use","stop_sequence":null,
        "usage":{"input_tokens":10,"cache_creation_input_tokens":200,"cache_read_input_tokens":3000,"output_tokens":60}}"#
    ));
}

#[test]
fn every_stop_reason_maps() {
    let map: Vec<(&str, &str)> = [
        "end_turn",
        "stop_sequence",
        "max_tokens",
        "tool_use",
        "refusal",
        "pause_turn",
        "model_context_window_exceeded",
    ]
    .iter()
    .map(|r| (*r, finish_reason(r)))
    .collect();
    insta::assert_json_snapshot!(map);
    let c = completion_json(
        r#"{"content":[{"type":"text","text":"a"}],"stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":1,"output_tokens":1}}"#,
    );
    assert_eq!(c["finish_reason"], "stop");
    assert_eq!(c["native_finish_reason"], "stop_sequence");
}

#[test]
fn thinking_signatures_survive_a_round_trip_across_turns() {
    let r: MessagesResponse = serde_json::from_str(
        r#"{"content":[{"type":"thinking","thinking":"Plan it.","signature":"SIG/+=="},
            {"type":"redacted_thinking","data":"REDACTED"},
            {"type":"tool_use","id":"toolu_9","name":"f","input":{"a":1}}],
            "stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}}"#,
    )
    .expect("parses");
    let c = completion_from_response(&r);
    let mut assistant: Value = serde_json::from_str(&c.message).expect("json");
    assert!(
        assistant["content"].is_null(),
        "thinking never becomes text"
    );
    assistant["role"] = json!("assistant");
    let next = translate(json!({"messages": [
        {"role": "user", "content": "go"},
        assistant,
        {"role": "tool", "tool_call_id": "toolu_9", "content": "done"},
    ]}));
    let replayed: Vec<Block> =
        serde_json::from_value(next["messages"][1]["content"].clone()).expect("blocks");
    let original: Vec<Block> = r.content.clone();
    assert_eq!(replayed, original);
}

// ---- streams ----

#[test]
fn stream_basic_text() {
    insta::assert_json_snapshot!(stream_snapshot("sse_basic_response.txt"));
}

#[test]
fn stream_docs_text_with_pings() {
    insta::assert_json_snapshot!(stream_snapshot("sse_docs_basic_text.txt"));
}

#[test]
fn stream_text_with_cumulative_usage() {
    insta::assert_json_snapshot!(stream_snapshot("vercel-ai__anthropic-text.chunks.txt"));
}

#[test]
fn stream_message_delta_input_tokens() {
    insta::assert_json_snapshot!(stream_snapshot(
        "vercel-ai__anthropic-message-delta-input-tokens.chunks.txt"
    ));
}

#[test]
fn stream_tool_use() {
    insta::assert_json_snapshot!(stream_snapshot("sse_tool_use_response.txt"));
}

#[test]
fn stream_docs_tool_use() {
    insta::assert_json_snapshot!(stream_snapshot("sse_docs_tool_use.txt"));
}

#[test]
fn stream_tool_without_arguments_gets_an_empty_object() {
    insta::assert_json_snapshot!(stream_snapshot(
        "vercel-ai__anthropic-tool-no-args.chunks.txt"
    ));
}

#[test]
fn stream_cut_by_max_tokens_mid_arguments() {
    insta::assert_json_snapshot!(stream_snapshot("sse_incomplete_partial_json_response.txt"));
}

#[test]
fn stream_thinking_with_signature() {
    insta::assert_json_snapshot!(stream_snapshot("sse_docs_extended_thinking.txt"));
}

#[test]
fn stream_real_thinking_then_text() {
    insta::assert_json_snapshot!(stream_snapshot(
        "vercel-ai__anthropic-clear-thinking.1.chunks.txt"
    ));
}

#[test]
fn stream_refusal() {
    insta::assert_json_snapshot!(stream_snapshot("sse_refusal_response.txt"));
}

#[test]
fn stream_error_event() {
    insta::assert_json_snapshot!(stream_snapshot("sse_docs_error_event_overloaded.txt"));
    let mut s = StreamState::new();
    let Err(StreamError::Upstream(e)) = s
        .on_event(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
    else {
        panic!("an upstream error");
    };
    assert_eq!(e.status(), 529);
}

#[test]
fn streamed_thinking_joined_by_a_client_replays_the_same_block() {
    let (steps, _) =
        run_stream(&[sse_fixture("vercel-ai__anthropic-clear-thinking.1.chunks.txt").as_bytes()]);
    // What an OpenRouter client accumulates: every reasoning_details fragment, in order.
    let details: Vec<Value> = steps
        .iter()
        .filter_map(|s| s["delta"]["reasoning_details"].as_array())
        .flatten()
        .cloned()
        .collect();
    let next = translate(json!({"messages": [
        {"role": "user", "content": "divide"},
        {"role": "assistant", "content": "925 ÷ 5 = 185", "reasoning_details": details},
        {"role": "user", "content": "ok"},
    ]}));
    let block = &next["messages"][1]["content"][0];
    assert_eq!(block["type"], "thinking");
    assert!(
        block["thinking"]
            .as_str()
            .expect("text")
            .starts_with("The previous result")
    );
    assert!(
        block["signature"]
            .as_str()
            .expect("sig")
            .starts_with("EvQBCkYI")
    );
}

#[test]
fn unknown_events_and_malformed_data() {
    let mut s = StreamState::new();
    assert_eq!(
        s.on_event(r#"{"type":"brand_new_event","x":1}"#),
        Ok(StreamStep::Nothing)
    );
    assert!(matches!(
        s.on_event("{not json"),
        Err(StreamError::Malformed(_))
    ));
}

proptest::proptest! {
    #[test]
    fn a_stream_split_anywhere_gives_the_same_chunks(
        which in 0usize..6,
        cuts in proptest::collection::vec(0usize..100_000, 0..8),
    ) {
        let name = [
            "sse_basic_response.txt",
            "sse_tool_use_response.txt",
            "sse_docs_extended_thinking.txt",
            "sse_incomplete_partial_json_response.txt",
            "vercel-ai__anthropic-clear-thinking.1.chunks.txt",
            "vercel-ai__anthropic-tool-no-args.chunks.txt",
        ][which];
        let body = sse_fixture(name);
        let bytes = body.as_bytes();
        let whole = run_stream(&[bytes]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for p in points {
            pieces.push(&bytes[start..p]);
            start = p;
        }
        pieces.push(&bytes[start..]);
        proptest::prop_assert_eq!(run_stream(&pieces), whole);
    }
}

#[test]
fn the_declared_parameters_are_exactly_the_translated_ones() {
    crate::params::assert_declared(SUPPORTED_PARAMETERS, |body| {
        translate(Value::Object(body.clone())).to_string()
    });
}

fn person_format() -> Value {
    json!({"type": "json_schema", "json_schema": {"name": "person", "strict": true,
        "schema": {"type": "object", "properties": {"name": {"type": "string"}},
                   "required": ["name"], "additionalProperties": false}}})
}

#[test]
fn structured_output_goes_up_as_a_forced_tool() {
    let req = translate(json!({"messages": [{"role": "user", "content": "who?"}],
        "response_format": person_format()}));
    assert_eq!(req["tools"][0]["name"], JSON_TOOL);
    assert_eq!(
        req["tools"][0]["input_schema"]["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(
        req["tool_choice"],
        json!({"type": "tool", "name": JSON_TOOL, "disable_parallel_tool_use": true})
    );
    // JSON mode: any object.
    let req = translate(json!({"messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"}}));
    assert_eq!(req["tools"][0]["input_schema"], json!({"type": "object"}));
    // The client's own tools stay callable; thinking cannot be combined with a forced tool.
    let req = translate(json!({"messages": [{"role": "user", "content": "x"}],
        "response_format": person_format(),
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}));
    assert_eq!(req["tools"].as_array().map(Vec::len), Some(2));
    assert_eq!(req["tool_choice"]["type"], "any");
    let req = translate(json!({"messages": [{"role": "user", "content": "x"}],
        "response_format": person_format(), "reasoning": {"max_tokens": 2000}}));
    assert_eq!(req["tool_choice"]["type"], "auto");
    // Text is no format at all; a schema that is not one is the client's error.
    let req = translate(json!({"messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "text"}}));
    assert!(req.get("tools").is_none());
    let err = translate_err(json!({"messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}));
    assert!(err.contains("json_schema.schema"), "{err}");
}

#[test]
fn the_forced_tools_call_comes_back_as_the_answer() {
    let up: MessagesResponse = serde_json::from_value(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL, "input": {"name": "Ada"}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 5}
    }))
    .expect("response");
    let done = structured_completion(&up, true);
    let message: Value = serde_json::from_str(&done.message).expect("message");
    let content: Value =
        serde_json::from_str(message["content"].as_str().expect("content")).expect("JSON");
    assert_eq!(content, json!({"name": "Ada"}));
    assert!(message.get("tool_calls").is_none());
    assert_eq!(done.finish_reason, Some("stop"));
    assert_eq!(done.native_finish_reason.as_deref(), Some("tool_use"));
    // Without structured output asked for, a tool of that name is just a tool.
    let plain = completion_from_response(&up);
    assert_eq!(plain.finish_reason, Some("tool_calls"));
}

#[test]
fn a_streamed_forced_tool_call_streams_the_answer() {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude", "content": [], "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block":
            {"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL, "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"name\": "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "\"Ada\"}"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}}),
        json!({"type": "message_stop"}),
    ];
    let mut state = StreamState::structured(true);
    let mut content = String::new();
    let mut finish = None;
    for e in events {
        if let Ok(StreamStep::Delta(d)) = state.on_event(&e.to_string()) {
            let v: Value = serde_json::from_str(&d.delta).expect("delta");
            assert!(v.get("tool_calls").is_none(), "{v}");
            if let Some(c) = v["content"].as_str() {
                content.push_str(c);
            }
            finish = d.finish_reason.or(finish);
        }
    }
    let answer: Value = serde_json::from_str(&content).expect("the joined content is JSON");
    assert_eq!(answer, json!({"name": "Ada"}));
    assert_eq!(finish, Some("stop"));
}
