//! Benchmarks for the dot codec (placeholder until `dot.rs` lands).
fn main() {}
