//! Cost math in exact decimals: usage × the serving endpoint's prices.

use rust_decimal::Decimal;
use turnout_wire::chat::{
    CompletionTokensDetails, CostDetails, DecimalNumber, PromptTokensDetails, Usage, UsageOut,
};

use crate::routing::catalog::Pricing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub prompt: Decimal,
    pub completion: Decimal,
}

impl Cost {
    pub fn total(&self) -> Decimal {
        self.prompt + self.completion
    }
}

/// Prompt tokens are split into uncached, cache-read and cache-write parts, each at its own
/// price (cache prices default to the prompt price).
pub fn cost_of(pricing: &Pricing, usage: &Usage) -> Cost {
    let cached = usage.cached_tokens().min(usage.prompt_tokens);
    let written = usage.cache_write_tokens().min(usage.prompt_tokens - cached);
    let uncached = usage.prompt_tokens - cached - written;
    let prompt = Decimal::from(uncached) * pricing.prompt
        + Decimal::from(cached) * pricing.cache_read.unwrap_or(pricing.prompt)
        + Decimal::from(written) * pricing.cache_write.unwrap_or(pricing.prompt)
        + pricing.request.unwrap_or(Decimal::ZERO);
    let completion = Decimal::from(usage.completion_tokens) * pricing.completion;
    Cost { prompt, completion }
}

/// Zero-completion insurance: no output and no proper finish costs nothing.
pub fn is_billable(usage: &Usage, finish_reason: Option<&str>) -> bool {
    usage.completion_tokens > 0 || matches!(finish_reason, Some(r) if r != "error")
}

/// Usage when the upstream reported none: prompt characters ÷ 3 and generated characters ÷ 4
/// (the estimates of DESIGN.md §4), rounded up.
pub fn estimate_usage(prompt_chars: usize, completion_chars: usize) -> Usage {
    let prompt_tokens = prompt_chars.div_ceil(3) as u64;
    let completion_tokens = completion_chars.div_ceil(4) as u64;
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        ..Usage::default()
    }
}

/// Completion tokens assumed when neither the request nor the endpoint bounds them.
pub const DEFAULT_MAX_COMPLETION_TOKENS: u64 = 4_096;

/// The most a request can cost at one endpoint: what its credit hold reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxCost {
    /// Prompt estimate (characters ÷ 3) at the prompt price, plus any per-request price.
    pub prompt: Decimal,
    pub completion_price: Decimal,
    /// `max_tokens` of the request, else the endpoint's `max_completion_tokens`, else what
    /// its context leaves after the prompt.
    pub completion_tokens: u64,
}

impl MaxCost {
    pub fn total(&self) -> Decimal {
        self.prompt + Decimal::from(self.completion_tokens) * self.completion_price
    }

    /// Completion tokens `available` dollars pay for after the prompt (OpenRouter's "can
    /// only afford M").
    pub fn affordable_tokens(&self, available: Decimal) -> u64 {
        use rust_decimal::prelude::ToPrimitive;
        if self.completion_price <= Decimal::ZERO {
            return if available >= self.prompt {
                self.completion_tokens
            } else {
                0
            };
        }
        ((available - self.prompt) / self.completion_price)
            .floor()
            .max(Decimal::ZERO)
            .to_u64()
            .unwrap_or(u64::MAX)
    }
}

pub fn max_cost(
    pricing: &Pricing,
    prompt_chars: usize,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    context_length: Option<u64>,
) -> MaxCost {
    let prompt_tokens = prompt_chars.div_ceil(3) as u64;
    let completion_tokens = max_tokens
        .or(max_completion_tokens)
        .or_else(|| context_length.map(|c| c.saturating_sub(prompt_tokens)))
        .unwrap_or(DEFAULT_MAX_COMPLETION_TOKENS);
    MaxCost {
        prompt: Decimal::from(prompt_tokens) * pricing.prompt
            + pricing.request.unwrap_or(Decimal::ZERO),
        completion_price: pricing.completion,
        completion_tokens,
    }
}

