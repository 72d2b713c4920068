//! `#[reducer(...)]` on a function.

use interstice_abi::{RowEvent, Trigger};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, LitInt, LitStr, Pat, PathArguments, ReturnType, Type};

use crate::util::{check_types, error, sdk, unraw};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    Read,
}

struct Options {
    mode: Mode,
    trigger: Option<(LitStr, Trigger)>,
    /// `#[migration(from_version = A, to_version = B)]`.
    migration: Option<Migration>,
    /// `writes = [t1, t2]`: the tables of this module the trigger writes.
    writes: Option<Vec<syn::Ident>>,
    /// `recursive`: the trigger accepts bounded recursion.
    recursive: Option<syn::Path>,
    /// `on = module::table::event`: a trigger named through generated
    /// bindings (`trigger` then holds its event, for the checks).
    typed: Option<syn::Path>,
}

struct Migration {
    from: LitInt,
    to: LitInt,
}

fn parse_options(attr: TokenStream) -> syn::Result<Options> {
    let mut opts = Options {
        mode: Mode::Write,
        trigger: None,
        migration: None,
        writes: None,
        recursive: None,
        typed: None,
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("mode") {
            let lit: LitStr = meta.value()?.parse()?;
            opts.mode = match lit.value().as_str() {
                "write" => Mode::Write,
                "read" => Mode::Read,
                other => {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!("unknown reducer mode `{other}`: expected \"write\" or \"read\""),
                    ))
                }
            };
        } else if meta.path.is_ident("on") {
            let value = meta.value()?;
            if !value.peek(LitStr) {
                let path: syn::Path = value.parse()?;
                let (lit, trigger) = typed_trigger(&path)?;
                opts.trigger = Some((lit, trigger));
                opts.typed = Some(path);
                return Ok(());
            }
            let lit: LitStr = value.parse()?;
            let trigger = Trigger::parse(&lit.value())
                .map_err(|e| syn::Error::new(lit.span(), format!("invalid trigger: {e}")))?;
            opts.trigger = Some((lit, trigger));
        } else if meta.path.is_ident("writes") {
            let value = meta.value()?;
            let content;
            syn::bracketed!(content in value);
            let names =
                syn::punctuated::Punctuated::<syn::Ident, syn::Token![,]>::parse_terminated(
                    &content,
                )?;
            let mut list: Vec<syn::Ident> = Vec::new();
            for n in names {
                if list.iter().any(|o| o == &n) {
                    return Err(syn::Error::new(
                        n.span(),
                        format!("table `{n}` is listed twice in `writes`"),
                    ));
                }
                list.push(n);
            }
            opts.writes = Some(list);
        } else if meta.path.is_ident("recursive") {
            opts.recursive = Some(meta.path.clone());
        } else {
            return Err(meta.error(
                "unknown #[reducer] option: expected `mode = \"read\"|\"write\"`, `on = \"…\"`, \
                 `writes = [table, …]` or `recursive`",
            ));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(opts)
}

