//! A progress spinner on stderr for reads of a whole log: how many entries
//! were read and the timestamp reached. Hidden when stderr is not a
//! terminal, so output piped to a file or a test never sees it.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Update the spinner every this many entries (drawing is rate-limited by
/// indicatif anyway).
const EVERY: u64 = 4096;

/// The spinner of one pass over the log.
pub struct LogProgress {
    bar: ProgressBar,
    entries: u64,
}

impl LogProgress {
    /// A spinner labelled `what` (shown only on a terminal).
    pub fn new(what: &'static str) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {prefix}: {pos} entries {msg}",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(what);
        bar.enable_steady_tick(Duration::from_millis(200));
        LogProgress { bar, entries: 0 }
    }

    /// Counts one entry at timestamp `ts`.
    pub fn entry(&mut self, ts: u64) {
        self.entries += 1;
        if self.entries.is_multiple_of(EVERY) {
            self.bar.set_position(self.entries);
            self.bar.set_message(format!("(ts {ts})"));
        }
    }
}

impl Drop for LogProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