/// The `usage` object we return, with cost.
pub fn usage_out(pricing: &Pricing, usage: &Usage, finish_reason: Option<&str>) -> UsageOut {
    let cost = if is_billable(usage, finish_reason) {
        cost_of(pricing, usage)
    } else {
        Cost {
            prompt: Decimal::ZERO,
            completion: Decimal::ZERO,
        }
    };
    let prompt_details = usage.prompt_tokens_details.clone().unwrap_or_default();
    let completion_details = usage.completion_tokens_details.clone().unwrap_or_default();
    UsageOut {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        total_tokens: usage
            .total_tokens
            .max(usage.prompt_tokens + usage.completion_tokens),
        cost: DecimalNumber(cost.total()),
        is_byok: false,
        prompt_tokens_details: PromptTokensDetails {
            cached_tokens: Some(prompt_details.cached_tokens.unwrap_or(0)),
            cache_write_tokens: Some(prompt_details.cache_write_tokens.unwrap_or(0)),
            ..prompt_details
        },
        completion_tokens_details: CompletionTokensDetails {
            reasoning_tokens: Some(completion_details.reasoning_tokens.unwrap_or(0)),
            ..completion_details
        },
        cost_details: CostDetails {
            // What the upstream itself charged, when it says (OpenRouter): the operator's cost.
            upstream_inference_cost: usage.cost.map(DecimalNumber),
            upstream_inference_prompt_cost: DecimalNumber(cost.prompt),
            upstream_inference_completions_cost: DecimalNumber(cost.completion),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn pricing() -> Pricing {
        Pricing {
            prompt: d("0.00000015"),
            completion: d("0.0000006"),
            cache_read: Some(d("0.000000075")),
            cache_write: None,
            request: None,
        }
    }

    #[test]
    fn matches_the_real_azure_capture_exactly() {
        // fixtures/openrouter/real_chat_response_nonstream_2.json: 9 + 10 tokens of
        // gpt-4o-mini cost 0.00000735 = 0.00000135 + 0.000006.
        let usage = Usage {
            prompt_tokens: 9,
            completion_tokens: 10,
            total_tokens: 19,
            ..Usage::default()
        };
        let c = cost_of(&pricing(), &usage);
        assert_eq!(c.prompt, d("0.00000135"));
        assert_eq!(c.completion, d("0.000006"));
        assert_eq!(c.total(), d("0.00000735"));
        let json =
            String::from_utf8(usage_out(&pricing(), &usage, Some("stop")).to_json()).expect("utf8");
        assert!(json.contains(r#""cost":0.00000735,"#), "{json}");
    }

    #[test]
    fn the_hold_covers_prompt_estimate_and_max_tokens() {
        // 30 characters ≈ 10 tokens at the prompt price, 100 completion tokens.
        let m = max_cost(&pricing(), 30, Some(100), Some(16_384), Some(128_000));
        assert_eq!(m.prompt, d("0.0000015"));
        assert_eq!(m.completion_tokens, 100);
        assert_eq!(m.total(), d("0.0000615"));
        assert_eq!(
            max_cost(&pricing(), 30, None, Some(16_384), None).completion_tokens,
            16_384
        );
        assert_eq!(
            max_cost(&pricing(), 30, None, None, Some(1_000)).completion_tokens,
            990
        );
        assert_eq!(
            max_cost(&pricing(), 30, None, None, None).completion_tokens,
            DEFAULT_MAX_COMPLETION_TOKENS
        );
        // $0.0000315 leaves $0.00003 after the prompt: 50 tokens at $0.0000006.
        assert_eq!(m.affordable_tokens(d("0.0000315")), 50);
        assert_eq!(m.affordable_tokens(d("0.000001")), 0);
    }

    #[test]
    fn no_float_drift_over_a_million_requests() {
        let usage = Usage {
            prompt_tokens: 1,
            completion_tokens: 1,
            total_tokens: 2,
            ..Usage::default()
        };
        let one = cost_of(&pricing(), &usage).total();
        let sum: Decimal = (0..1_000_000).map(|_| one).sum();
        assert_eq!(sum, d("0.75"));
    }

    #[test]
    fn cached_prompt_tokens_use_the_cache_read_price() {
        let usage = Usage {
            prompt_tokens: 1000,
            completion_tokens: 0,
            total_tokens: 1000,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(400),
                ..Default::default()
            }),
            ..Usage::default()
        };
        let c = cost_of(&pricing(), &usage);
        assert_eq!(c.prompt, d("0.00009") + d("0.00003"));
    }

    #[test]
    fn zero_completion_with_error_is_free() {
        let usage = Usage {
            prompt_tokens: 50,
            ..Usage::default()
        };
        assert!(!is_billable(&usage, Some("error")));
        assert!(!is_billable(&usage, None));
        assert!(is_billable(&usage, Some("stop")));
        let out = usage_out(&pricing(), &usage, None);
        assert_eq!(out.cost.0, Decimal::ZERO);
    }

    #[test]
    fn estimates_round_up() {
        let u = estimate_usage(10, 5);
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (4, 2, 6)
        );
    }
}
