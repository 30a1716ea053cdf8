//! Step 3: what the translating adapters (Anthropic, Gemini) share: the client's body as a
//! JSON tree to translate from, and, once an answer is in OpenAI terms, rendering it with our
//! identity, usage and cost, or framing one stream step as our chunk.

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use turnout_wire::chat::{ChatResult, DeltaView, ResultChoice};
use turnout_wire::params::ParamSet;
use turnout_wire::translate::{Completion, StreamStep};

use super::attempt::{AttemptError, Completed, FailureClass, excerpt};
use super::openai::{StreamTranslator, Translated};
use crate::accounting::cost::{estimate_usage, usage_out};
use crate::egress::ResponseIdentity;
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;

/// The client's request as a JSON object: the forwarded members plus OpenRouter's
/// `reasoning`, which is kept apart from them because OpenAI-compatible upstreams must not
/// get it.
/// The `dropped` parameters (those the endpoint does not honour) are left out.
pub(super) fn chat_body(
    input: &ChatInput,
    dropped: ParamSet,
) -> Result<Map<String, Value>, String> {
    // The forwarded members are the client's own JSON, so they parse.
    let mut text = Vec::with_capacity(input.forward.len() + 2);
    text.push(b'{');
    text.extend_from_slice(&input.forward);
    text.push(b'}');
    let mut body: Map<String, Value> =
        serde_json::from_slice(&text).map_err(|e| format!("request body: {e}"))?;
    if !dropped.is_empty() {
        body.retain(|key, _| !dropped.has_member(key));
    }
    if let Some(r) = &input.reasoning
        && !dropped.has_member("reasoning")
        && let Ok(v) = serde_json::from_str(r)
    {
        body.insert("reasoning".to_owned(), v);
    }
    Ok(body)
}

/// A translated answer as our `chat.completion`. Without `reported` usage it is estimated
/// from the prompt and the generated text (never silently zero).
pub(super) fn completion(
    done: Completion,
    reported: bool,
    target: &Target,
    input: &ChatInput,
    ident: &ResponseIdentity,
) -> Result<Completed, AttemptError> {
    let usage = if reported {
        done.usage
    } else {
        let chars = serde_json::from_str::<DeltaView>(&done.message).map_or(0, |v| v.text_chars());
        estimate_usage(input.prompt_chars, chars)
    };
    let message = RawValue::from_string(done.message).map_err(|e| {
        AttemptError::new(
            FailureClass::BadOutput,
            target,
            format!("cannot render the message: {e}"),
        )
    })?;
    let finish = done.finish_reason;
    let usage_json = usage_out(&target.endpoint.pricing, &usage, finish);
    let cost = usage_json.cost.0;
    let result = ChatResult {
        id: &ident.id,
        provider: &target.endpoint.provider.name,
        model: &target.model_id,
        object: "chat.completion",
        created: ident.created,
        choices: vec![ResultChoice {
            index: 0,
            logprobs: None,
            finish_reason: finish,
            native_finish_reason: done.native_finish_reason.map(Into::into),
            message: &message,
        }],
        system_fingerprint: None,
        service_tier: None,
        usage: usage_json,
    };
    Ok(Completed {
        body: result.to_json(),
        usage,
        cost,
        finish_reason: finish,
        served_by: None,
    })
}

/// One translated stream step as our chunk, framed by the shared [`StreamTranslator`] so
/// identity, usage and the final chunk work as for OpenAI.
pub(super) fn stream_step(
    t: &mut StreamTranslator,
    step: StreamStep,
    target: &Target,
) -> Result<Translated, AttemptError> {
    Ok(match step {
        StreamStep::Nothing => Translated::Nothing,
        StreamStep::Stop => Translated::Done,
        StreamStep::Delta(d) => {
            let delta = RawValue::from_string(d.delta)
                .map_err(|e| AttemptError::new(FailureClass::BadOutput, target, e.to_string()))?;
            Translated::Chunk(t.frame_delta(
                target,
                &delta,
                d.chars,
                d.content,
                d.finish_reason,
                d.native_finish_reason.as_deref(),
            ))
        }
    })
}

/// A bad-output error quoting the start of the upstream's body.
pub(super) fn bad_output(body: &[u8], target: &Target, detail: String) -> AttemptError {
    AttemptError {
        raw: Some(excerpt(&String::from_utf8_lossy(body), 500).into()),
        ..AttemptError::new(FailureClass::BadOutput, target, detail)
    }
}

/// The upstream's JSON answer; an empty or malformed body is bad output.
pub(super) fn parse_answer<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
    target: &Target,
) -> Result<T, AttemptError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_output(body, target, "empty body".to_owned()));
    }
    serde_json::from_slice(body)
        .map_err(|e| bad_output(body, target, format!("malformed JSON: {e}")))
}
