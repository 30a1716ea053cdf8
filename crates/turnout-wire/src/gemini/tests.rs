//! Translation tests driven by `shared/fixtures/gemini/` (snapshots with insta).

use serde_json::{Value, json};

use super::*;
use crate::sse::SseDecoder;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/gemini/"
);

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}")).expect("fixture")
}

/// A fixture as the SSE bytes Gemini sends: `*.chunks.txt` hold one data payload per line,
/// sent as `data: {line}\r\n\r\n` (spec §B.4: no `event:` line, no `[DONE]`).
fn sse_fixture(name: &str) -> String {
    fixture(name)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("data: {l}\r\n\r\n"))
        .collect()
}

fn translated(body: Value) -> Translated {
    let Value::Object(map) = body else {
        panic!("object")
    };
    request_from_openai(&map).expect("translates")
}

fn translate(body: Value) -> Value {
    serde_json::to_value(translated(body).request).expect("serializes")
}

fn translate_err(body: Value) -> String {
    let Value::Object(map) = body else {
        panic!("object")
    };
    request_from_openai(&map).expect_err("refused").to_string()
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
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

/// What an OpenAI client builds from a stream: the message, tool calls joined by index,
/// every `reasoning_details` fragment in order.
fn joined_message(steps: &[Value]) -> Value {
    let mut content = String::new();
    let mut calls: Vec<Value> = Vec::new();
    let mut details: Vec<Value> = Vec::new();
    for s in steps {
        let d = &s["delta"];
        content.push_str(d["content"].as_str().unwrap_or(""));
        details.extend(
            d["reasoning_details"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        for call in d["tool_calls"].as_array().into_iter().flatten() {
            let i = call["index"].as_u64().expect("index") as usize;
            if calls.len() <= i {
                calls.push(json!({"id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}));
            }
            let args = calls[i]["function"]["arguments"]
                .as_str()
                .expect("args")
                .to_owned()
                + call["function"]["arguments"].as_str().unwrap_or("");
            calls[i]["function"]["arguments"] = json!(args);
        }
    }
    let mut m = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        m["tool_calls"] = json!(calls);
    }
    if !details.is_empty() {
        m["reasoning_details"] = json!(details);
    }
    m
}

// ---- requests ----

#[test]
fn request_text_only_has_no_generation_config() {
    insta::assert_json_snapshot!(translate(json!({
        "model": "google/gemini",
        "messages": [user("Hello")],
    })));
}

#[test]
fn request_system_and_developer_messages_become_the_system_instruction() {
    insta::assert_json_snapshot!(translate(json!({
        "messages": [
            {"role": "system", "content": "You are terse."},
            user("Hi"),
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        ],
    })));
}

#[test]
fn request_multi_turn_merges_roles_and_maps_generation_config() {
    insta::assert_json_snapshot!(translate(json!({
        "messages": [
            user("One"),
            {"role": "user", "content": [{"type": "text", "text": "Two"}, {"type": "text", "text": ""}]},
            {"role": "assistant", "content": "Three"},
            {"role": "assistant", "content": "Four"},
            user("Five"),
        ],
        "temperature": 1.5,
        "top_p": 0.9,
        "top_k": 40,
        "max_tokens": 300,
        "stop": ["END", "STOP"],
        "presence_penalty": 0.25,
        "frequency_penalty": 0.5,
        "seed": 7,
        "user": "user-42",
        "n": 1,
        "logit_bias": {"50256": -100},
        "parallel_tool_calls": true,
    })));
}

#[test]
fn request_max_tokens_and_stop_forms() {
    let base = || json!({"messages": [user("x")]});
    let mut b = base();
    b["max_tokens"] = json!(77);
    b["max_completion_tokens"] = json!(88);
    b["stop"] = json!("\n\n");
    let out = translate(b);
    assert_eq!(out["generationConfig"]["maxOutputTokens"], 88);
    assert_eq!(out["generationConfig"]["stopSequences"], json!(["\n\n"]));
    let mut b = base();
    b["max_tokens"] = json!(0);
    b["stop"] = json!([]);
    assert!(translate(b).get("generationConfig").is_none());
}

#[test]
fn request_images_audio_and_files() {
    let t = translated(json!({
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.PNG?size=large"}},
            {"type": "image_url", "image_url": "https://example.com/photo.webp"},
            {"type": "image_url", "image_url": {"url": "https://example.com/render?id=42"}},
            {"type": "image_url", "image_url": {"url": "gs://bucket/scan.jpg"}},
            {"type": "image_url", "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
        ]}],
    }));
    insta::assert_json_snapshot!(json!({
        "request": t.request,
        "warnings": t.warnings,
    }));
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "now"}},
    ])
}

