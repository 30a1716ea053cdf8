//! Step 5: usage, cost and (later) settlement.

pub mod cost;
