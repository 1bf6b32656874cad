//! Benchmarks of the dot codec (placeholder until `dot.rs` lands).
fn main() {}
