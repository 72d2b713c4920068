//! Unit tests of the tables, one module per topic.

mod indexes;
mod ordered;
mod overlay;
mod tables;

/// A small deterministic generator (an LCG) for the randomised tests.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}
