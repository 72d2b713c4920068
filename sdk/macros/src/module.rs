//! `interstice_module! { … }`: the module declaration and its wasm exports.

use interstice_abi::schema::valid_ident;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{bracketed, Ident, LitStr, Path, Token};

use crate::util::{error, sdk, unraw};

struct ModuleDecl {
    name: LitStr,
    version: Option<LitStr>,
    dependencies: Vec<Dependency>,
    tables: Vec<Path>,
    reducers: Vec<Path>,
}

/// A dependency: its name, or the path of its generated bindings module
/// (`interstice generate rust`), which also records the binding.
enum Dependency {
    Name(LitStr),
    Bindings(Path),
}

impl Parse for Dependency {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            Ok(Dependency::Name(input.parse()?))
        } else {
            Ok(Dependency::Bindings(input.parse()?))
        }
    }
}

fn list<T: Parse>(input: ParseStream) -> syn::Result<Vec<T>> {
    let content;
    bracketed!(content in input);
    Ok(Punctuated::<T, Token![,]>::parse_terminated(&content)?
        .into_iter()
        .collect())
}

impl Parse for ModuleDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut name = None;
        let mut version = None;
        let mut dependencies = None;
        let mut tables = None;
        let mut reducers = None;
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            let dup = || error(&key, format!("`{key}` given twice"));
            match key.to_string().as_str() {
                "name" if name.is_none() => name = Some(input.parse::<LitStr>()?),
                "version" if version.is_none() => version = Some(input.parse::<LitStr>()?),
                "dependencies" if dependencies.is_none() => dependencies = Some(list(input)?),
                "tables" if tables.is_none() => tables = Some(list(input)?),
                "reducers" if reducers.is_none() => reducers = Some(list(input)?),
                "name" | "version" | "dependencies" | "tables" | "reducers" => return Err(dup()),
                _ => {
                    return Err(error(
                        &key,
                        format!(
                            "unknown key `{key}`: expected `name`, `version`, `dependencies`, \
                             `tables` or `reducers`"
                        ),
                    ))
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        let name = name.ok_or_else(|| {
            syn::Error::new(Span::call_site(), "interstice_module! needs `name: \"…\"`")
        })?;
        Ok(ModuleDecl {
            name,
            version,
            dependencies: dependencies.unwrap_or_default(),
            tables: tables.unwrap_or_default(),
            reducers: reducers.unwrap_or_default(),
        })
    }
}

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let sdk = sdk();
    let decl: ModuleDecl = syn::parse2(input)?;
    let name = decl.name.value();
    if !valid_ident(&name) {
        return Err(error(
            &decl.name,
            format!(
                "module name `{name}` must match [a-z][a-z0-9_]* (lowercase letters, digits, `_`)"
            ),
        ));
    }
    let version = match &decl.version {
        Some(v) if v.value().is_empty() => return Err(error(v, "the version must not be empty")),
        Some(v) => quote!(#v),
        None => quote!(::core::env!("CARGO_PKG_VERSION")),
    };
    let mut deps = Vec::new();
    let mut dep_names = Vec::new();
    let mut bindings = Vec::new();
    for d in &decl.dependencies {
        let d = match d {
            Dependency::Name(d) => d,
            Dependency::Bindings(p) => {
                dep_names.push(quote_spanned!(p.span()=> #p::MODULE_NAME));
                bindings.push(quote_spanned!(p.span()=> #p::__interstice_binding()));
                continue;
            }
        };
        dep_names.push(quote!(#d));
        let dv = d.value();
        if !valid_ident(&dv) {
            return Err(error(
                d,
                format!("module name `{dv}` must match [a-z][a-z0-9_]*"),
            ));
        }
        if dv == name {
            return Err(error(d, "a module cannot depend on itself"));
        }
        if deps.contains(&dv) {
            return Err(error(d, format!("dependency `{dv}` listed twice")));
        }
        deps.push(dv);
    }

    let mut seen_tables: Vec<String> = Vec::new();
    for t in &decl.tables {
        let s = quote!(#t).to_string();
        if seen_tables.contains(&s) {
            return Err(error(t, "table listed twice"));
        }
        seen_tables.push(s);
    }

    // Reducers: the hidden marker type `#[reducer]` put next to each function.
    let mut markers = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for r in &decl.reducers {
        let last = r.segments.last().expect("a path has a segment");
        let rname = unraw(&last.ident);
        if names.contains(&rname) {
            return Err(error(r, format!("reducer `{rname}` listed twice")));
        }
        names.push(rname.clone());
        let mut marker = r.clone();
        let seg = marker.segments.last_mut().expect("a path has a segment");
        seg.ident = format_ident!("__interstice_reducer_{}", rname, span = last.ident.span());
        markers.push(marker);
    }

    let table_ids = decl.tables.iter().enumerate().map(|(i, t)| {
        let id = i as u32;
        quote! {
            impl #sdk::TableId for #t {
                const ID: u32 = #id;
            }
        }
    });
    let tables = &decl.tables;
    let name_consts = names.iter().map(|n| {
        let c = Ident::new(&n.to_uppercase(), Span::call_site());
        let doc = format!(" `{n}`");
        quote! {
            #[doc = #doc]
            pub const #c: &str = #n;
        }
    });
    let module_doc = format!(" The name of this module, `{name}`.");
    let reducers_doc =
        format!(" Names of the reducers of module `{name}`, for `ctx.call` and `ctx.read_call`.");

    Ok(quote! {
        #[doc = #module_doc]
        pub const MODULE_NAME: &str = #name;

        #[doc = #reducers_doc]
        pub mod reducers {
            #(#name_consts)*
        }

        #(#table_ids)*

        /// The schema this module exports from `__interstice_schema`, each
        /// custom type named once.
        #[doc(hidden)]
        pub fn __interstice_module_schema() -> #sdk::abi::ModuleSchema {
            #sdk::abi::ModuleSchema {
                abi_version: #sdk::abi::ABI_VERSION,
                name: ::std::string::String::from(#name),
                version: ::std::string::String::from(#version),
                dependencies: ::std::vec![#(::std::string::String::from(#dep_names)),*],
                tables: ::std::vec![#(<#tables as #sdk::Table>::schema()),*],
                reducers: ::std::vec![#(<#markers as #sdk::__private::Reducer>::schema()),*],
                types: ::std::vec::Vec::new(),
                bindings: ::std::vec![#(#bindings),*],
            }
            .with_named_types()
        }

        const _: () = {
            // No dependency twice (names and bindings together), nor itself.
            const _: () = #sdk::bindings::assert_dependencies(#name, &[#(#dep_names),*]);
            // Two tables may not share a name.
            const _: () = #sdk::__private::assert_unique_names(&[#(<#tables as #sdk::Table>::NAME),*]);
            // Each #[migration]'s to_version is its table's version.
            const _: () = #sdk::__private::assert_migrations(
                &[#((<#tables as #sdk::Table>::NAME, <#tables as #sdk::Table>::VERSION)),*],
                &[#(<#markers as #sdk::__private::Reducer>::MIGRATION),*],
            );

            #[unsafe(no_mangle)]
            pub extern "C" fn __interstice_abi_version() -> i32 {
                #sdk::abi::ABI_VERSION as i32
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn __interstice_schema() -> i64 {
                #sdk::__private::schema_export(__interstice_module_schema)
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn __interstice_alloc(len: i32) -> i32 {
                #sdk::__private::alloc(len)
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn __interstice_call(reducer: i32, ptr: i32, len: i32) -> i64 {
                const REDUCERS: &[#sdk::__private::Invoke] = &[
                    #(<#markers as #sdk::__private::Reducer>::invoke),*
                ];
                #sdk::__private::dispatch(reducer, ptr, len, REDUCERS)
            }
        };
    })
}
