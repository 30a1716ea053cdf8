//! Request parameters whose support differs between endpoints: OpenRouter's
//! `supported_parameters` vocabulary (spec §7.1) plus `n`, as a bit set so that routing and
//! the adapters compare a request with an endpoint without allocating.

/// Every parameter an endpoint may or may not honour, in bit order. `max_completion_tokens`
/// is the same parameter as `max_tokens` (see [`param_of`]).
pub const PARAMETERS: &[&str] = &[
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "structured_outputs",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "top_a",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "seed",
    "stop",
    "max_tokens",
    "reasoning",
    "include_reasoning",
    "reasoning_effort",
    "web_search_options",
    "verbosity",
    "prediction",
    // Not in OpenRouter's list: several choices are something only some upstreams produce.
    "n",
];

/// The bit of a parameter name (a request member or a `supported_parameters` entry).
pub fn param_of(name: &str) -> Option<u32> {
    let name = if name == "max_completion_tokens" {
        "max_tokens"
    } else {
        name
    };
    PARAMETERS
        .iter()
        .position(|p| *p == name)
        .and_then(|i| u32::try_from(i).ok())
}

/// A set of [`PARAMETERS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ParamSet(u32);

const _: () = assert!(PARAMETERS.len() <= 32, "ParamSet holds 32 parameters");

impl ParamSet {
    pub const EMPTY: ParamSet = ParamSet(0);
    pub const ALL: ParamSet = ParamSet(if PARAMETERS.len() == 32 {
        u32::MAX
    } else {
        (1 << PARAMETERS.len()) - 1
    });

    /// The known names of `names`; unknown ones are left out (configuration validation
    /// reports them).
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> ParamSet {
        names
            .into_iter()
            .filter_map(param_of)
            .fold(ParamSet::EMPTY, |set, bit| ParamSet(set.0 | (1 << bit)))
    }

    pub fn insert(&mut self, bit: u32) {
        self.0 |= 1 << bit;
    }

    pub fn contains(self, bit: u32) -> bool {
        self.0 & (1 << bit) != 0
    }

    /// Whether the member `name` of a request is one of this set's parameters.
    pub fn has_member(self, name: &str) -> bool {
        param_of(name).is_some_and(|bit| self.contains(bit))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: ParamSet) -> ParamSet {
        ParamSet(self.0 | other.0)
    }

    pub fn intersection(self, other: ParamSet) -> ParamSet {
        ParamSet(self.0 & other.0)
    }

    /// What of `self` is not in `other`.
    pub fn without(self, other: ParamSet) -> ParamSet {
        ParamSet(self.0 & !other.0)
    }

    /// The names in the set, in [`PARAMETERS`] order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        PARAMETERS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
    }
}

/// Checks a translator's declared parameter set against what it does: with a value for each
/// parameter added to a plain request, the translation changes exactly when the parameter is
/// declared supported.
#[cfg(test)]
pub(crate) fn assert_declared(
    supported: &[&str],
    translate: impl Fn(&serde_json::Map<String, serde_json::Value>) -> String,
) {
    use serde_json::json;
    let sample = |name: &str| match name {
        "tools" => {
            json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
        }
        "tool_choice" => json!("required"),
        "parallel_tool_calls" => json!(false),
        "response_format" => json!({"type": "json_object"}),
        "structured_outputs" | "logprobs" | "include_reasoning" => json!(true),
        "top_k" | "top_logprobs" | "n" => json!(2),
        "seed" => json!(7),
        "stop" => json!(["zz"]),
        "max_tokens" => json!(77),
        "reasoning" => json!({"max_tokens": 2000}),
        "reasoning_effort" => json!("high"),
        "logit_bias" => json!({"50256": -100}),
        "web_search_options" => json!({"search_context_size": "low"}),
        "verbosity" => json!("low"),
        "prediction" => json!({"type": "content", "content": "x"}),
        "repetition_penalty" => json!(1.1),
        _ => json!(0.5),
    };
    for name in PARAMETERS {
        let mut base = serde_json::Map::new();
        base.insert(
            "messages".into(),
            json!([{"role": "user", "content": "hi"}]),
        );
        if matches!(*name, "tool_choice" | "parallel_tool_calls") {
            base.insert("tools".into(), sample("tools"));
        }
        let mut with = base.clone();
        with.insert((*name).to_owned(), sample(name));
        let changed = translate(&base) != translate(&with);
        assert_eq!(
            changed,
            supported.contains(name),
            "`{name}`: declared {}, but the translation {}",
            if supported.contains(name) {
                "supported"
            } else {
                "unsupported"
            },
            if changed { "uses it" } else { "ignores it" },
        );
    }
    for name in supported {
        assert!(
            param_of(name).is_some(),
            "`{name}` is not a known parameter"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_name_their_members_and_alias_max_completion_tokens() {
        let set = ParamSet::of(["seed", "tools", "max_completion_tokens", "nonsense"]);
        assert_eq!(
            set.names().collect::<Vec<_>>(),
            ["tools", "seed", "max_tokens"]
        );
        assert!(set.has_member("max_tokens") && set.has_member("max_completion_tokens"));
        assert!(!set.has_member("temperature") && !set.has_member("messages"));
        let used = ParamSet::of(["seed", "temperature"]);
        assert_eq!(
            used.without(set).names().collect::<Vec<_>>(),
            ["temperature"]
        );
        assert_eq!(ParamSet::ALL.names().count(), PARAMETERS.len());
        assert!(
            ParamSet::ALL
                .without(ParamSet::of(PARAMETERS.iter().copied()))
                .is_empty()
        );
    }
}
