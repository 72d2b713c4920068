//! The contexts reducers receive: [`WriteContext`] and [`ReadContext`].

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use interstice_abi::cbor::Writer;
use interstice_abi::{host, Args, IntersticeType};
use rand_chacha::ChaCha8Rng;

use crate::rng::ContextRng;
use crate::sys;
use crate::table::{ReadTables, WriteTables};

/// A log level for [`WriteContext::log`] / [`ReadContext::log`] and the
/// [`log!`](crate::log) macro.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Information.
    Info,
    /// Debugging detail.
    Debug,
    /// Fine-grained tracing.
    Trace,
}

impl Level {
    /// The level number of the host's `log` call.
    pub fn as_i32(self) -> i32 {
        match self {
            Level::Error => host::level::ERROR,
            Level::Warn => host::level::WARN,
            Level::Info => host::level::INFO,
            Level::Debug => host::level::DEBUG,
            Level::Trace => host::level::TRACE,
        }
    }
}

/// The context of a write reducer: one transaction. Everything it writes
/// commits together or not at all.
///
/// Its `tables` field reaches the module's tables read-write:
/// `ctx.tables.accounts().insert(…)`.
pub struct WriteContext {
    /// The module's tables, read-write.
    pub tables: WriteTables,
    rng: RefCell<Option<ChaCha8Rng>>,
    _not_send: PhantomData<*const ()>,
}

/// The context of a read reducer: a query that cannot write, is not logged
/// and returns a value.
///
/// Its `tables` field reaches the module's tables read-only:
/// `ctx.tables.accounts().get(&id)`.
pub struct ReadContext {
    /// The module's tables, read-only.
    pub tables: ReadTables,
    _not_send: PhantomData<*const ()>,
}

impl WriteContext {
    pub(crate) fn new() -> Self {
        WriteContext {
            tables: WriteTables::new(),
            rng: RefCell::new(None),
            _not_send: PhantomData,
        }
    }

    /// Queues a call to write reducer `reducer` of module `module`, with
    /// `args` a tuple of its arguments: `ctx.call("hello", "hello",
    /// ("bob".to_string(),))`, or `()` for none.
    ///
    /// The call is asynchronous: it is recorded in this transaction's commit
    /// and delivered after it, exactly once; if this transaction rolls back
    /// the call is never made. The host checks the target reducer and the
    /// argument types when the call is queued.
    pub fn call(&self, module: &str, reducer: &str, args: impl Args) {
        sys::call_async(&encode_call(module, reducer, &args));
    }

    /// Queues a call like [`WriteContext::call`] whose outcome comes back:
    /// once `module.reducer` has run (committed or failed), its outcome is
    /// delivered to `reply`, a reducer of this module, as a transaction of
    /// its own, exactly once and in timestamp order, across crashes.
    ///
    /// `T` and `E` are the called reducer's `Ok` and `Err` types (`E` is
    /// `()` for a reducer that does not return a `Result`), and the reply
    /// reducer takes `Result<T, CallError<E>>`: name it with
    /// [`reply_to!`](crate::reply_to):
    ///
    /// ```ignore
    /// ctx.call_with_reply::<u64, String>("inventory", "move_item", (id, to), reply_to!(on_moved));
    ///
    /// #[reducer]
    /// fn on_moved(ctx: &mut WriteContext, reply: Result<u64, CallError<String>>) { /* … */ }
    /// ```
    ///
    /// A reply reducer of another signature is a compile error here. The
    /// host checks the call when it is queued, as for `call`, and also that
    /// the reply reducer's parameter reads the called reducer's replies.
    /// If this transaction rolls back, neither the call nor its reply
    /// happens.
    pub fn call_with_reply<T, E>(
        &self,
        module: &str,
        reducer: &str,
        args: impl Args,
        reply: crate::ReplyTo<impl crate::ReplyReducer<T, E>>,
    ) {
        self.call_with_reply_named(module, reducer, args, reply.name());
    }

