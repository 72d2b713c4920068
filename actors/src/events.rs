//! The span every `tracing` event of the runtime is emitted in.
//!
//! [`event_in!`](crate::event_in) emits one event inside a span named
//! `interstice` with the fields `module`, `reducer` and `ts`, each recorded
//! where the event knows it and left empty where it does not (`docs/TOOLS.md`,
//! "Tracing events" lists which events know what). The span has the
//! event's level and target, so it is created only when the event itself is
//! enabled: with the events filtered out, nothing is allocated.
//!
//! `ts` is the logical timestamp of the commit the event is about. A write
//! transaction runs before it is numbered (`interstice_sync::CommitOrder`),
//! so an event emitted while it runs (a guest log line, a rerun) has an empty
//! `ts` unless the reducer already asked for its timestamp; events the
//! router emits (a failed delivery, a cut trigger chain) come after
//! numbering and always carry it. Read reducers have no timestamp.

/// Emits `tracing::event!(target: T, Level::L, …)` inside an `interstice`
/// span with `module`, `reducer` and `ts` (each an `Option`, recorded when
/// `Some`):
///
/// ```ignore
/// event_in!(WARN, Some(&*module), Some(&reducer), Some(ts); kind = "x", "what happened");
/// event_in!(target: "interstice::guest", INFO, Some(m), Some(r), None; "{line}");
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! event_in {
    (target: $target:expr, $lvl:ident, $module:expr, $reducer:expr, $ts:expr; $($event:tt)+) => {{
        let span = ::tracing::span!(
            target: $target,
            ::tracing::Level::$lvl,
            "interstice",
            module = ::tracing::field::Empty,
            reducer = ::tracing::field::Empty,
            ts = ::tracing::field::Empty,
        );
        $crate::events::record(&span, $module, $reducer, $ts);
        let _entered = span.enter();
        ::tracing::event!(target: $target, ::tracing::Level::$lvl, $($event)+);
    }};
    ($lvl:ident, $module:expr, $reducer:expr, $ts:expr; $($event:tt)+) => {
        $crate::event_in!(target: module_path!(), $lvl, $module, $reducer, $ts; $($event)+)
    };
}

/// Records the fields the event knows on its span (a disabled span ignores
/// them).
pub(crate) fn record(
    span: &tracing::Span,
    module: Option<&str>,
    reducer: Option<&str>,
    ts: Option<u64>,
) {
    if span.is_disabled() {
        return;
    }
    if let Some(m) = module {
        span.record("module", tracing::field::display(m));
    }
    if let Some(r) = reducer {
        span.record("reducer", tracing::field::display(r));
    }
    if let Some(ts) = ts {
        span.record("ts", ts);
    }
}
