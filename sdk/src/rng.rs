//! The deterministic per-transaction RNG behind `ctx.rng()`.

use std::cell::RefCell;
use std::convert::Infallible;
use std::fmt;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng, TryRng};

use crate::sys;

/// The transaction's random number generator, from
/// [`WriteContext::rng`](crate::WriteContext::rng).
///
/// ChaCha8 seeded with the transaction's 32-byte seed (the `rng_seed` host
/// call, made on first use). The seed is recorded in the log, so replay and
/// `replay-check` see the same numbers. It implements [`rand_core::Rng`], so
/// the `rand` crate's `RngExt` methods (`random_range`, …) work on it.
pub struct ContextRng<'a> {
    state: &'a RefCell<Option<ChaCha8Rng>>,
}

impl<'a> ContextRng<'a> {
    pub(crate) fn new(state: &'a RefCell<Option<ChaCha8Rng>>) -> Self {
        ContextRng { state }
    }

    fn with<R>(&mut self, f: impl FnOnce(&mut ChaCha8Rng) -> R) -> R {
        let mut state = self.state.borrow_mut();
        let rng = state.get_or_insert_with(|| ChaCha8Rng::from_seed(sys::rng_seed()));
        f(rng)
    }

    /// A uniformly random `u32`.
    pub fn next_u32(&mut self) -> u32 {
        self.with(|r| r.next_u32())
    }

    /// A uniformly random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.with(|r| r.next_u64())
    }

    /// Fills `dst` with random bytes.
    pub fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.with(|r| r.fill_bytes(dst))
    }

    /// A uniformly random number in `0..n` (unbiased).
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "ContextRng::below(0)");
        uniform_below(n, || self.next_u64())
    }

    /// A uniformly random `f64` in `[0, 1)`.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit_f64() < p
    }
}

/// Lemire's nearly-divisionless unbiased bounded integer.
fn uniform_below(n: u64, mut next: impl FnMut() -> u64) -> u64 {
    loop {
        let m = (next() as u128) * (n as u128);
        let low = m as u64;
        if low >= n.wrapping_neg() % n {
            return (m >> 64) as u64;
        }
    }
}

impl TryRng for ContextRng<'_> {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(ContextRng::next_u32(self))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(ContextRng::next_u64(self))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        ContextRng::fill_bytes(self, dst);
        Ok(())
    }
}

impl fmt::Debug for ContextRng<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContextRng")
    }
}

#[cfg(test)]
mod tests;
