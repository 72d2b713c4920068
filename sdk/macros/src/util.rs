//! Helpers shared by the macros.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{GenericArgument, Ident, PathArguments, Type};

/// The path every generated item uses to reach the SDK.
pub(crate) fn sdk() -> TokenStream {
    quote!(::interstice_sdk)
}

/// A compile error at `tokens`.
pub(crate) fn error(tokens: impl ToTokens, msg: impl std::fmt::Display) -> syn::Error {
    syn::Error::new_spanned(tokens, msg)
}

/// Rejects, with a message that says what to use instead, the Rust types
/// the Interstice type model cannot describe. Types that get past this and
/// still do not implement `IntersticeType` fail on a trait bound instead.
pub(crate) fn check_type(ty: &Type) -> syn::Result<()> {
    match ty {
        Type::Reference(_) => Err(error(
            ty,
            "references cannot cross the Interstice ABI: use an owned type \
             (`String` instead of `&str`, `Vec<T>` instead of `&[T]`)",
        )),
        Type::Ptr(_) => Err(error(ty, "raw pointers cannot cross the Interstice ABI")),
        Type::Slice(_) => Err(error(ty, "slices are not Interstice types: use `Vec<T>`")),
        Type::Array(_) => Err(error(
            ty,
            "fixed-size arrays are not Interstice types: use `Vec<T>` (or `Bytes` for bytes)",
        )),
        Type::BareFn(_) => Err(error(
            ty,
            "function pointers cannot cross the Interstice ABI",
        )),
        Type::TraitObject(_) | Type::ImplTrait(_) => Err(error(
            ty,
            "trait objects and `impl Trait` are not Interstice types: use a concrete type",
        )),
        Type::Never(_) => Err(error(ty, "`!` is not an Interstice type")),
        Type::Infer(_) => Err(error(ty, "write the type out: `_` is not allowed here")),
        Type::Paren(p) => check_type(&p.elem),
        Type::Group(g) => check_type(&g.elem),
        Type::Tuple(t) => {
            if t.elems.len() > 8 {
                return Err(error(
                    ty,
                    "tuples of more than 8 elements are not Interstice types",
                ));
            }
            t.elems.iter().try_for_each(check_type)
        }
        Type::Path(p) => {
            if let Some(q) = &p.qself {
                check_type(&q.ty)?;
            }
            if let Some(last) = p.path.segments.last() {
                let name = last.ident.to_string();
                let msg = match name.as_str() {
                    "usize" | "isize" => Some(format!(
                        "`{name}` is platform-sized and not an Interstice type: use `u32`/`u64` (or `i32`/`i64`)"
                    )),
                    "char" => Some("`char` is not an Interstice type: use `String` or `u32`".into()),
                    "str" => Some("`str` is unsized: use `String`".into()),
                    "HashMap" | "BTreeMap" | "HashSet" | "BTreeSet" | "IndexMap" | "IndexSet" => {
                        Some(format!(
                            "`{name}` is not an Interstice type: maps and sets have no canonical \
                             encoding; use `Vec<(K, V)>` / `Vec<T>`, or a table"
                        ))
                    }
                    _ => None,
                };
                if let Some(msg) = msg {
                    return Err(error(ty, msg));
                }
            }
            if let Some(last) = p.path.segments.last() {
                if last.ident == "Option" {
                    if let PathArguments::AngleBracketed(args) = &last.arguments {
                        if let Some(GenericArgument::Type(inner)) = args.args.first() {
                            let ambiguous = match inner {
                                Type::Tuple(t) => t.elems.is_empty(),
                                Type::Path(ip) => {
                                    ip.path.segments.last().is_some_and(|s| s.ident == "Option")
                                }
                                _ => false,
                            };
                            if ambiguous {
                                return Err(error(
                                    ty,
                                    "`Option<Option<T>>` and `Option<()>` are ambiguous on the wire \
                                     (both `None` and `Some(None)` would be null): use an enum",
                                ));
                            }
                        }
                    }
                }
            }
            for seg in &p.path.segments {
                if let PathArguments::AngleBracketed(args) = &seg.arguments {
                    for arg in &args.args {
                        if let GenericArgument::Type(t) = arg {
                            check_type(t)?;
                        }
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// True if `ty` mentions `Self` or `name` anywhere (a recursive type).
pub(crate) fn mentions(ty: &Type, name: &Ident) -> bool {
    fn walk(ts: TokenStream, name: &Ident) -> bool {
        ts.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => i == "Self" || i == *name,
            proc_macro2::TokenTree::Group(g) => walk(g.stream(), name),
            _ => false,
        })
    }
    walk(ty.to_token_stream(), name)
}

/// `UserProfile` → `user_profile`.
pub(crate) fn snake_case(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

/// The name as written, without an `r#` prefix.
pub(crate) fn unraw(i: &Ident) -> String {
    let s = i.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// Checks every syntactic type in a list, collecting all errors.
pub(crate) fn check_types<'a>(tys: impl IntoIterator<Item = &'a Type>) -> syn::Result<()> {
    let mut err: Option<syn::Error> = None;
    for ty in tys {
        if let Err(e) = check_type(ty) {
            match &mut err {
                Some(all) => all.combine(e),
                None => err = Some(e),
            }
        }
    }
    err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests;
