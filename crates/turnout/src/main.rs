//! The `turnout` binary.
fn main() {}
