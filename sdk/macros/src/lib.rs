//! Procedural macros of the Interstice SDK.
//!
//! Use them through `interstice_sdk` (its `prelude` re-exports all five); the
//! generated code refers to `::interstice_sdk`, so a module crate depends on
//! that crate only. The `interstice-sdk` documentation and `docs/SDK.md`
//! describe what each macro accepts and generates.

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput, ItemFn, ItemStruct};

mod derive;
mod module;
mod reducer;
mod reply;
mod table;
mod util;

/// Derives `interstice_abi::IntersticeType` for a struct or an enum.
///
/// A struct is encoded as the array of its fields in declaration order; an
/// enum as the array `[variant index, fields…]`. Generic types, unions,
/// references, maps and other types the Interstice type model cannot describe
/// are compile errors.
#[proc_macro_derive(IntersticeType)]
pub fn derive_interstice_type(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares a table: `#[table(name = "accounts", ephemeral, version = 1)]` on
/// a struct with named fields, exactly one of which is `#[primary_key]` or
/// `#[primary_key(auto_inc)]`. Fields may carry `#[index]`, `#[default(value)]`,
/// `#[index(hash)]` or `#[index(unique)]`.
#[proc_macro_attribute]
pub fn table(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemStruct);
    match table::expand(attr.into(), item.clone()) {
        Ok(ts) => ts.into(),
        // Keep the struct (without the helper attributes) so the error is
        // the only one: no knock-on "cannot find type" errors elsewhere.
        Err(e) => {
            let mut item = item;
            for f in item.fields.iter_mut() {
                f.attrs.retain(|a| {
                    !["primary_key", "index", "auto_inc", "default"]
                        .iter()
                        .any(|h| a.path().is_ident(h))
                });
            }
            let err = e.into_compile_error();
            quote::quote!(#item #err).into()
        }
    }
}

/// Declares a reducer: `#[reducer]`, `#[reducer(mode = "read")]`,
/// `#[reducer(on = "init")]`, `#[reducer(on = "module.table.insert")]`, or
/// with generated bindings `#[reducer(on = inventory::items::insert)]`
/// (the table, event and row type checked by the compiler).
#[proc_macro_attribute]
pub fn reducer(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemFn);
    match reducer::expand(attr.into(), item.clone()) {
        Ok(ts) => ts.into(),
        Err(e) => {
            let err = e.into_compile_error();
            quote::quote!(#item #err).into()
        }
    }
}

/// Declares a table's code migration:
/// `#[migration(from_version = 1, to_version = 2)]` on
/// `fn m(ctx: &mut WriteContext, old: OldTable<v1::Item>)` (returning `()`
/// or `Result<(), E>`), listed in the module's `reducers: [...]`. It runs
/// once, at the upgrade that takes the table from the logged version
/// `from_version` to `to_version`, reading the old rows through `old` and
/// writing the new ones through `ctx`. `from_version` must be the old row
/// type's `#[table(version = N)]` and `to_version` the version of the
/// module's table of that name (both checked at compile time).
#[proc_macro_attribute]
pub fn migration(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemFn);
    match reducer::expand_migration(attr.into(), item.clone()) {
        Ok(ts) => ts.into(),
        Err(e) => {
            let err = e.into_compile_error();
            quote::quote!(#item #err).into()
        }
    }
}

/// Declares the module: its name, version, dependencies, tables and
/// reducers, and generates the wasm exports the runtime calls. A
/// dependency is a name (`"hello"`) or the path of its generated bindings
/// module (`inventory`), which also records the binding in the schema.
#[proc_macro]
pub fn interstice_module(input: TokenStream) -> TokenStream {
    module::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Names a reply reducer for `WriteContext::call_with_reply`:
/// `ctx.call_with_reply::<u64, String>("inventory", "move_item", (id, to),
/// reply_to!(on_moved))`, where `on_moved` is a `#[reducer]` of this module
/// taking `Result<u64, CallError<String>>`.
#[proc_macro]
pub fn reply_to(input: TokenStream) -> TokenStream {
    reply::expand_reply_to(&util::sdk(), input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
