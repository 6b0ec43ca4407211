//! What tests of several modules share (compiled for tests only, imports nothing).

/// A tiny deterministic generator (xorshift64) for mutation tests: the same
/// inputs on every run, so a failure reproduces.
pub fn xorshift() -> impl FnMut() -> u64 {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
