//! `#[table(...)]` on a row struct.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Fields, Ident, ItemStruct, LitInt, LitStr, Meta};

use crate::derive::{no_generics, struct_impl};
use crate::util::{error, sdk, snake_case, unraw};

struct Options {
    name: Option<LitStr>,
    ephemeral: bool,
    version: u32,
    /// `old`: the layout of an earlier version, read by a `#[migration]`
    /// only (no `ctx.tables` accessor, not listed in the module).
    old: bool,
    /// `storage = "columnar"` (or `"rows"`, the default).
    columnar: bool,
    /// Composite indexes: `index(name = "…", columns = [a, b], kind = "…")`.
    composites: Vec<Composite>,
}

/// A composite index declared on the table.
struct Composite {
    name: LitStr,
    columns: Vec<Ident>,
    kind: IndexKind,
}

fn parse_composite(meta: syn::meta::ParseNestedMeta<'_>) -> syn::Result<Composite> {
    let mut name: Option<LitStr> = None;
    let mut columns = Vec::new();
    let mut kind = IndexKind::BTree;
    let span = meta.path.span();
    meta.parse_nested_meta(|m| {
        if m.path.is_ident("name") {
            name = Some(m.value()?.parse()?);
        } else if m.path.is_ident("columns") {
            let content;
            let _ = m.value()?;
            syn::bracketed!(content in m.input);
            let list = content.parse_terminated(Ident::parse_any, syn::Token![,])?;
            columns = list.into_iter().collect();
        } else if m.path.is_ident("kind") {
            let k: LitStr = m.value()?.parse()?;
            kind = match k.value().as_str() {
                "btree" => IndexKind::BTree,
                "hash" => IndexKind::Hash,
                "unique" => IndexKind::Unique,
                _ => {
                    return Err(syn::Error::new(
                        k.span(),
                        "expected \"btree\", \"hash\" or \"unique\"",
                    ))
                }
            };
        } else {
            return Err(m.error("expected `name = \"…\"`, `columns = [a, b]` or `kind = \"…\"`"));
        }
        Ok(())
    })?;
    let Some(name) = name else {
        return Err(syn::Error::new(
            span,
            "a composite index needs `name = \"…\"`",
        ));
    };
    if columns.is_empty() {
        return Err(syn::Error::new(
            span,
            "a composite index needs `columns = [a, b, …]`",
        ));
    }
    if columns.len() > 4 {
        return Err(syn::Error::new(
            span,
            "a composite index has at most 4 columns",
        ));
    }
    Ok(Composite {
        name,
        columns,
        kind,
    })
}

fn parse_options(attr: TokenStream) -> syn::Result<Options> {
    let mut opts = Options {
        name: None,
        ephemeral: false,
        version: 1,
        old: false,
        columnar: false,
        composites: Vec::new(),
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            opts.name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("ephemeral") {
            opts.ephemeral = true;
        } else if meta.path.is_ident("old") {
            opts.old = true;
        } else if meta.path.is_ident("logged") {
            opts.ephemeral = false;
        } else if meta.path.is_ident("version") {
            let v: LitInt = meta.value()?.parse()?;
            opts.version = v.base10_parse()?;
            if opts.version == 0 {
                return Err(syn::Error::new(v.span(), "table versions start at 1"));
            }
        } else if meta.path.is_ident("storage") {
            let v: LitStr = meta.value()?.parse()?;
            opts.columnar = match v.value().as_str() {
                "columnar" => true,
                "rows" => false,
                _ => {
                    return Err(syn::Error::new(
                        v.span(),
                        "expected \"rows\" or \"columnar\"",
                    ))
                }
            };
        } else if meta.path.is_ident("index") {
            opts.composites.push(parse_composite(meta)?);
        } else {
            return Err(meta.error(
                "unknown #[table] option: expected `name = \"…\"`, `ephemeral`, `logged`, \
                 `version = N`, `old`, `storage = \"columnar\"` or `index(name = \"…\", columns = [a, b])`",
            ));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(opts)
}

#[derive(Clone, Copy)]
enum IndexKind {
    BTree,
    Hash,
    Unique,
}

struct PrimaryKey {
    index: usize,
    auto_inc: bool,
}

fn parse_primary_key(attr: &Attribute) -> syn::Result<bool> {
    match &attr.meta {
        Meta::Path(_) => Ok(false),
        Meta::List(_) => {
            let mut auto_inc = false;
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("auto_inc") {
                    auto_inc = true;
                    Ok(())
                } else {
                    Err(meta.error("unknown #[primary_key] option: expected `auto_inc`"))
                }
            })?;
            Ok(auto_inc)
        }
        Meta::NameValue(_) => Err(error(
            attr,
            "expected `#[primary_key]` or `#[primary_key(auto_inc)]`",
        )),
    }
}

