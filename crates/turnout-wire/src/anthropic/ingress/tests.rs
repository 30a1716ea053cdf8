//! The `/messages` translations, driven by `shared/fixtures/` (snapshots with insta), and a
//! proptest that Anthropic → chat → Anthropic keeps what both formats express.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::anthropic::{
    Block, ImageSource, Message, MessagesRequest, Metadata, RequestOptions, Role, StreamState,
    StreamStep, System, Thinking, Tool, ToolChoice, ToolResultContent, request_from_openai,
};
use crate::sse::SseDecoder;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{SHARED}{name}")).expect("fixture")
}

fn to_chat(body: Value) -> ChatRequest {
    let Value::Object(map) = body else {
        panic!("object")
    };
    chat_from_messages(&map).expect("translates")
}

fn chat_err(body: Value) -> String {
    let Value::Object(map) = body else {
        panic!("object")
    };
    chat_from_messages(&map).expect_err("refused").to_string()
}

#[test]
fn request_from_the_openrouter_example() {
    let body: Value =
        serde_json::from_str(&fixture("openrouter/messages_request.example.json")).expect("json");
    let chat = to_chat(body);
    assert_eq!(chat.inexpressible, None);
    insta::assert_json_snapshot!(chat.body);
}

fn full_request() -> Value {
    json!({
        "model": "anthropic/claude-sonnet-4.5",
        "max_tokens": 2048,
        "system": [
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "Long shared context.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture, and the weather in Paris?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "A cat. Then the weather tool.", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                {"type": "text", "text": "A cat. Checking the weather."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C and sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "is_error": true,
                    "content": [{"type": "text", "text": "timeout"}]},
                {"type": "text", "text": "Thanks!"}
            ]},
            {"role": "assistant", "content": "It is"}
        ],
        "tools": [{"name": "get_weather", "description": "Weather by city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "cache_control": {"type": "ephemeral"}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "thinking": {"type": "enabled", "budget_tokens": 1500},
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 40,
        "metadata": {"user_id": "user-42"},
        "stream": true,
        "provider": {"order": ["anthropic"]},
        "session_id": "conv-1",
        "service_tier": "auto",
        "mock": {"reply": "passed on"}
    })
}

#[test]
fn request_with_every_block_type_tools_and_thinking() {
    let chat = to_chat(full_request());
    assert_eq!(chat.inexpressible, None);
    insta::assert_json_snapshot!(chat.body);
}

#[test]
fn request_tool_choice_variants() {
    let tools = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    let mut out = Vec::new();
    for choice in [
        json!({"type": "auto"}),
        json!({"type": "any"}),
        json!({"type": "tool", "name": "f"}),
        json!({"type": "none"}),
        json!({"type": "any", "disable_parallel_tool_use": true}),
    ] {
        let body = to_chat(json!({"model": "m", "max_tokens": 5, "tools": tools,
            "tool_choice": choice, "messages": [{"role": "user", "content": "hi"}]}))
        .body;
        out.push(json!([
            choice,
            body.get("tool_choice"),
            body.get("parallel_tool_calls")
        ]));
    }
    insta::assert_json_snapshot!(out);
}

