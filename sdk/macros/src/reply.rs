//! Replies to async calls: the `ReplyReducer` impl `#[reducer]` adds for a
//! reducer that can take a reply, and `reply_to!(reducer)`, which names it
//! (`docs/SDK.md` §7.1).

use proc_macro2::TokenStream;
use quote::{format_ident, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericArgument, Ident, PathArguments, Type};

use crate::util::{error, unraw};

/// The marker type `#[reducer]` declares for the reducer named `name`.
pub(crate) fn marker(name: &str) -> Ident {
    format_ident!("__interstice_reducer_{}", name)
}

/// The two type arguments of `ty` if it is written `Name<A, B>` (the last
/// path segment named `name`).
fn two_args<'a>(ty: &'a Type, name: &str) -> Option<(&'a Type, &'a Type)> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let tys: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    match tys.as_slice() {
        [a, b] => Some((a, b)),
        _ => None,
    }
}

/// The one type argument of `ty` if it is written `CallError<E>`.
fn call_error_arg(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "CallError" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(t)] => Some(t),
        _ => None,
    }
}

/// `impl ReplyReducer<T, E> for marker` for a plain write reducer (no
/// trigger, no migration) whose one parameter is written
/// `Result<T, CallError<E>>`; nothing for any other reducer, so naming it
/// as a reply is a compile error at the call.
pub(crate) fn reply_impl(
    sdk: &TokenStream,
    marker: &Ident,
    params: &[(String, Type)],
) -> TokenStream {
    let [(_, ty)] = params else {
        return TokenStream::new();
    };
    let Some((ok, err)) = two_args(ty, "Result") else {
        return TokenStream::new();
    };
    let Some(err) = call_error_arg(err) else {
        return TokenStream::new();
    };
    quote_spanned! {ty.span()=>
        impl #sdk::ReplyReducer<#ok, #err> for #marker {}
    }
}

/// `reply_to!(on_moved)` or `reply_to!(path::to::on_moved)`: the reply
/// reducer `on_moved`, as `WriteContext::call_with_reply` takes it.
pub(crate) fn expand_reply_to(sdk: &TokenStream, input: TokenStream) -> syn::Result<TokenStream> {
    let mut path: syn::Path = syn::parse2(input.clone()).map_err(|_| {
        error(
            &input,
            "reply_to! takes the reply reducer's name: `reply_to!(on_reply)`",
        )
    })?;
    let Some(last) = path.segments.last_mut() else {
        return Err(error(&input, "reply_to! takes the reply reducer's name"));
    };
    if !last.arguments.is_empty() {
        return Err(error(&last.arguments, "a reducer has no generic arguments"));
    }
    let span = last.ident.span();
    let mut ident = marker(&unraw(&last.ident));
    ident.set_span(span);
    last.ident = ident;
    Ok(quote_spanned! {span=> #sdk::ReplyTo::<#path>::new() })
}