#[test]
fn request_tools_and_tool_choice_variants() {
    let base = |choice: Value| {
        let mut body = json!({"messages": [user("x")], "tools": tools()});
        if !choice.is_null() {
            body["tool_choice"] = choice;
        }
        translate(body)
    };
    insta::assert_json_snapshot!(json!({
        "tools": base(Value::Null)["tools"],
        "default": base(Value::Null)["toolConfig"],
        "auto": base(json!("auto"))["toolConfig"],
        "none": base(json!("none"))["toolConfig"],
        "required": base(json!("required"))["toolConfig"],
        "named": base(json!({"type": "function", "function": {"name": "now"}}))["toolConfig"],
    }));
    // Without tools a tool_choice means nothing.
    let out = translate(json!({"messages": [user("x")], "tool_choice": "required"}));
    assert!(out.get("toolConfig").is_none() && out.get("tools").is_none());
}

#[test]
fn request_parallel_tool_calls_and_results_recover_function_names() {
    let synthetic = tool_call_id("get_weather", &json!({"city": "Paris"}), 0);
    insta::assert_json_snapshot!(translate(json!({
        "messages": [
            user("Weather in Paris and Tokyo, and the time?"),
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": synthetic, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_from_openai", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Tokyo\"}"}},
                {"id": "gemini-native-7", "type": "function", "function": {"name": "now", "arguments": ""}},
            ]},
            {"role": "tool", "tool_call_id": synthetic, "content": "18C"},
            {"role": "tool", "tool_call_id": "call_from_openai", "content": [{"type": "text", "text": "25C"}]},
            {"role": "tool", "tool_call_id": "gemini-native-7", "content": "noon"},
            user("Thanks, compare them."),
        ],
        "tools": tools(),
    })));
}

#[test]
fn request_tool_results_name_their_function_from_the_latest_call() {
    let out = translate(json!({"messages": [
        user("go"),
        {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "first", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "second", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "a", "content": "2"},
        {"role": "tool", "tool_call_id": "unknown", "name": "legacy", "content": "3"},
        {"role": "function", "name": "older", "content": "4"},
    ]}));
    let names: Vec<&str> = out["contents"]
        .as_array()
        .expect("contents")
        .iter()
        .flat_map(|c| c["parts"].as_array().expect("parts"))
        .filter_map(|p| p.pointer("/functionResponse/name").and_then(Value::as_str))
        .collect();
    assert_eq!(names, ["first", "second", "legacy", "older"]);
}

#[test]
fn request_json_mode_and_json_schema() {
    let format = |f: Value| {
        translate(json!({"messages": [user("x")], "response_format": f}))
            .get("generationConfig")
            .cloned()
            .unwrap_or(Value::Null)
    };
    insta::assert_json_snapshot!(json!({
        "json_object": format(json!({"type": "json_object"})),
        "json_schema": format(json!({"type": "json_schema", "json_schema": {"name": "city", "strict": true,
            "schema": {"type": "object", "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
                "required": ["name", "population"], "additionalProperties": false}}})),
        "text": format(json!({"type": "text"})),
    }));
}

#[test]
fn request_reasoning_turns_into_thinking_config() {
    let thinking = |extra: Value| {
        let mut body = json!({"messages": [user("x")]});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        translate(body)
            .get("generationConfig")
            .cloned()
            .unwrap_or(Value::Null)
    };
    insta::assert_json_snapshot!(json!({
        "max_tokens_budget": thinking(json!({"reasoning": {"max_tokens": 2000}})),
        "budget_above_max_tokens": thinking(json!({"reasoning": {"max_tokens": 3000}, "max_tokens": 1000})),
        "effort_low": thinking(json!({"reasoning": {"effort": "low"}})),
        "effort_high_excluded": thinking(json!({"reasoning": {"effort": "high", "exclude": true}})),
        "enabled_dynamic": thinking(json!({"reasoning": {"enabled": true}})),
        "disabled": thinking(json!({"reasoning": {"enabled": false, "effort": "high"}})),
        "openai_reasoning_effort": thinking(json!({"reasoning_effort": "medium"})),
        "effort_none": thinking(json!({"reasoning_effort": "none"})),
    }));
}

