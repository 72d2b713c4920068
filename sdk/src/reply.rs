//! Async calls with replies (`docs/SDK.md` §7.1): the reply reducer a call
//! names, checked at compile time.
//!
//! `#[reducer]` implements [`ReplyReducer<T, E>`] for the hidden marker
//! of every write reducer whose one parameter is written
//! `Result<T, CallError<E>>`; [`reply_to!`](crate::reply_to) names that
//! marker from the reducer's name, and
//! [`WriteContext::call_with_reply`](crate::WriteContext::call_with_reply)
//! takes it. A reducer with another signature does not implement the
//! trait, so naming it as the reply of a call returning `Result<T, E>` is a
//! compile error at the call.

use std::marker::PhantomData;

pub use interstice_abi::reply::CallError;

/// A reducer of this module that takes the reply of a call whose reducer
/// returns `Result<T, E>` (`E` is `()` for a reducer that does not return a
/// `Result`): its one parameter is `Result<T, CallError<E>>`.
///
/// Implemented by `#[reducer]` only; name one with
/// [`reply_to!`](crate::reply_to).
#[diagnostic::on_unimplemented(
    message = "this reducer cannot take the reply of a call returning `Result<{T}, {E}>`",
    label = "not a reply reducer for `Result<{T}, {E}>`",
    note = "a reply reducer is a `#[reducer]` whose one parameter is written \
            `Result<{T}, CallError<{E}>>`: `fn on_reply(ctx: &mut WriteContext, reply: \
            Result<{T}, CallError<{E}>>)`"
)]
pub trait ReplyReducer<T, E>: crate::__private::Reducer {}

/// A reply reducer, as [`reply_to!`](crate::reply_to) names it.
pub struct ReplyTo<R>(PhantomData<R>);

impl<R: crate::__private::Reducer> ReplyTo<R> {
    /// Use [`reply_to!`](crate::reply_to).
    #[doc(hidden)]
    pub const fn new() -> Self {
        ReplyTo(PhantomData)
    }

    /// The reply reducer's name.
    pub fn name(&self) -> &'static str {
        R::NAME
    }
}

impl<R> Clone for ReplyTo<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for ReplyTo<R> {}

impl<R: crate::__private::Reducer> std::fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reply_to!({})", R::NAME)
    }
}
