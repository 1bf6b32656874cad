//! Dot-codec benchmarks (placeholder until `dot.rs` lands).
fn main() {}