#[test]
fn request_thought_signatures_are_replayed_on_their_parts() {
    let call = tool_call_id("get_weather", &json!({"city": "Paris"}), 0);
    insta::assert_json_snapshot!(translate(json!({
        "messages": [
            user("Weather in Paris?"),
            {"role": "assistant", "content": "Let me check.", "reasoning": "I should call the tool.",
             "reasoning_details": [
                {"type": "reasoning.text", "text": "I should ", "format": "google-gemini-v1", "index": 0},
                {"type": "reasoning.text", "text": "call the tool.", "format": "google-gemini-v1", "index": 0},
                {"type": "reasoning.text", "text": "", "signature": "THOUGHT-SIG", "format": "google-gemini-v1", "index": 0},
                {"type": "reasoning.text", "text": "unsigned, not sent back", "format": "google-gemini-v1", "index": 1},
                {"type": "reasoning.encrypted", "data": "TEXT-SIG", "format": "google-gemini-v1", "index": 2},
                {"type": "reasoning.encrypted", "data": "CALL-SIG", "id": call, "format": "google-gemini-v1", "index": 3},
                {"type": "reasoning.text", "text": "Claude's", "signature": "EqQBsig==", "format": "anthropic-claude-v1", "index": 4},
             ],
             "tool_calls": [{"id": call, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": call, "content": "18C"},
        ],
    })));
}

#[test]
fn request_a_text_signature_without_text_gets_an_empty_part() {
    let out = translate(json!({"messages": [
        user("go"),
        {"role": "assistant", "content": "", "reasoning_details": [
            {"type": "reasoning.encrypted", "data": "SIG", "format": "google-gemini-v1", "index": 0}]},
        user("again"),
    ]}));
    assert_eq!(
        out["contents"][1],
        json!({"role": "model", "parts": [{"text": "", "thoughtSignature": "SIG"}]})
    );
}

#[test]
fn request_that_gemini_cannot_express_is_refused_with_the_field() {
    let m = |c: Value| json!({"messages": c});
    let cases = [
        (
            m(json!([{"role": "assistant", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}])),
            "arguments` must be a JSON object",
        ),
        (
            m(json!([{"role": "user", "content": [{"type": "video_url"}]}])),
            "video_url",
        ),
        (
            m(
                json!([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]),
            ),
            "image_url",
        ),
        (m(json!([{"role": "tool", "content": "x"}])), "tool_call_id"),
        (
            m(json!([{"role": "tool", "tool_call_id": "nope", "content": "x"}])),
            "matches no tool call",
        ),
        (m(json!([{"role": "critic", "content": "x"}])), "critic"),
        (json!({"messages": "x"}), "messages"),
        (
            json!({"messages": [], "tools": [{"type": "web_search"}]}),
            "only function tools",
        ),
        (
            json!({"messages": [], "tools": tools(), "tool_choice": "sometimes"}),
            "tool_choice",
        ),
        (
            json!({"messages": [], "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
            "json_schema.schema",
        ),
    ];
    for (body, needle) in cases {
        let err = translate_err(body.clone());
        assert!(err.contains(needle), "{body}: {err}");
    }
}

// ---- responses ----

fn completion_json(body: &str) -> Value {
    let r: GenerateContentResponse = serde_json::from_str(body).expect("response parses");
    let c = completion_from_response(&r);
    json!({
        "message": serde_json::from_str::<Value>(&c.message).expect("message is JSON"),
        "finish_reason": c.finish_reason,
        "native_finish_reason": c.native_finish_reason,
        "usage": c.usage,
    })
}

#[test]
fn response_text_with_a_thought_signature() {
    insta::assert_json_snapshot!(completion_json(&fixture("vercel-ai__google-text.json")));
}

#[test]
fn response_reasoning_usage_counts_thoughts_as_completion() {
    let c = completion_json(&fixture("vercel-ai__google-reasoning.json"));
    // 29 answer tokens + 282 thought tokens.
    assert_eq!(c["usage"]["completion_tokens"], 311);
    assert_eq!(
        c["usage"]["completion_tokens_details"]["reasoning_tokens"],
        282
    );
    assert_eq!(c["usage"]["total_tokens"], 320);
    insta::assert_json_snapshot!(c);
}

#[test]
fn response_tool_call_is_tool_calls_with_a_made_up_id() {
    insta::assert_json_snapshot!(completion_json(&fixture(
        "vercel-ai__google-tool-call.json"
    )));
}

#[test]
fn response_tool_call_gemini3() {
    insta::assert_json_snapshot!(completion_json(&fixture(
        "vercel-ai__google-tool-call-gemini3.json"
    )));
}

#[test]
fn response_blocked_prompt_is_a_content_filter_answer() {
    insta::assert_json_snapshot!(completion_json(&fixture(
        "vercel-ai__issue-19758-prompt-block.json"
    )));
}

#[test]
fn response_thoughts_parallel_calls_and_cached_usage() {
    insta::assert_json_snapshot!(completion_json(
        r#"{"candidates":[{"content":{"role":"model","parts":[
            {"text":"Two cities, ","thought":true},
            {"text":"two calls.","thought":true,"thoughtSignature":"THOUGHT-SIG"},
            {"text":"Checking both."},
            {"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"CALL-SIG"},
            {"functionCall":{"name":"get_weather","args":{"city":"Tokyo"}}},
            {"functionCall":{"id":"native-1","name":"now","args":{}}},
            {"executableCode":{"language":"PYTHON","code":"print(1)"}}
        ]},"finishReason":"STOP","index":0}],
        "usageMetadata":{"promptTokenCount":3010,"cachedContentTokenCount":3000,"candidatesTokenCount":40,
            "thoughtsTokenCount":20,"toolUsePromptTokenCount":5,"totalTokenCount":3075},
        "modelVersion":"gemini-2.5-pro","responseId":"r-1"}"#
    ));
}

#[test]
fn every_finish_reason_maps() {
    let reasons = [
        "STOP",
        "MAX_TOKENS",
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "LANGUAGE",
        "OTHER",
        "MALFORMED_FUNCTION_CALL",
        "MISSING_THOUGHT_SIGNATURE",
        "FINISH_REASON_UNSPECIFIED",
    ];
    let map: Vec<(&str, &str, &str)> = reasons
        .iter()
        .map(|r| (*r, finish_reason(r, false), finish_reason(r, true)))
        .collect();
    insta::assert_json_snapshot!(map);
    let c = completion_json(
        r#"{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"RECITATION"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1}}"#,
    );
    assert_eq!(c["finish_reason"], "content_filter");
    assert_eq!(c["native_finish_reason"], "RECITATION");
    // A safety stop may come without any content at all.
    let c = completion_json(r#"{"candidates":[{"finishReason":"SAFETY","index":0}]}"#);
    assert_eq!(c["message"]["content"], Value::Null);
    assert_eq!(c["finish_reason"], "content_filter");
}

#[test]
fn usage_with_cached_and_thought_tokens() {
    let u = UsageMetadata {
        prompt_token_count: Some(1000),
        cached_content_token_count: Some(600),
        candidates_token_count: Some(50),
        thoughts_token_count: Some(200),
        tool_use_prompt_token_count: Some(10),
        total_token_count: Some(1260),
    };
    insta::assert_json_snapshot!(u.to_openai());
    let bare = UsageMetadata {
        prompt_token_count: Some(9),
        candidates_token_count: Some(2),
        ..UsageMetadata::default()
    }
    .to_openai();
    assert_eq!(bare.completion_tokens_details, None);
    assert_eq!(bare.cached_tokens(), 0);
    assert_eq!(bare.total_tokens, 11);
}

#[test]
fn thought_signatures_survive_a_round_trip_across_turns() {
    let r: GenerateContentResponse =
        serde_json::from_str(&fixture("vercel-ai__google-tool-call-gemini3.json")).expect("parses");
    let c = completion_from_response(&r);
    let assistant: Value = serde_json::from_str(&c.message).expect("json");
    let id = assistant["tool_calls"][0]["id"].as_str().expect("id");
    let next = translate(json!({"messages": [
        user("weather?"),
        assistant.clone(),
        {"role": "tool", "tool_call_id": id, "content": "sunny"},
    ]}));
    let original = &r.candidates[0].content.as_ref().expect("content").parts;
    let replayed: Vec<Part> =
        serde_json::from_value(next["contents"][1]["parts"].clone()).expect("parts");
    assert_eq!(&replayed, original, "the model turn goes back as it came");
    assert_eq!(
        next["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "weather", "response": {"result": "sunny"}})
    );
}

#[test]
fn a_streamed_answer_joined_by_a_client_replays_the_same_signatures() {
    for (name, whole) in [
        (
            "vercel-ai__google-tool-call.chunks.txt",
            "vercel-ai__google-tool-call.json",
        ),
        (
            "vercel-ai__google-text.chunks.txt",
            "vercel-ai__google-text.json",
        ),
    ] {
        let (steps, _) = run_stream(&[sse_fixture(name).as_bytes()]);
        let message = joined_message(&steps);
        let next = translate(json!({"messages": [user("q"), message, user("ok")]}));
        let parts = next["contents"][1]["parts"].as_array().expect("parts");
        let streamed_sig = sse_fixture(name)
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|l| serde_json::from_str::<GenerateContentResponse>(l).ok())
            .flat_map(|c| candidate_parts(&c).to_vec())
            .find_map(|p| p.thought_signature)
            .expect("a signature in the stream");
        assert_eq!(
            parts
                .iter()
                .filter_map(|p| p["thoughtSignature"].as_str())
                .collect::<Vec<_>>(),
            [streamed_sig.as_str()],
            "{name}"
        );
        // And it sits where the non-streamed answer carries its own: on the call or the text.
        let r: GenerateContentResponse = serde_json::from_str(&fixture(whole)).expect("parses");
        let signed = candidate_parts(&r)
            .iter()
            .find(|p| p.thought_signature.is_some())
            .expect("signed part");
        let replayed = parts
            .iter()
            .find(|p| p.get("thoughtSignature").is_some())
            .expect("signed");
        assert_eq!(
            replayed.get("functionCall").is_some(),
            signed.function_call.is_some(),
            "{name}"
        );
    }
}

#[test]
fn a_stream_and_a_non_stream_of_one_answer_agree_on_tool_call_ids() {
    let (steps, _) =
        run_stream(&[sse_fixture("vercel-ai__google-tool-call.chunks.txt").as_bytes()]);
    let streamed = joined_message(&steps);
    let whole = completion_json(&fixture("vercel-ai__google-tool-call.json"));
    assert_eq!(
        streamed["tool_calls"][0]["id"],
        whole["message"]["tool_calls"][0]["id"]
    );
    assert_eq!(
        streamed["tool_calls"][0]["function"],
        whole["message"]["tool_calls"][0]["function"]
    );
    assert!(
        streamed["tool_calls"][0]["id"]
            .as_str()
            .expect("id")
            .starts_with(SYNTHETIC_ID_PREFIX)
    );
}

// ---- streams ----

#[test]
fn stream_text() {
    insta::assert_json_snapshot!(stream_snapshot("vercel-ai__google-text.chunks.txt"));
}

#[test]
fn stream_reasoning() {
    insta::assert_json_snapshot!(stream_snapshot("vercel-ai__google-reasoning.chunks.txt"));
}

#[test]
fn stream_tool_call() {
    insta::assert_json_snapshot!(stream_snapshot("vercel-ai__google-tool-call.chunks.txt"));
}

#[test]
fn stream_tool_call_gemini3() {
    insta::assert_json_snapshot!(stream_snapshot(
        "vercel-ai__google-tool-call-gemini3.chunks.txt"
    ));
}

#[test]
fn stream_tool_call_arguments_in_pieces() {
    insta::assert_json_snapshot!(stream_snapshot(
        "vercel-ai__google-stream-tool-call-arguments.chunks.txt"
    ));
}

#[test]
fn stream_thoughts_then_text() {
    let chunks = [
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Counting ","thought":true}]}}],"usageMetadata":{"promptTokenCount":9,"thoughtsTokenCount":12}}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"letters.","thought":true}]}}],"usageMetadata":{"promptTokenCount":9,"thoughtsTokenCount":30}}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Three."}]}}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"thoughtsTokenCount":30}}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"","thoughtSignature":"SIG"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"thoughtsTokenCount":30,"cachedContentTokenCount":4}}"#,
    ];
    let sse: String = chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect();
    let (steps, usage) = run_stream(&[sse.as_bytes()]);
    insta::assert_json_snapshot!(json!({"steps": steps, "usage": usage}));
}

