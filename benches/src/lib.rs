//! Shared inputs for the benchmarks (deterministic pseudo-random buffers).