#[test]
fn request_thinking_variants_and_fallbacks() {
    let base = |extra: Value| {
        let mut b = json!({"model": "a/x", "max_tokens": 5000,
            "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        to_chat(b).body
    };
    insta::assert_json_snapshot!(json!({
        "enabled": base(json!({"thinking": {"type": "enabled", "budget_tokens": 2000}}))["reasoning"],
        "disabled": base(json!({"thinking": {"type": "disabled"}}))["reasoning"],
        "adaptive": base(json!({"thinking": {"type": "adaptive"}}))["reasoning"],
        "fallbacks": base(json!({"fallbacks": [{"model": "b/y"}, {"model": "c/z"}]}))["models"],
        "structured": base(json!({"output_config": {"format": {"type": "json_schema",
            "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}}}))["response_format"],
    }));
}

#[test]
fn what_chat_cannot_express_is_left_out_and_named() {
    let chat = to_chat(json!({
        "model": "m", "max_tokens": 100,
        "tools": [
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
            {"name": "lookup", "input_schema": {"type": "object"}}
        ],
        "messages": [
            {"role": "user", "content": "news?"},
            {"role": "assistant", "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "news"}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "text", "text": "Here is the news."}
            ]}
        ]
    }));
    assert_eq!(
        chat.inexpressible.as_deref(),
        Some("`messages[1].content[0]` blocks of type \"server_tool_use\"")
    );
    assert_eq!(chat.body["tools"].as_array().map(Vec::len), Some(1));
    assert_eq!(chat.body["messages"][1]["content"], "Here is the news.");
    let mcp = to_chat(
        json!({"model": "m", "max_tokens": 1, "mcp_servers": [{"url": "x"}],
        "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(mcp.inexpressible.as_deref(), Some("`mcp_servers`"));
}

#[test]
fn invalid_requests_are_refused_naming_the_anthropic_field() {
    let ok =
        || json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            "`max_tokens` is required",
        ),
        (
            {
                let mut b = ok();
                b["max_tokens"] = json!(0);
                b
            },
            "`max_tokens` must be an integer",
        ),
        (
            {
                let mut b = ok();
                b["messages"] = json!([]);
                b
            },
            "at least one message",
        ),
        (
            {
                let mut b = ok();
                b["messages"] = json!([{"role": "system", "content": "x"}]);
                b
            },
            "`messages[0].role`",
        ),
        (
            {
                let mut b = ok();
                b["messages"] = json!([{"role": "user", "content": 5}]);
                b
            },
            "`messages[0].content`",
        ),
        (
            {
                let mut b = ok();
                b["temperature"] = json!(1.5);
                b
            },
            "`temperature` must be a number in [0, 1]",
        ),
        (
            {
                let mut b = ok();
                b["stop_sequences"] = json!("x");
                b
            },
            "`stop_sequences`",
        ),
        (
            {
                let mut b = ok();
                b["thinking"] = json!({"type": "enabled"});
                b
            },
            "`thinking.budget_tokens`",
        ),
        (
            {
                let mut b = ok();
                b["tool_choice"] = json!({"type": "tool"});
                b["tools"] = json!([{"name": "f"}]);
                b
            },
            "`tool_choice.name`",
        ),
        (
            {
                let mut b = ok();
                b["fallbacks"] = json!([{"model": "a"}]);
                b["models"] = json!(["b"]);
                b
            },
            "cannot be combined",
        ),
    ];
    for (body, want) in cases {
        let got = chat_err(body.clone());
        assert!(got.contains(want), "{body}: got {got:?}, want {want:?}");
    }
}

// ---- Answers ----

#[test]
fn response_from_an_openai_completion() {
    let c: Value =
        serde_json::from_str(&fixture("openai/vercel-ai__openai-text.json")).expect("json");
    insta::assert_json_snapshot!(message_from_completion(&c, &[]));
}

#[test]
fn response_from_an_openrouter_completion_with_reasoning() {
    let c: Value = serde_json::from_str(&fixture("openrouter/real_chat_response_nonstream.json"))
        .expect("json");
    let m = message_from_completion(&c, &[]);
    assert_eq!(m["content"][0]["type"], "thinking");
    assert_eq!(m["content"][1]["type"], "text");
    insta::assert_json_snapshot!(m);
}

#[test]
fn response_with_signed_thinking_tool_calls_and_cache_usage() {
    let c = json!({
        "id": "gen-1-abc", "model": "acme/claude", "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "native_finish_reason": "tool_use",
            "message": {"role": "assistant", "content": "Let me check.",
                "reasoning": "Need the tool.",
                "reasoning_details": [
                    {"type": "reasoning.text", "text": "Need the tool.", "signature": "sig-1", "format": "anthropic-claude-v1", "index": 0},
                    {"type": "reasoning.encrypted", "data": "opaque", "format": "anthropic-claude-v1", "index": 1}
                ],
                "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "noop", "arguments": ""}},
                    {"id": "call_3", "type": "function", "function": {"name": "cut", "arguments": "{\"a\":"}}
                ]}}],
        "usage": {"prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135,
            "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20}}
    });
    insta::assert_json_snapshot!(message_from_completion(&c, &[]));
}

#[test]
fn every_finish_reason_maps_to_a_stop_reason() {
    let rows: Vec<Value> = [
        (Some("stop"), None),
        (Some("stop"), Some("end_turn")),
        (Some("stop"), Some("stop_sequence")),
        (Some("stop"), Some("pause_turn")),
        (Some("length"), None),
        (Some("length"), Some("model_context_window_exceeded")),
        (Some("tool_calls"), None),
        (Some("content_filter"), None),
        (Some("content_filter"), Some("refusal")),
        (Some("error"), None),
        (None, None),
    ]
    .into_iter()
    .map(|(f, n)| json!([f, n, stop_reason(f, n)]))
    .collect();
    insta::assert_json_snapshot!(rows);
}

#[test]
fn a_stop_sequence_named_by_the_upstream_is_reported() {
    let c = json!({"id": "g", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
        "stop_reason": "END", "message": {"role": "assistant", "content": "done"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1}});
    let m = message_from_completion(&c, &["END".to_owned()]);
    assert_eq!(m["stop_reason"], "stop_sequence");
    assert_eq!(m["stop_sequence"], "END");
    let m = message_from_completion(&c, &[]);
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["stop_sequence"], Value::Null);
}

#[test]
fn errors_use_anthropics_envelope_and_types() {
    let body: Value = serde_json::from_str(&fixture(
        "openrouter/messages_error_envelope_anthropic_skin.json",
    ))
    .expect("json");
    let ours = error_body(ErrorType::Authentication, "Invalid credentials", None);
    assert_eq!(ours, body);
    let types: Vec<Value> = [
        ErrorType::InvalidRequest,
        ErrorType::ContextLengthExceeded,
        ErrorType::Authentication,
        ErrorType::PermissionDenied,
        ErrorType::PaymentRequired,
        ErrorType::NotFound,
        ErrorType::PayloadTooLarge,
        ErrorType::RateLimitExceeded,
        ErrorType::ProviderOverloaded,
        ErrorType::ProviderUnavailable,
        ErrorType::ContentPolicyViolation,
        ErrorType::Timeout,
        ErrorType::Server,
    ]
    .into_iter()
    .map(|t| {
        assert_eq!(ErrorType::parse(t.as_str()), Some(t));
        json!([t.as_str(), t.anthropic()])
    })
    .collect();
    insta::assert_json_snapshot!(types);
}

// ---- Streams ----

/// Our frames for an SSE body, as the egress would send them.
fn frames_of(sse: &str) -> Vec<Vec<u8>> {
    let mut d = SseDecoder::new();
    d.push(sse.as_bytes());
    let mut out = Vec::new();
    while let Some(ev) = d.next_event().or_else(|| d.finish()) {
        out.push(format!("data: {}\n\n", ev.data).into_bytes());
    }
    out
}

/// Anthropic events as JSON values, checking each frame's `event:` line matches its type.
fn events_of(bytes: &[u8]) -> Vec<Value> {
    let mut d = SseDecoder::new();
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(ev) = d.next_event() {
        let v: Value = serde_json::from_str(&ev.data).expect("event is JSON");
        assert_eq!(ev.event.as_deref(), v["type"].as_str(), "{v}");
        out.push(v);
    }
    out
}

fn encode_all(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut enc = StreamEncoder::new(7);
    let mut out = Vec::new();
    for f in frames {
        out.extend(enc.encode(f));
    }
    assert!(enc.ended());
    out
}

#[test]
fn stream_of_openai_text_with_usage() {
    let sse = fixture("openai/openai-python__stream_text_with_usage__test_parse_nothing.sse");
    insta::assert_json_snapshot!(events_of(&encode_all(&frames_of(&sse))));
}

#[test]
fn stream_of_openai_parallel_tool_calls() {
    let sse = fixture(
        "openai/openai-python__stream_parallel_tool_calls__test_parse_multiple_pydantic_tools.sse",
    );
    // The fixture has no usage chunk; ours always ends with one.
    let mut frames = frames_of(&sse);
    frames.insert(
        frames.len() - 1,
        b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3}}\n\n"
            .to_vec(),
    );
    insta::assert_json_snapshot!(events_of(&encode_all(&frames)));
}

/// What an Anthropic SDK would accumulate from events: (blocks, stop_reason, usage).
fn accumulate(events: &[Value]) -> Value {
    let mut content: Vec<Value> = Vec::new();
    let mut json_bufs: std::collections::BTreeMap<usize, String> = Default::default();
    let mut stop = Value::Null;
    let mut usage = json!({});
    for e in events {
        match e["type"].as_str() {
            Some("content_block_start") => {
                // What chat carries; newer members such as `caller` are Anthropic's alone.
                let mut b = e["content_block"].clone();
                if let Some(o) = b.as_object_mut() {
                    o.retain(|k, _| {
                        [
                            "type",
                            "text",
                            "thinking",
                            "signature",
                            "id",
                            "name",
                            "input",
                            "data",
                        ]
                        .contains(&k.as_str())
                    });
                }
                if b["type"] == "thinking" && b.get("signature").is_none() {
                    b["signature"] = json!("");
                }
                content.push(b);
            }
            Some("content_block_delta") => {
                let i = e["index"].as_u64().expect("index") as usize;
                let d = &e["delta"];
                let b = &mut content[i];
                let add = |b: &mut Value, k: &str, s: &str| {
                    let joined = b[k].as_str().unwrap_or("").to_owned() + s;
                    b[k] = json!(joined);
                };
                match d["type"].as_str() {
                    Some("text_delta") => add(b, "text", d["text"].as_str().unwrap_or("")),
                    Some("thinking_delta") => {
                        add(b, "thinking", d["thinking"].as_str().unwrap_or(""));
                    }
                    Some("signature_delta") => {
                        add(b, "signature", d["signature"].as_str().unwrap_or(""));
                    }
                    Some("input_json_delta") => json_bufs
                        .entry(i)
                        .or_default()
                        .push_str(d["partial_json"].as_str().unwrap_or("")),
                    _ => {}
                }
            }
            Some("message_delta") => {
                stop = e["delta"]["stop_reason"].clone();
                usage = e["usage"].clone();
            }
            _ => {}
        }
    }
    for (i, buf) in json_bufs {
        content[i]["input"] = serde_json::from_str(&buf).unwrap_or(json!({"partial": buf}));
    }
    json!({"content": content, "stop_reason": stop, "usage": usage})
}

/// An Anthropic fixture stream, translated to our chat chunks by the upstream adapter's
/// translation, then back by the encoder, reads as the original did.
fn round_trip_stream(name: &str) {
    let mut sse = fixture(name);
    if name.ends_with(".chunks.txt") {
        sse = sse
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("line");
                format!(
                    "event: {}\ndata: {l}\n\n",
                    v["type"].as_str().expect("type")
                )
            })
            .collect();
    }
    let original = events_of(sse.as_bytes());
    let mut state = StreamState::new();
    let mut frames = Vec::new();
    for e in &original {
        match state.on_event(&e.to_string()).expect("event") {
            StreamStep::Delta(d) => {
                let mut chunk = json!({"id": "gen-1", "model": "acme/claude",
                    "choices": [{"index": 0, "delta": serde_json::from_str::<Value>(&d.delta).expect("delta"),
                        "finish_reason": d.finish_reason, "native_finish_reason": d.native_finish_reason}]});
                if d.finish_reason.is_none() {
                    chunk["choices"][0]
                        .as_object_mut()
                        .expect("choice")
                        .remove("native_finish_reason");
                }
                frames.push(format!("data: {chunk}\n\n").into_bytes());
            }
            StreamStep::Stop | StreamStep::Nothing => {}
        }
    }
    let usage = serde_json::to_value(state.usage().unwrap_or_default()).expect("usage");
    frames.push(
        format!(
            "data: {}\n\n",
            json!({"id": "gen-1", "choices": [], "usage": usage})
        )
        .into_bytes(),
    );
    frames.push(b"data: [DONE]\n\n".to_vec());
    let ours = accumulate(&events_of(&encode_all(&frames)));
    let theirs = accumulate(&original);
    assert_eq!(ours["content"], theirs["content"], "{name}");
    assert_eq!(ours["stop_reason"], theirs["stop_reason"], "{name}");
    if let Some(n) = theirs["usage"]["output_tokens"].as_u64() {
        assert_eq!(ours["usage"]["output_tokens"], n, "{name}");
    }
}