#[test]
fn stream_blocked_prompt_and_max_tokens() {
    let blocked = format!(
        "data: {}\r\n\r\n",
        fixture("vercel-ai__issue-19758-prompt-block.json").replace('\n', "")
    );
    let cut = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Once upon\"}]},\"finishReason\":\"MAX_TOKENS\"}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":2}}\r\n\r\n";
    insta::assert_json_snapshot!(json!({
        "blocked": run_stream(&[blocked.as_bytes()]).0,
        "max_tokens": run_stream(&[cut.as_bytes()]).0,
    }));
}

#[test]
fn stream_error_chunk_and_malformed_data() {
    let mut s = StreamState::new();
    let Err(StreamError::Upstream(e)) = s.on_event(
        r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
    ) else {
        panic!("an upstream error");
    };
    assert_eq!(e.classify(e.code), ErrorClass::Overloaded);
    assert!(matches!(
        s.on_event("{not json"),
        Err(StreamError::Malformed(_))
    ));
    assert_eq!(
        s.on_event(r#"{"usageMetadata":{"trafficType":"ON_DEMAND"}}"#),
        Ok(StreamStep::Nothing)
    );
    assert_eq!(s.usage(), None, "no token count seen yet");
}

// ---- errors ----

#[test]
fn every_error_envelope_is_classified() {
    let live: Value =
        serde_json::from_str(&fixture("vercel-ai__issue-22372-live-errors.json")).expect("json");
    let mut bodies: Vec<(String, u16, String)> = [
        ("real-capture__error_400_api_key_invalid.json", 400),
        ("real-capture__error_403_no_key.json", 403),
        ("vercel-ai__google-429-retry-info.json", 429),
        ("vercel-ai__issue-8943-gemini-2.5-flash-error.json", 400),
    ]
    .into_iter()
    .map(|(name, status)| (name.to_owned(), status, fixture(name)))
    .collect();
    for key in ["reasoningNoneResponse", "thinkingLevelAndBudgetResponse"] {
        bodies.push((format!("issue-22372 {key}"), 400, live[key].to_string()));
    }
    for (name, status, body) in [
        (
            "503 UNAVAILABLE",
            503,
            r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
        ),
        (
            "500 INTERNAL",
            500,
            r#"{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}"#,
        ),
        (
            "504 DEADLINE_EXCEEDED",
            504,
            r#"{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}"#,
        ),
        (
            "404 NOT_FOUND",
            404,
            r#"{"error":{"code":404,"message":"models/gemini-x is not found for API version v1beta, or is not supported for generateContent.","status":"NOT_FOUND"}}"#,
        ),
        (
            "400 FAILED_PRECONDITION",
            400,
            r#"{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}"#,
        ),
        (
            "400 context length",
            400,
            r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#,
        ),
        (
            "429 in an array (proxies)",
            429,
            r#"[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}]"#,
        ),
        (
            "502 without a status",
            502,
            r#"{"error":{"code":502,"message":"Bad Gateway"}}"#,
        ),
    ] {
        bodies.push((name.to_owned(), status, body.to_owned()));
    }
    let table: Vec<Value> = bodies
        .iter()
        .map(|(name, status, body)| {
            let e = parse_error(body).expect("a Google error envelope");
            json!({
                "case": name,
                "http": status,
                "status": e.status,
                "reason": e.reason(),
                "retry_delay_ms": e.retry_delay().map(|d| d.as_millis() as u64),
                "class": e.classify(*status),
                "message": e.message,
            })
        })
        .collect();
    insta::assert_json_snapshot!(table);
    assert_eq!(parse_error("<html>Bad Gateway</html>"), None);
}

// ---- properties ----

proptest::proptest! {
    #[test]
    fn a_stream_split_anywhere_gives_the_same_chunks(
        which in 0usize..5,
        cuts in proptest::collection::vec(0usize..100_000, 0..8),
    ) {
        let name = [
            "vercel-ai__google-text.chunks.txt",
            "vercel-ai__google-reasoning.chunks.txt",
            "vercel-ai__google-tool-call.chunks.txt",
            "vercel-ai__google-tool-call-gemini3.chunks.txt",
            "vercel-ai__google-stream-tool-call-arguments.chunks.txt",
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

    #[test]
    fn a_translated_request_keeps_every_field_gemini_can_express(
        temperature in proptest::option::of(0.0f64..2.0),
        top_p in proptest::option::of(0.01f64..1.0),
        top_k in proptest::option::of(1u64..100),
        max_tokens in proptest::option::of(1u64..100_000),
        stop in proptest::collection::vec("[a-z]{1,5}", 0..4),
        seed in proptest::option::of(-1000i64..1000),
        presence in proptest::option::of(-2.0f64..2.0),
        frequency in proptest::option::of(-2.0f64..2.0),
        turns in proptest::collection::vec((0usize..3, "[a-zA-Z0-9 ]{1,12}"), 1..8),
        tool_names in proptest::collection::vec("[a-z_]{1,8}", 0..3),
        choice in 0usize..5,
        json_mode in proptest::bool::ANY,
    ) {
        let roles = ["system", "user", "assistant"];
        let messages: Vec<Value> = turns
            .iter()
            .map(|(r, text)| json!({"role": roles[*r], "content": text}))
            .collect();
        let mut body = json!({"model": "x/y", "messages": messages});
        let mut set = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                body[k] = v;
            }
        };
        set("temperature", temperature.map(|v| json!(v)));
        set("top_p", top_p.map(|v| json!(v)));
        set("top_k", top_k.map(|v| json!(v)));
        set("max_tokens", max_tokens.map(|v| json!(v)));
        set("seed", seed.map(|v| json!(v)));
        set("presence_penalty", presence.map(|v| json!(v)));
        set("frequency_penalty", frequency.map(|v| json!(v)));
        set("stop", (!stop.is_empty()).then(|| json!(stop)));
        set("response_format", json_mode.then(|| json!({"type": "json_object"})));
        let tools: Vec<Value> = tool_names
            .iter()
            .map(|n| json!({"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}))
            .collect();
        set("tools", (!tools.is_empty()).then(|| json!(tools)));
        let choices = [json!("auto"), json!("none"), json!("required"), Value::Null,
            json!({"type": "function", "function": {"name": tool_names.first().cloned().unwrap_or_default()}})];
        set("tool_choice", Some(choices[choice].clone()).filter(|c| !c.is_null()));

        let req = translated(body).request;
        let g = req.generation_config.clone().unwrap_or_default();
        proptest::prop_assert_eq!(g.temperature, temperature);
        proptest::prop_assert_eq!(g.top_p, top_p);
        proptest::prop_assert_eq!(g.top_k, top_k);
        proptest::prop_assert_eq!(g.max_output_tokens, max_tokens);
        proptest::prop_assert_eq!(g.seed, seed);
        proptest::prop_assert_eq!(g.presence_penalty, presence);
        proptest::prop_assert_eq!(g.frequency_penalty, frequency);
        proptest::prop_assert_eq!(g.stop_sequences, (!stop.is_empty()).then_some(stop));
        proptest::prop_assert_eq!(g.response_mime_type.is_some(), json_mode);

        // Every text lands in order, system texts in the system instruction, the rest in
        // alternating user/model turns.
        let texts = |parts: &[Part]| parts.iter().filter_map(|p| p.text.clone()).collect::<Vec<_>>();
        let system: Vec<String> = turns.iter().filter(|(r, _)| *r == 0).map(|(_, t)| t.clone()).collect();
        proptest::prop_assert_eq!(req.system_instruction.as_ref().map_or(vec![], |s| texts(&s.parts)), system);
        let said: Vec<(String, String)> = turns
            .iter()
            .filter(|(r, _)| *r != 0)
            .map(|(r, t)| ((if *r == 1 { "user" } else { "model" }).to_owned(), t.clone()))
            .collect();
        let sent: Vec<(String, String)> = req
            .contents
            .iter()
            .flat_map(|c| texts(&c.parts).into_iter().map(|t| (c.role.clone().unwrap_or_default(), t)))
            .collect();
        proptest::prop_assert_eq!(sent, said);
        for pair in req.contents.windows(2) {
            proptest::prop_assert_ne!(&pair[0].role, &pair[1].role);
        }

        let declared: Vec<String> = req
            .tools
            .iter()
            .flatten()
            .flat_map(|t| t.function_declarations.iter().map(|d| d.name.clone()))
            .collect();
        proptest::prop_assert_eq!(&declared, &tool_names);
        let mode = req.tool_config.as_ref().map(|t| t.function_calling_config.mode.clone());
        let want = if tool_names.is_empty() {
            None
        } else {
            [Some("AUTO"), Some("NONE"), Some("ANY"), None, Some("ANY")][choice].map(str::to_owned)
        };
        proptest::prop_assert_eq!(mode, want);
    }
}

#[test]
fn the_declared_parameters_are_exactly_the_translated_ones() {
    crate::params::assert_declared(SUPPORTED_PARAMETERS, |body| {
        format!("{:?}", translated(Value::Object(body.clone())).request)
    });
}
