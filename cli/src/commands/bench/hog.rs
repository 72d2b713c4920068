//! A CPU hog for the `contended` workload: threads of this process that
//! spin until stopped, at the same priority as everything else, so the
//! measured workload shares every core with them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::CliError;

/// The shortest round after which a hog that never spun is an error: in a
/// shorter one (`--quick`, on a loaded machine) the scheduler may not
/// have given its threads a time slice yet.
const CHECKED_ROUND: Duration = Duration::from_millis(200);

/// Spinning threads; stopped (and joined) by [`Hog::stop`] or on drop.
pub(super) struct Hog {
    stop: Arc<AtomicBool>,
    spins: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Hog {
    /// Starts `threads` spinning threads (none for 0), and returns once
    /// every one of them is running.
    pub(super) fn start(threads: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let spins = Arc::new(AtomicU64::new(0));
        let started = Arc::new(Barrier::new(threads + 1));
        let threads = (0..threads)
            .map(|i| {
                let (stop, spins, started) = (stop.clone(), spins.clone(), started.clone());
                std::thread::Builder::new()
                    .name(format!("bench-hog-{i}"))
                    .spawn(move || {
                        started.wait();
                        spin(&stop, &spins)
                    })
                    .expect("spawning a CPU hog thread")
            })
            .collect();
        started.wait();
        Hog {
            stop,
            spins,
            threads,
        }
    }

    /// Stops and joins the threads; returns the spin blocks they ran (a
    /// hog that ran at all has more than 0).
    pub(super) fn stop(mut self) -> u64 {
        self.halt();
        self.spins.load(Ordering::Relaxed)
    }

    /// [`Hog::stop`], refusing a hog of some threads that never spun
    /// through a round of `round` (at least [`CHECKED_ROUND`]): the
    /// contended figure would then be a quiet one.
    pub(super) fn stop_checked(self, what: &str, round: Duration) -> Result<u64, CliError> {
        let threads = self.threads.len();
        let spins = self.stop();
        if threads > 0 && spins == 0 && round >= CHECKED_ROUND {
            return Err(CliError::Bench(format!(
                "{what}: the CPU hog did not run in a round of {round:?}"
            )));
        }
        Ok(spins)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Spins in blocks of integer work until `stop`, counting the blocks.
fn spin(stop: &AtomicBool, spins: &AtomicU64) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut blocks = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..4096 {
            x = std::hint::black_box(x.rotate_left(5) ^ 0x2545_f491_4f6c_dd1d);
        }
        blocks += 1;
    }
    spins.fetch_add(blocks, Ordering::Relaxed);
}

#[cfg(test)]
mod tests;