fn parse_index(attr: &Attribute) -> syn::Result<IndexKind> {
    match &attr.meta {
        Meta::Path(_) => Ok(IndexKind::BTree),
        Meta::List(_) => {
            let mut kind = IndexKind::BTree;
            attr.parse_nested_meta(|meta| {
                kind = if meta.path.is_ident("btree") {
                    IndexKind::BTree
                } else if meta.path.is_ident("hash") {
                    IndexKind::Hash
                } else if meta.path.is_ident("unique") {
                    IndexKind::Unique
                } else {
                    return Err(
                        meta.error("unknown index kind: expected `btree`, `hash` or `unique`")
                    );
                };
                Ok(())
            })?;
            Ok(kind)
        }
        Meta::NameValue(_) => Err(error(
            attr,
            "expected `#[index]`, `#[index(btree)]`, `#[index(hash)]` or `#[index(unique)]`",
        )),
    }
}

pub(crate) fn expand(attr: TokenStream, mut item: ItemStruct) -> syn::Result<TokenStream> {
    let sdk = sdk();
    let opts = parse_options(attr)?;
    let ident = item.ident.clone();
    no_generics(&ident, &item.generics, "#[table]")?;
    if !matches!(item.fields, Fields::Named(_)) {
        return Err(error(
            &ident,
            format!("#[table] needs a struct with named fields: `struct {ident} {{ … }}`"),
        ));
    }

    // The table name: given, or the struct name in snake_case.
    let (name, name_span) = match &opts.name {
        Some(lit) => (lit.value(), lit.span()),
        None => (snake_case(&unraw(&ident)), ident.span()),
    };
    if !interstice_abi::schema::valid_ident(&name) {
        return Err(syn::Error::new(
            name_span,
            format!(
                "table name `{name}` must match [a-z][a-z0-9_]* (lowercase letters, digits, `_`)"
            ),
        ));
    }
    let accessor: Ident = syn::parse_str(&name).map_err(|_| {
        syn::Error::new(
            name_span,
            format!("table name `{name}` is a Rust keyword, so `ctx.tables.{name}()` could not be written; choose another name"),
        )
    })?;

    // Field attributes: #[primary_key], #[index]. They are removed from the
    // struct that is emitted.
    let mut pk: Option<PrimaryKey> = None;
    let mut indexes = Vec::new();
    // `#[default(expr)]`: (column, field type, expression).
    let mut defaults: Vec<(usize, syn::Type, syn::Expr)> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push_err = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for (i, field) in item.fields.iter_mut().enumerate() {
        let mut kept = Vec::new();
        for attr in field.attrs.drain(..) {
            if attr.path().is_ident("primary_key") {
                match parse_primary_key(&attr) {
                    Ok(auto_inc) if pk.is_none() => pk = Some(PrimaryKey { index: i, auto_inc }),
                    Ok(_) => push_err(error(
                        &attr,
                        format!(
                            "table `{name}` has more than one #[primary_key]: a table has exactly \
                             one primary-key column (add a secondary #[index] for other lookups)"
                        ),
                    )),
                    Err(e) => push_err(e),
                }
            } else if attr.path().is_ident("index") {
                match parse_index(&attr) {
                    Ok(kind) => indexes.push((i, kind, field.ident.clone().expect("named"))),
                    Err(e) => push_err(e),
                }
            } else if attr.path().is_ident("default") {
                match attr.parse_args::<syn::Expr>() {
                    Ok(e) if defaults.iter().all(|d| d.0 != i) => {
                        defaults.push((i, field.ty.clone(), e))
                    }
                    Ok(_) => push_err(error(&attr, "a column has at most one #[default(…)]")),
                    Err(_) => push_err(error(
                        &attr,
                        "expected `#[default(value)]`, e.g. `#[default(0)]` or \
                         `#[default(String::new())]`",
                    )),
                }
            } else if attr.path().is_ident("auto_inc") {
                push_err(error(
                    &attr,
                    "write `#[primary_key(auto_inc)]` on the key field",
                ));
            } else {
                kept.push(attr);
            }
        }
        field.attrs = kept;
    }
    if let Some(e) = errors {
        return Err(e);
    }
    let Some(pk) = pk else {
        return Err(error(
            &ident,
            format!(
                "table `{name}` has no primary key: mark exactly one field with #[primary_key] \
                 (or #[primary_key(auto_inc)] for a key the runtime assigns)"
            ),
        ));
    };

    if let Some((_, _, e)) = defaults.iter().find(|d| d.0 == pk.index) {
        return Err(error(
            e,
            "the primary key cannot have a #[default]: every row gives its key",
        ));
    }
    let default_schemas = defaults.iter().map(|(col, ty, e)| {
        let col = *col as u32;
        quote_spanned! {e.span()=>
            #sdk::abi::ColumnDefault {
                column: #col,
                value: #sdk::__private::default_value::<#ty>(#e),
            }
        }
    });
    let pk_field = item.fields.iter().nth(pk.index).expect("pk index");
    let pk_ty = &pk_field.ty;
    let pk_member = pk_field.ident.clone().expect("named");
    let serde = struct_impl(&ident, &item.fields)?;
    let key_check = quote_spanned! {pk_ty.span()=>
        const _: () = #sdk::__private::assert_key_type::<#pk_ty>();
    };
    let auto_inc_check = if pk.auto_inc {
        quote_spanned! {pk_ty.span()=>
            const _: () = #sdk::__private::assert_auto_inc_key::<#pk_ty>();
        }
    } else {
        TokenStream::new()
    };
    let pk_index = pk.index as u32;
    let auto_inc = pk.auto_inc;
    let version = opts.version;
    let persistence = if opts.ephemeral {
        quote!(#sdk::abi::Persistence::Ephemeral)
    } else {
        quote!(#sdk::abi::Persistence::Logged)
    };
    let storage = if opts.columnar {
        quote!(#sdk::abi::Storage::Columnar)
    } else {
        quote!(#sdk::abi::Storage::Rows)
    };
    // Every index: (schema name, method name, column positions, kind).
    let fields: Vec<(Ident, syn::Type)> = item
        .fields
        .iter()
        .map(|f| (f.ident.clone().expect("named"), f.ty.clone()))
        .collect();
    let mut all: Vec<(String, Ident, Vec<usize>, IndexKind, bool)> = indexes
        .iter()
        .map(|(col, kind, field)| {
            (
                format!("{name}_{}", unraw(field)),
                format_ident!("by_{}", unraw(field)),
                vec![*col],
                *kind,
                false,
            )
        })
        .collect();
    for c in &opts.composites {
        let mut cols = Vec::new();
        for col in &c.columns {
            match fields.iter().position(|(f, _)| f == col) {
                Some(i) => cols.push(i),
                None => {
                    return Err(syn::Error::new(
                        col.span(),
                        format!(
                            "index `{}`: table `{name}` has no column `{col}`",
                            c.name.value()
                        ),
                    ))
                }
            }
        }
        let method: Ident = syn::parse_str(&c.name.value())
            .map_err(|_| syn::Error::new(c.name.span(), "index name must be an identifier"))?;
        all.push((c.name.value(), method, cols, c.kind, true));
    }
    let index_schemas = all.iter().map(|(iname, _, cols, kind, _)| {
        let cols = cols.iter().map(|c| *c as u32);
        let kind = match kind {
            IndexKind::BTree => quote!(#sdk::abi::IndexKind::BTree),
            IndexKind::Hash => quote!(#sdk::abi::IndexKind::Hash),
            IndexKind::Unique => quote!(#sdk::abi::IndexKind::Unique),
        };
        quote! {
            #sdk::abi::IndexSchema {
                name: ::std::string::String::from(#iname),
                columns: ::std::vec![#(#cols),*],
                kind: #kind,
            }
        }
    });
    let index_checks = all
        .iter()
        .flat_map(|(_, _, cols, _, _)| cols.clone())
        .map(|c| {
            let ty = &fields[c].1;
            quote_spanned! {ty.span()=>
                const _: () = #sdk::__private::assert_index_column::<#ty>();
            }
        });
    let index_methods: Vec<TokenStream> = all
        .iter()
        .enumerate()
        .map(|(i, (iname, method, cols, kind, composite))| {
            let key = if *composite {
                let tys = cols.iter().map(|c| &fields[*c].1);
                quote!((#(#tys,)*))
            } else {
                let ty = &fields[cols[0]].1;
                quote!(#ty)
            };
            let kind = match kind {
                IndexKind::BTree => quote!(#sdk::BTreeKind),
                IndexKind::Hash => quote!(#sdk::HashKind),
                IndexKind::Unique => quote!(#sdk::UniqueKind),
            };
            let i = i as u32;
            let doc = format!(" The index `{iname}`.");
            quote! {
                #[doc = #doc]
                fn #method(&self) -> #sdk::IndexHandle<#ident, #key, #kind> {
                    #sdk::IndexHandle::new(#i, #composite)
                }
            }
        })
        .collect();
    let cols_ident = format_ident!("{}Columns", ident);
    let col_fields = fields.iter().map(|(f, ty)| {
        let doc = format!(" Column `{}`.", unraw(f));
        quote!(#[doc = #doc] pub #f: #sdk::Col<#ident, #ty>)
    });
    let col_inits = fields.iter().enumerate().map(|(i, (f, _))| {
        let i = i as u32;
        quote!(#f: #sdk::Col::new(#i))
    });
    let idx_ext = format_ident!("{}Indexes", ident);
    let doc_cols = format!(" The typed columns of table `{name}`, for filters and aggregates.");
    let doc_idx = format!(" The indexes of table `{name}`, on its handles.");
    let vis = &item.vis;
    let ext = format_ident!("{}TableExt", ident);
    let doc_ext = format!(
        " Typed access to the `{name}` table: `ctx.tables.{name}()` is a read-write \
         `TableHandle` in a write reducer and a read-only `ReadTableHandle` in a read reducer."
    );
    let doc_fn = format!(" The `{name}` table.");

    // An old layout (`old`) is read through `OldTable` only: no accessor.
    let access = if opts.old {
        TokenStream::new()
    } else {
        quote! {
            #[doc = #doc_idx]
            #vis trait #idx_ext {
                #(#index_methods)*
            }

            impl #idx_ext for #sdk::TableHandle<'_, #ident> {}
            impl #idx_ext for #sdk::ReadTableHandle<'_, #ident> {}

            #[doc = #doc_ext]
            #vis trait #ext: #sdk::Tables {
                #[doc = #doc_fn]
                fn #accessor(&self) -> <Self as #sdk::Tables>::Handle<'_, #ident>;
            }

            impl<__Tables: #sdk::Tables> #ext for __Tables {
                fn #accessor(&self) -> <__Tables as #sdk::Tables>::Handle<'_, #ident> {
                    <__Tables as #sdk::Tables>::handle::<#ident>(self)
                }
            }
        }
    };

    Ok(quote! {
        #item

        #serde

        const _: () = {
            #key_check
            #auto_inc_check
            #(#index_checks)*
        };

        #[doc = #doc_cols]
        #[derive(Clone, Copy, Debug)]
        #vis struct #cols_ident {
            #(#col_fields,)*
        }

        #access

        impl #sdk::Table for #ident {
            const NAME: &'static str = #name;
            const AUTO_INC: bool = #auto_inc;
            const VERSION: u32 = #version;
            type Key = #pk_ty;
            fn key(&self) -> &Self::Key {
                &self.#pk_member
            }
            type Columns = #cols_ident;
            fn columns() -> #cols_ident {
                #cols_ident { #(#col_inits,)* }
            }
            fn schema() -> #sdk::abi::TableSchema {
                let columns = match <Self as #sdk::IntersticeType>::ty() {
                    #sdk::Type::Struct(s) => s.fields,
                    _ => ::core::unreachable!("a table row is a struct"),
                };
                #sdk::abi::TableSchema {
                    name: ::std::string::String::from(#name),
                    version: #version,
                    columns,
                    primary_key: #pk_index,
                    auto_inc: #auto_inc,
                    persistence: #persistence,
                    indexes: ::std::vec![#(#index_schemas),*],
                    defaults: ::std::vec![#(#default_schemas),*],
                    storage: #storage,
                }
            }
        }

    })
}