#[test]
fn anthropic_streams_survive_chat_and_back() {
    for name in [
        "anthropic/sse_basic_response.txt",
        "anthropic/sse_docs_basic_text.txt",
        "anthropic/sse_docs_extended_thinking.txt",
        "anthropic/sse_docs_tool_use.txt",
        "anthropic/sse_tool_use_response.txt",
        "anthropic/vercel-ai__anthropic-clear-thinking.1.chunks.txt",
        "anthropic/vercel-ai__anthropic-text.chunks.txt",
    ] {
        round_trip_stream(name);
    }
}

#[test]
fn stream_errors_become_error_events() {
    let mut enc = StreamEncoder::new(0);
    let first = enc.encode(b"data: {\"id\":\"gen-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n");
    let err = enc.encode(b"data: {\"id\":\"gen-1\",\"model\":\"m\",\"error\":{\"code\":503,\"message\":\"Provider Acme is overloaded\",\"metadata\":{\"error_type\":\"provider_overloaded\"}},\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n");
    assert!(enc.ended());
    assert!(enc.encode(b"data: [DONE]\n\n").is_empty());
    let mut all = first;
    all.extend(err);
    insta::assert_json_snapshot!(events_of(&all));
}

#[test]
fn keepalive_comments_pass_and_passed_through_events_are_untouched() {
    let mut enc = StreamEncoder::new(0);
    assert_eq!(
        enc.encode(b": OPENROUTER PROCESSING\n\n"),
        b": OPENROUTER PROCESSING\n\n"
    );
    let native = b"event: message_start\ndata: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_1\"}}\n\n";
    assert_eq!(enc.encode(native), native.to_vec());
    // Our closing usage chunk and [DONE] after a passed-through stream add nothing.
    assert!(
        enc.encode(b"data: {\"id\":\"gen-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n")
            .is_empty()
    );
    assert!(enc.encode(b"data: [DONE]\n\n").is_empty());
}

