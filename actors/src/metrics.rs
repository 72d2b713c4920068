//! The runtime's counters: updated by every layer, read by tests,
//! benchmarks and the CLI through [`Metrics`].

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters that tests and benchmarks read.
#[derive(Debug, Default)]
pub(crate) struct MetricsInner {
    pub instantiations: AtomicU64,
    pub wasm_calls: AtomicU64,
    pub in_wasm: AtomicU64,
    pub max_in_wasm: AtomicU64,
    pub commits: AtomicU64,
    pub rollbacks: AtomicU64,
    pub replayed_entries: AtomicU64,
    pub replayed_mutations: AtomicU64,
    pub fsyncs: AtomicU64,
    pub reruns: AtomicU64,
    pub fanout_cuts: AtomicU64,
    pub failed_deliveries: AtomicU64,
    /// Shared with the trace writer (`actors/trace.rs`).
    pub trace_dropped: std::sync::Arc<AtomicU64>,
}

/// A snapshot of the runtime's counters. More counters may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Wasm instances created (replay creates none).
    pub instantiations: u64,
    /// Calls into wasm exports (replay makes none).
    pub wasm_calls: u64,
    /// Most threads seen inside wasm at the same moment.
    pub max_concurrent_wasm: u64,
    /// Write transactions committed.
    pub commits: u64,
    /// Write transactions rolled back.
    pub rollbacks: u64,
    /// Log entries applied by replay at open.
    pub replayed_entries: u64,
    /// Mutations applied by replay at open.
    pub replayed_mutations: u64,
    /// fsyncs issued by the log-writer.
    pub fsyncs: u64,
    /// Write transactions run again because a module they read from
    /// committed before they got their timestamp (`docs/ARCHITECTURE.md`,
    /// "Timestamps and isolation").
    pub reruns: u64,
    /// Deliveries cut by the fan-out budget (`Limits::fanout`).
    pub fanout_cuts: u64,
    /// Deliveries (async calls and triggers) whose transaction failed,
    /// including those cut by the fan-out budget. Each one is also a
    /// `warn` event and a logged commit with the error.
    pub failed_deliveries: u64,
    /// Reducer-trace events dropped because the trace writer fell behind
    /// (`RuntimeConfig::trace`; also in the trace's closing metadata).
    pub trace_dropped: u64,
}

impl MetricsInner {
    pub(crate) fn snapshot(&self) -> Metrics {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Metrics {
            instantiations: g(&self.instantiations),
            wasm_calls: g(&self.wasm_calls),
            max_concurrent_wasm: g(&self.max_in_wasm),
            commits: g(&self.commits),
            rollbacks: g(&self.rollbacks),
            replayed_entries: g(&self.replayed_entries),
            replayed_mutations: g(&self.replayed_mutations),
            fsyncs: g(&self.fsyncs),
            reruns: g(&self.reruns),
            fanout_cuts: g(&self.fanout_cuts),
            failed_deliveries: g(&self.failed_deliveries),
            trace_dropped: g(&self.trace_dropped),
        }
    }

    /// Marks entry into wasm; the guard marks the exit.
    pub(crate) fn enter_wasm(&self) -> WasmGuard<'_> {
        self.wasm_calls.fetch_add(1, Ordering::Relaxed);
        let now = self.in_wasm.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_wasm.fetch_max(now, Ordering::SeqCst);
        WasmGuard(self)
    }
}

/// Decrements the in-wasm count on drop.
pub(crate) struct WasmGuard<'a>(&'a MetricsInner);

impl Drop for WasmGuard<'_> {
    fn drop(&mut self) {
        self.0.in_wasm.fetch_sub(1, Ordering::SeqCst);
    }
}