    /// [`WriteContext::call_with_reply`] with the reply reducer given by
    /// name, unchecked at compile time (the host still checks it when the
    /// call is queued, and traps the transaction if it does not fit).
    pub fn call_with_reply_named(&self, module: &str, reducer: &str, args: impl Args, reply: &str) {
        let mut w = Writer::new();
        w.array(4);
        w.str(module);
        w.str(reducer);
        args.encode_args(&mut w);
        w.str(reply);
        sys::call_async_reply(&w.into_vec());
    }

    /// The transaction's random number generator: ChaCha8 seeded from the
    /// transaction's seed, which clients cannot predict and replay
    /// reproduces. Every call returns the same stream, continued.
    pub fn rng(&self) -> ContextRng<'_> {
        ContextRng::new(&self.rng)
    }
}

impl ReadContext {
    pub(crate) fn new() -> Self {
        ReadContext {
            tables: ReadTables::new(),
            _not_send: PhantomData,
        }
    }

    /// Not available: a read reducer cannot queue write calls. This method
    /// exists only so that `ctx.call(…)` in a read reducer fails to compile
    /// with a message that says so.
    #[doc(hidden)]
    pub fn call<A: Args>(&self, _module: &str, _reducer: &str, _args: A)
    where
        (ReadContext, A): WriteCallFromRead,
    {
        unreachable!("read reducers cannot make write calls")
    }
}

/// Never implemented: the bound that turns `ctx.call` in a read reducer into
/// a readable compile error.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a read reducer cannot make write calls: `ctx.call` needs `&mut WriteContext`",
    label = "not allowed in a read reducer",
    note = "use `ctx.read_call` to call a read reducer of a dependency, or make this a write reducer"
)]
pub trait WriteCallFromRead {}

macro_rules! common_methods {
    ($ctx:ident, $ts_doc:literal) => {
        impl $ctx {
            #[doc = $ts_doc]
            pub fn timestamp(&self) -> u64 {
                sys::timestamp()
            }

            /// Wall-clock microseconds since the Unix epoch, captured when
            /// the transaction started and recorded in the log, so replay
            /// sees the same value.
            pub fn now(&self) -> u64 {
                sys::now_micros()
            }

            /// Calls read reducer `reducer` of module `module`, a declared
            /// dependency, and waits for its result:
            /// `ctx.read_call::<u64, String>("bank", "balance", (1u64,))`.
            ///
            /// `R` and `E` are the reducer's `Ok` and `Err` types; use `()`
            /// for `E` when it does not return a `Result`.
            ///
            /// # Panics
            /// If the result does not decode as `Result<R, E>`: the types
            /// given do not match the reducer's. The message names the type
            /// asked for, the shape the reducer returned, and (through the
            /// panic's location) the line of this call.
            #[track_caller]
            pub fn read_call<R: IntersticeType, E: IntersticeType>(
                &self,
                module: &str,
                reducer: &str,
                args: impl Args,
            ) -> Result<R, E> {
                let bytes = sys::call_read(&encode_call(module, reducer, &args));
                decode_read_result(module, reducer, &bytes)
            }

            /// Logs `msg` at `level` through the host.
            pub fn log(&self, level: Level, msg: &str) {
                sys::log(level.as_i32(), msg);
            }

            /// Logs an error.
            pub fn log_error(&self, msg: &str) {
                self.log(Level::Error, msg);
            }

            /// Logs a warning.
            pub fn log_warn(&self, msg: &str) {
                self.log(Level::Warn, msg);
            }

            /// Logs information.
            pub fn log_info(&self, msg: &str) {
                self.log(Level::Info, msg);
            }

            /// Logs a debug message.
            pub fn log_debug(&self, msg: &str) {
                self.log(Level::Debug, msg);
            }

            /// Logs a trace message.
            pub fn log_trace(&self, msg: &str) {
                self.log(Level::Trace, msg);
            }
        }

        impl fmt::Debug for $ctx {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($ctx))
            }
        }
    };
}