/// `on = inventory::items::insert`: the path of a table event of generated
/// bindings. Its last segment is the event; the compiler checks the rest
/// (the bindings module and its table) exists. Returns the path as text
/// (for messages) and a table trigger holding the event.
fn typed_trigger(path: &syn::Path) -> syn::Result<(LitStr, Trigger)> {
    let text = quote!(#path).to_string().replace(' ', "");
    let last = path.segments.last().expect("a path has a segment");
    let event = match last.ident.to_string().as_str() {
        "insert" => RowEvent::Insert,
        "update" => RowEvent::Update,
        "delete" => RowEvent::Delete,
        other => {
            return Err(error(
                &last.ident,
                format!(
                    "unknown row event `{other}` in `{text}`: a typed trigger is \
                     `bindings::table::insert`, `::update` or `::delete` (or write \
                     `on = \"module.table.insert\"`)"
                ),
            ))
        }
    };
    if path.segments.len() < 3 {
        return Err(error(
            path,
            format!(
                "`{text}` is not a table event: a typed trigger names the bindings module, the \
                 table and the event, `inventory::items::insert`"
            ),
        ));
    }
    let trigger = Trigger::Table {
        module: String::new(),
        table: String::new(),
        event,
    };
    Ok((LitStr::new(&text, path.span()), trigger))
}

/// What the function returns.
enum Ret {
    Unit,
    Value(Box<Type>),
    Result(Box<Type>, Box<Type>),
}

fn classify_return(ret: &ReturnType) -> Ret {
    let ty = match ret {
        ReturnType::Default => return Ret::Unit,
        ReturnType::Type(_, ty) => &**ty,
    };
    if let Type::Tuple(t) = ty {
        if t.elems.is_empty() {
            return Ret::Unit;
        }
    }
    if let Type::Path(p) = ty {
        if let Some(last) = p.path.segments.last() {
            if last.ident == "Result" {
                if let PathArguments::AngleBracketed(args) = &last.arguments {
                    let tys: Vec<&Type> = args
                        .args
                        .iter()
                        .filter_map(|a| match a {
                            GenericArgument::Type(t) => Some(t),
                            _ => None,
                        })
                        .collect();
                    if let [ok, err] = tys.as_slice() {
                        return Ret::Result(Box::new((*ok).clone()), Box::new((*err).clone()));
                    }
                }
            }
        }
    }
    Ret::Value(Box::new(ty.clone()))
}

/// `&mut WriteContext` → (Some(true), "WriteContext"); non-reference → None.
fn context_of(ty: &Type) -> Option<(bool, String)> {
    let Type::Reference(r) = ty else { return None };
    let Type::Path(p) = &*r.elem else { return None };
    let last = p.path.segments.last()?;
    Some((r.mutability.is_some(), last.ident.to_string()))
}

/// `#[migration(from_version = A, to_version = B)]`: a write reducer with
/// a migration trigger.
pub(crate) fn expand_migration(attr: TokenStream, func: ItemFn) -> syn::Result<TokenStream> {
    let mut from: Option<LitInt> = None;
    let mut to: Option<LitInt> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("from_version") {
            from = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("to_version") {
            to = Some(meta.value()?.parse()?);
        } else {
            return Err(meta.error(
                "unknown #[migration] option: expected `from_version = N` and `to_version = M`",
            ));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(error(
            &func.sig.ident,
            "#[migration] needs `from_version = N, to_version = M`",
        ));
    };
    let (f, t) = (from.base10_parse::<u32>()?, to.base10_parse::<u32>()?);
    if f == 0 || f >= t {
        return Err(syn::Error::new(
            to.span(),
            format!(
                "a migration goes from a version to a later one: from_version {f} must be at \
                 least 1 and lower than to_version {t}"
            ),
        ));
    }
    let opts = Options {
        mode: Mode::Write,
        trigger: None,
        migration: Some(Migration { from, to }),
        writes: None,
        recursive: None,
        typed: None,
    };
    expand_with(opts, func)
}

pub(crate) fn expand(attr: TokenStream, func: ItemFn) -> syn::Result<TokenStream> {
    expand_with(parse_options(attr)?, func)
}

fn expand_with(opts: Options, func: ItemFn) -> syn::Result<TokenStream> {
    let sdk = sdk();
    let sig = &func.sig;
    let fn_ident = &sig.ident;
    let name = unraw(fn_ident);

    if name.starts_with("__") {
        return Err(error(
            fn_ident,
            "reducer names starting with `__` are reserved",
        ));
    }
    if let Some(a) = &sig.asyncness {
        return Err(error(
            a,
            "reducers cannot be `async`: a reducer is one synchronous transaction",
        ));
    }
    if let Some(u) = &sig.unsafety {
        return Err(error(u, "reducers cannot be `unsafe fn`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(error(
            &sig.generics,
            "reducers cannot be generic: every parameter needs one fixed Interstice type",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(error(v, "reducers cannot be variadic"));
    }
    if let (Some((lit, _)), Mode::Read) = (&opts.trigger, opts.mode) {
        return Err(syn::Error::new(
            lit.span(),
            "init and subscription reducers run as transactions, so they are write reducers: \
             remove `mode = \"read\"`",
        ));
    }

    let table_trigger = matches!(&opts.trigger, Some((_, Trigger::Table { .. })));
    if !table_trigger {
        if let Some(w) = opts.writes.as_ref().and_then(|w| w.first()) {
            return Err(error(
                w,
                "`writes = [...]` is for table triggers (`on = \"module.table.insert\"` and \
                 the like): it declares the tables the trigger writes",
            ));
        }
        if let Some(r) = &opts.recursive {
            return Err(error(
                r,
                "`recursive` is for table triggers (`on = \"module.table.insert\"` and the \
                 like) that declare `writes = [...]`",
            ));
        }
    }
    if let (Some(r), None) = (&opts.recursive, &opts.writes) {
        return Err(error(
            r,
            "`recursive` accepts a subscription cycle through declared writes: declare the \
             tables this trigger writes with `writes = [...]`",
        ));
    }

    // The context parameter.
    let mut inputs = sig.inputs.iter();
    let ctx_ty = match inputs.next() {
        Some(FnArg::Typed(pt)) => &*pt.ty,
        Some(FnArg::Receiver(r)) => {
            return Err(error(r, "a reducer is a free function, not a method"));
        }
        None => {
            return Err(error(
                sig,
                match opts.mode {
                    Mode::Write => {
                        "a reducer's first parameter is its context: `ctx: &mut WriteContext`"
                    }
                    Mode::Read => {
                        "a read reducer's first parameter is its context: `ctx: &ReadContext`"
                    }
                },
            ))
        }
    };
    let ctx = context_of(ctx_ty);
    match (opts.mode, ctx.as_ref().map(|(m, n)| (*m, n.as_str()))) {
        (Mode::Write, Some((true, "WriteContext")))
        | (Mode::Read, Some((false, "ReadContext"))) => {}
        (Mode::Write, Some((_, "ReadContext"))) => {
            return Err(error(
                ctx_ty,
                format!(
                "`{name}` is a write reducer, so its context is `&mut WriteContext`; to declare \
                     a read-only reducer write #[reducer(mode = \"read\")]"
            ),
            ))
        }
        (Mode::Write, Some((false, "WriteContext"))) => {
            return Err(error(ctx_ty, "a write reducer takes `&mut WriteContext`"))
        }
        (Mode::Read, Some((_, "WriteContext"))) => {
            return Err(error(
                ctx_ty,
                format!(
                "`{name}` is a read reducer (mode = \"read\"), so its context is `&ReadContext`: \
                     a read reducer cannot write and never gets a `WriteContext` (remove \
                     `mode = \"read\"` to make it a write reducer)"
            ),
            ))
        }
        (Mode::Read, Some((true, "ReadContext"))) => {
            return Err(error(
                ctx_ty,
                "a read reducer takes `&ReadContext`, not `&mut ReadContext`",
            ))
        }
        (Mode::Write, _) => {
            return Err(error(
                ctx_ty,
                "a reducer's first parameter is its context: `ctx: &mut WriteContext`",
            ))
        }
        (Mode::Read, _) => {
            return Err(error(
                ctx_ty,
                "a read reducer's first parameter is its context: `ctx: &ReadContext`",
            ))
        }
    }

    // The parameters after the context.
    let mut params = Vec::new();
    for (i, arg) in inputs.enumerate() {
        let FnArg::Typed(pt) = arg else {
            return Err(error(arg, "unexpected `self` parameter"));
        };
        let pname = match &*pt.pat {
            // `_row` (unused) is recorded as `row`.
            Pat::Ident(pi) => {
                let n = unraw(&pi.ident);
                match n.trim_start_matches('_') {
                    "" => format!("arg{i}"),
                    trimmed => trimmed.to_owned(),
                }
            }
            _ => format!("arg{i}"),
        };
        params.push((pname, (*pt.ty).clone()));
    }
    check_types(params.iter().map(|(_, t)| t))?;

    // Triggers fix the parameter count.
    if let Some((lit, trigger)) = &opts.trigger {
        let (want, what) = match trigger {
            Trigger::Init => (0, "an `init` reducer takes only its context".to_owned()),
            Trigger::Table { event: RowEvent::Update, .. } => (
                2,
                format!("an update trigger (`{}`) takes the context, the old row and the new row: `fn {name}(ctx: &mut WriteContext, old: Row, new: Row)`", lit.value()),
            ),
            Trigger::Migration { .. } => {
                unreachable!("`on = \"…\"` never parses to a migration")
            }
            Trigger::Table { event, .. } => (
                1,
                format!(
                    "{} trigger (`{}`) takes the context and the row: `fn {name}(ctx: &mut WriteContext, row: Row)`",
                    if *event == RowEvent::Insert { "an insert" } else { "a delete" },
                    lit.value()
                ),
            ),
        };
        if params.len() != want {
            return Err(error(&sig.inputs, what));
        }
    }

    if opts.migration.is_some() && params.len() != 1 {
        return Err(error(
            &sig.inputs,
            "a migration takes the context and the old rows: \
             `fn m(ctx: &mut WriteContext, old: OldTable<v1::Item>)`",
        ));
    }

    let ret = classify_return(&sig.output);
    match &ret {
        Ret::Unit => {}
        Ret::Value(t) => check_types([&**t])?,
        Ret::Result(t, e) => check_types([&**t, &**e])?,
    }

    // Generated constants: one FieldOps per parameter and return type.
    let mut consts = TokenStream::new();
    let mut schema_params = Vec::new();
    let mut decodes = Vec::new();
    let mut arg_idents = Vec::new();
    for (i, (pname, ty)) in params.iter().enumerate() {
        let ops = format_ident!("__P{}", i);
        let arg = format_ident!("__arg{}", i);
        consts.extend(quote_spanned! {ty.span()=>
            const #ops: #sdk::__private::FieldOps<#ty> = #sdk::__private::field_ops::<#ty>();
        });
        schema_params.push(quote!(#sdk::__private::field(#pname, (#ops.ty)())));
        decodes.push(quote!(let #arg = __args.arg(&#ops, #pname);));
        arg_idents.push(arg);
    }
    let (returns, error_ty, finish) = match &ret {
        Ret::Unit => (
            quote!(#sdk::Type::Unit),
            quote!(::core::option::Option::None),
            quote! {
                let () = __ret;
                #sdk::__private::write_unit(out);
            },
        ),
        Ret::Value(t) => {
            consts.extend(quote_spanned! {t.span()=>
                const __RET: #sdk::__private::FieldOps<#t> = #sdk::__private::field_ops::<#t>();
            });
            (
                quote!((__RET.ty)()),
                quote!(::core::option::Option::None),
                quote!(#sdk::__private::write_ok(out, &__RET, &__ret);),
            )
        }
        Ret::Result(t, e) => {
            consts.extend(quote_spanned! {t.span()=>
                const __RET: #sdk::__private::FieldOps<#t> = #sdk::__private::field_ops::<#t>();
            });
            consts.extend(quote_spanned! {e.span()=>
                const __ERR: #sdk::__private::FieldOps<#e> = #sdk::__private::field_ops::<#e>();
            });
            (
                quote!((__RET.ty)()),
                quote!(::core::option::Option::Some((__ERR.ty)())),
                quote! {
                    match __ret {
                        ::core::result::Result::Ok(v) => #sdk::__private::write_ok(out, &__RET, &v),
                        ::core::result::Result::Err(e) => #sdk::__private::write_err(out, &__ERR, &e),
                    }
                },
            )
        }
    };
    let (mode, make_ctx, pass_ctx) = match opts.mode {
        Mode::Write => (
            quote!(#sdk::abi::ReducerMode::Write),
            quote!(let mut __ctx = #sdk::__private::write_context();),
            quote!(&mut __ctx),
        ),
        Mode::Read => (
            quote!(#sdk::abi::ReducerMode::Read),
            quote!(let __ctx = #sdk::__private::read_context();),
            quote!(&__ctx),
        ),
    };
    let mut migration_const = quote!();
    if let Some(Migration { from, to }) = &opts.migration {
        let pty = &params[0].1;
        consts.extend(quote_spanned! {from.span()=>
            const _: () = #sdk::__private::assert_migration_from::<#pty>(#from);
        });
        migration_const = quote! {
            const MIGRATION: ::core::option::Option<(&'static str, u32)> = ::core::option::Option::Some((
                <<#pty as #sdk::__private::MigrationSource>::Row as #sdk::Table>::NAME,
                #to,
            ));
        };
    }
    let trigger = match (&opts.trigger, &opts.migration) {
        (_, Some(Migration { from, to })) => {
            let pty = &params[0].1;
            quote!(::core::option::Option::Some(
                #sdk::__private::migration_trigger::<#pty>(#from, #to)
            ))
        }
        (_, None) if opts.typed.is_some() => {
            let path = opts.typed.as_ref().expect("checked");
            for (_, ty) in &params {
                consts.extend(quote_spanned! {ty.span()=>
                    const _: () = #sdk::bindings::assert_row::<#path, #ty>();
                });
            }
            quote!(::core::option::Option::Some(#sdk::bindings::trigger::<#path>()))
        }
        (trigger, None) => match trigger {
            None => quote!(::core::option::Option::None),
            Some((_, Trigger::Init)) => {
                quote!(::core::option::Option::Some(#sdk::abi::Trigger::Init))
            }
            Some((
                _,
                Trigger::Table {
                    module,
                    table,
                    event,
                },
            )) => {
                let event = match event {
                    RowEvent::Insert => quote!(#sdk::abi::RowEvent::Insert),
                    RowEvent::Update => quote!(#sdk::abi::RowEvent::Update),
                    RowEvent::Delete => quote!(#sdk::abi::RowEvent::Delete),
                };
                quote! {
                    ::core::option::Option::Some(#sdk::abi::Trigger::Table {
                        module: ::std::string::String::from(#module),
                        table: ::std::string::String::from(#table),
                        event: #event,
                    })
                }
            }
            Some((_, Trigger::Migration { .. })) => {
                unreachable!("`on = \"…\"` never parses to a migration")
            }
        },
    };
    // Each declared table must be one of the module's: its accessor
    // (`ctx.tables.name()`, made by `#[table]`) must exist.
    let (writes, writes_check) = match &opts.writes {
        None => (quote!(::core::option::Option::None), quote!()),
        Some(list) => {
            let names: Vec<String> = list.iter().map(unraw).collect();
            let calls = list.iter().map(|t| {
                quote_spanned! {t.span()=> let _ = __ctx.tables.#t(); }
            });
            (
                quote!(::core::option::Option::Some(::std::vec![
                    #(::std::string::String::from(#names)),*
                ])),
                quote! {
                    #[allow(dead_code)]
                    fn __interstice_writes(__ctx: &#sdk::WriteContext) {
                        #(#calls)*
                    }
                },
            )
        }
    };
    let recursive = opts.recursive.is_some();
    let marker = crate::reply::marker(&name);
    let reply = if opts.mode == Mode::Write && opts.trigger.is_none() && opts.migration.is_none() {
        crate::reply::reply_impl(&sdk, &marker, &params)
    } else {
        TokenStream::new()
    };
    let vis = &func.vis;
    let n = params.len();

    Ok(quote! {
        #func

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis enum #marker {}

        const _: () = {
            #consts
            #writes_check
            #reply
            impl #sdk::__private::Reducer for #marker {
                const NAME: &'static str = #name;
                #migration_const
                fn schema() -> #sdk::abi::ReducerSchema {
                    #sdk::abi::ReducerSchema {
                        name: ::std::string::String::from(#name),
                        mode: #mode,
                        params: ::std::vec![#(#schema_params),*],
                        returns: #returns,
                        error: #error_ty,
                        trigger: #trigger,
                        writes: #writes,
                        recursive: #recursive,
                    }
                }
                fn invoke(args: &[u8], out: &mut #sdk::abi::cbor::Writer) {
                    let mut __args = #sdk::__private::ArgReader::new(#name, args, #n);
                    #(#decodes)*
                    __args.finish();
                    #make_ctx
                    let __ret = #fn_ident(#pass_ctx #(, #arg_idents)*);
                    #finish
                }
            }
        };
    })
}
