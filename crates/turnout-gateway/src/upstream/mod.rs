//! Step 3: talks to providers: adapters translate, `attempt` makes one classified try,
//! `fallback` walks the plan.

pub mod anthropic;
pub mod attempt;
pub mod client;
pub mod fallback;
pub mod gemini;
pub mod openai;
pub mod openrouter;
pub mod pool;
mod translating;