common_methods!(
    WriteContext,
    "A logical time: the latest commit timestamp when the transaction first \
     asks (later calls return the same). Every commit the transaction has \
     seen so far (its module's, and those its read calls saw) is at or below \
     it; the transaction's own commit timestamp, taken when it finishes, is \
     above it. Strictly increasing across one module's transactions, but not \
     unique across modules. Recorded in the log. See docs/SDK.md §8."
);
common_methods!(
    ReadContext,
    "Always 0: a read is not a transaction and has no commit timestamp."
);

/// The result of read call `module.reducer` as `Result<R, E>`.
///
/// # Panics
/// If it does not decode so, with a message that names both the type asked
/// for and what the reducer returned; the panic's location is the caller's
/// (`#[track_caller]` all the way from [`ReadContext::read_call`]).
#[track_caller]
fn decode_read_result<R: IntersticeType, E: IntersticeType>(
    module: &str,
    reducer: &str,
    bytes: &[u8],
) -> Result<R, E> {
    match crate::__private::decode_result(bytes) {
        Ok(v) => v,
        // Not in a closure: a closure would not carry the caller's location.
        Err(e) => panic!(
            "interstice: read_call {module}.{reducer}: asked for Result<{}, {}>, but the \
             reducer returned {} ({e})",
            R::ty().display_name(),
            E::ty().display_name(),
            describe_result(bytes),
        ),
    }
}

/// What an encoded reducer result holds, in a few words: `Ok(text)`,
/// `Err(array of 2: [unsigned integer, text])`.
fn describe_result(bytes: &[u8]) -> String {
    let mut r = interstice_abi::cbor::Reader::new(bytes);
    match host::read_result_head(&mut r) {
        Ok(host::ResultTag::Ok) => format!("Ok({})", describe_item(&mut r, 2)),
        Ok(host::ResultTag::Err) => format!("Err({})", describe_item(&mut r, 2)),
        Err(_) => "bytes that are not a result".to_owned(),
    }
}

/// The shape of the next CBOR item, `depth` levels of arrays deep; consumes
/// it.
fn describe_item(r: &mut interstice_abi::cbor::Reader<'_>, depth: usize) -> String {
    use interstice_abi::cbor::Kind;
    let Ok(kind) = r.peek_kind() else {
        return "nothing".to_owned();
    };
    let name = match kind {
        Kind::Unsigned => "an unsigned integer",
        Kind::Negative => "a negative integer",
        Kind::Bytes => "bytes",
        Kind::Text => "text",
        Kind::Tag => "a big integer",
        Kind::Bool => "a bool",
        Kind::Null => "null (unit or None)",
        Kind::Float => "a float",
        Kind::Other => "an unsupported CBOR item",
        Kind::Array => {
            let Ok(n) = r.array() else {
                return "a malformed array".to_owned();
            };
            if depth == 0 || n == 0 {
                for _ in 0..n {
                    if r.skip().is_err() {
                        break;
                    }
                }
                return format!("an array of {n}");
            }
            let shown = n.min(4);
            let items: Vec<String> = (0..shown).map(|_| describe_item(r, depth - 1)).collect();
            for _ in shown..n {
                if r.skip().is_err() {
                    break;
                }
            }
            let more = if n > shown { ", …" } else { "" };
            return format!("an array of {n}: [{}{more}]", items.join(", "));
        }
    };
    let _ = r.skip();
    name.to_owned()
}

/// `[module, reducer, args]`.
fn encode_call(module: &str, reducer: &str, args: &impl Args) -> Vec<u8> {
    let mut w = Writer::new();
    w.array(3);
    w.str(module);
    w.str(reducer);
    args.encode_args(&mut w);
    w.into_vec()
}

#[cfg(test)]
mod tests;
