//! [`WriteGate`]: whether the runtime accepts writes, and if not, why.
//!
//! Two things close it, for the rest of the process: a storage fault (a
//! write or fsync failed, so nothing after it may be acknowledged) and
//! opening read-only (`stop_at`, `skip_to_log_offset`: nothing is lost,
//! writes are simply refused). Every writer checks it before it starts;
//! the first refusal wins and never changes, so every caller refused for
//! one reason keeps being refused for that reason.

use crate::sync::{AtomicBool, Mutex, Ordering};

/// Why writes are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A write or fsync failed. The runtime refuses writes until reopened.
    StorageFault(String),
    /// The runtime was opened read-only.
    ReadOnly(String),
}

impl Refusal {
    /// The reason, as the runtime reports it.
    pub fn reason(&self) -> &str {
        match self {
            Refusal::StorageFault(r) | Refusal::ReadOnly(r) => r,
        }
    }
}

/// Open until the first [`WriteGate::close`]; closed for good after it.
#[derive(Debug, Default)]
pub struct WriteGate {
    /// Set, after `refusal`, when the gate closes: the open case costs one
    /// atomic load.
    closed: AtomicBool,
    refusal: Mutex<Option<Refusal>>,
}

impl WriteGate {
    /// An open gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Closes the gate with `refusal`, unless it is closed already (the
    /// first refusal stays). Returns whether this call closed it.
    pub fn close(&self, refusal: Refusal) -> bool {
        let mut current = self.refusal.lock().expect("gate lock poisoned");
        if current.is_some() {
            return false;
        }
        *current = Some(refusal);
        self.closed.store(true, Ordering::Release);
        true
    }

    /// Why writes are refused, or `None` while the gate is open.
    pub fn refusal(&self) -> Option<Refusal> {
        if !self.closed.load(Ordering::Acquire) {
            return None;
        }
        self.refusal.lock().expect("gate lock poisoned").clone()
    }
}