// ---- Round trip ----

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,!?\"\\\\\n\u{e9}\u{1f600}]{1,24}"
}

fn cache() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![3 => Just(None), 1 => Just(Some(json!({"type": "ephemeral"})))]
}

fn text_block() -> impl Strategy<Value = Block> {
    (text(), cache()).prop_map(|(text, cache_control)| Block::Text {
        text,
        cache_control,
    })
}

fn image_block() -> impl Strategy<Value = Block> {
    prop_oneof![
        "[A-Za-z0-9+/]{4,16}".prop_map(|data| ImageSource::Base64 {
            media_type: "image/png".into(),
            data
        }),
        "[a-z]{1,8}".prop_map(|p| ImageSource::Url {
            url: format!("https://example.com/{p}.jpg")
        }),
    ]
    .prop_map(|source| Block::Image {
        source,
        cache_control: None,
    })
}

fn object() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map(
        "[a-z]{1,6}",
        prop_oneof![
            text().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
        ],
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// A user turn: tool results first (as the chat direction orders them), then content.
fn user_turn(ids: Vec<String>) -> impl Strategy<Value = Message> {
    let results = ids
        .into_iter()
        .map(|id| {
            (
                prop_oneof![
                    text().prop_map(ToolResultContent::Text),
                    proptest::collection::vec(text_block(), 1..3)
                        .prop_map(ToolResultContent::Blocks),
                ],
                cache(),
            )
                .prop_map(move |(content, cache_control)| Block::ToolResult {
                    tool_use_id: id.clone(),
                    content,
                    is_error: None,
                    cache_control,
                })
        })
        .collect::<Vec<_>>();
    (
        results,
        proptest::collection::vec(prop_oneof![3 => text_block(), 1 => image_block()], 0..3),
    )
        .prop_filter_map("a turn has content", |(mut results, rest)| {
            results.extend(rest);
            (!results.is_empty()).then_some(Message {
                role: Role::User,
                content: results,
            })
        })
}

/// An assistant turn: signed thinking, then text, then tool calls (the order the chat
/// direction writes them in).
fn assistant_turn() -> impl Strategy<Value = Message> {
    (
        proptest::collection::vec(
            prop_oneof![
                (text(), "[A-Za-z0-9]{4,12}").prop_map(|(thinking, signature)| Block::Thinking {
                    thinking,
                    signature
                }),
                "[A-Za-z0-9]{4,12}".prop_map(|data| Block::RedactedThinking { data }),
            ],
            0..2,
        ),
        proptest::collection::vec(text_block(), 0..2),
        proptest::collection::vec(("[a-z_]{1,8}", object()), 0..3),
    )
        .prop_filter_map("a turn has content", |(thinking, texts, calls)| {
            let mut content = thinking;
            content.extend(texts);
            for (n, (name, input)) in calls.into_iter().enumerate() {
                content.push(Block::ToolUse {
                    id: format!("toolu_{n}"),
                    name,
                    input,
                    cache_control: None,
                });
            }
            (!content.is_empty()).then_some(Message {
                role: Role::Assistant,
                content,
            })
        })
}

fn conversation() -> impl Strategy<Value = Vec<Message>> {
    proptest::collection::vec(assistant_turn(), 0..3).prop_flat_map(|assistants| {
        let mut turns: Vec<BoxedStrategy<Message>> = vec![user_turn(Vec::new()).boxed()];
        for a in assistants {
            let ids: Vec<String> = a
                .content
                .iter()
                .filter_map(|b| match b {
                    Block::ToolUse { id, .. } => Some(id.clone()),
                    _ => None,
                })
                .collect();
            turns.push(Just(a).boxed());
            turns.push(user_turn(ids).boxed());
        }
        turns
    })
}

fn request() -> impl Strategy<Value = MessagesRequest> {
    let tools = proptest::collection::vec(
        ("[a-z_]{1,8}", proptest::option::of(text()), cache()).prop_map(
            |(name, description, cache_control)| Tool {
                name,
                description,
                input_schema: json!({"type": "object", "properties": {"x": {"type": "string"}}}),
                cache_control,
            },
        ),
        0..3,
    );
    let choice = prop_oneof![
        Just(None),
        proptest::option::of(Just(true)).prop_map(|d| Some(ToolChoice::Auto {
            disable_parallel_tool_use: d
        })),
        proptest::option::of(Just(true)).prop_map(|d| Some(ToolChoice::Any {
            disable_parallel_tool_use: d
        })),
        Just(Some(ToolChoice::None)),
    ];
    (
        (100u64..100_000, proptest::option::of(1024u64..2048)),
        prop_oneof![
            Just(None),
            text().prop_map(|t| Some(System::Text(t))),
            proptest::collection::vec(text_block(), 1..3).prop_map(|b| Some(System::Blocks(b))),
        ],
        conversation(),
        (tools, choice),
        (
            proptest::option::of((0u32..=100).prop_map(|t| f64::from(t) / 100.0)),
            proptest::option::of((1u32..=100).prop_map(|t| f64::from(t) / 100.0)),
            proptest::option::of(0u64..500),
        ),
        proptest::option::of(proptest::collection::vec(text(), 1..4)),
        proptest::option::of("[a-z0-9-]{1,12}"),
        any::<bool>(),
    )
        .prop_map(
            |(
                (max, budget),
                system,
                messages,
                (tools, choice),
                (temperature, top_p, top_k),
                stop,
                user,
                stream,
            )| {
                let max_tokens = max + 2048;
                let tools = (!tools.is_empty()).then_some(tools);
                MessagesRequest {
                    model: "claude-up".into(),
                    max_tokens,
                    system,
                    messages,
                    tool_choice: choice.filter(|_| tools.is_some()),
                    tools,
                    thinking: budget.map(|b| Thinking::Enabled { budget_tokens: b }),
                    temperature,
                    top_p,
                    top_k,
                    stop_sequences: stop,
                    stream: stream.then_some(true),
                    metadata: user.map(|user_id| Metadata { user_id }),
                }
            },
        )
}

/// What both formats express, in one normal form: uncached system blocks are joined text.
fn normal(mut r: MessagesRequest) -> MessagesRequest {
    if let Some(System::Blocks(blocks)) = &r.system
        && !blocks.iter().any(|b| {
            matches!(
                b,
                Block::Text {
                    cache_control: Some(_),
                    ..
                }
            )
        })
    {
        let texts: Vec<&str> = blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        r.system = Some(System::Text(texts.join("\n\n")));
    }
    // A lone uncached text block is plain text in chat, and comes back as such.
    for m in &mut r.messages {
        for b in &mut m.content {
            if let Block::ToolResult { content, .. } = b
                && let ToolResultContent::Blocks(blocks) = content
                && let [
                    Block::Text {
                        text,
                        cache_control: None,
                    },
                ] = blocks.as_slice()
            {
                *content = ToolResultContent::Text(text.clone());
            }
        }
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn anthropic_to_chat_and_back_keeps_what_both_express(req in request()) {
        let Value::Object(body) = serde_json::to_value(&req).expect("serializes") else {
            panic!("object")
        };
        let chat = chat_from_messages(&body).expect("translates");
        prop_assert_eq!(&chat.inexpressible, &None);
        // Through JSON text, as the gateway passes it on.
        let text = serde_json::to_string(&chat.body).expect("json");
        let chat: Map<String, Value> = serde_json::from_str(&text).expect("json");
        let back = request_from_openai(&chat, RequestOptions {
            model: "claude-up",
            default_max_tokens: 1,
            stream: req.stream == Some(true),
        }).expect("translates back");
        prop_assert_eq!(normal(back), normal(req));
    }

    #[test]
    fn arbitrary_json_in_known_fields_never_panics(
        key in proptest::sample::select(vec!["model", "max_tokens", "system", "messages", "tools", "tool_choice", "thinking", "temperature", "stop_sequences", "metadata", "fallbacks", "output_config"]),
        value in proptest::sample::select(vec!["null", "true", "-1", "1e309", "0.5", "\"x\"", "[]", "{}", "[1,\"a\",null]", "{\"type\":\"tool\"}", "[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\"}]}]", "[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"x\"}]}]", "[{\"type\":\"text\"}]"]),
    ) {
        let body = format!(r#"{{"model":"a/b","max_tokens":5,"messages":[{{"role":"user","content":"x"}}],"{key}":{value}}}"#);
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&body) {
            let _ = chat_from_messages(&map);
        }
    }
}
