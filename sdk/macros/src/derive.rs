//! `#[derive(IntersticeType)]`, also used by `#[table]` for the row type.
//!
//! Every field type goes through one `const` per field,
//! `__private::field_ops::<T>()`, whose `T: AbiType` bound reports a type
//! that cannot cross the ABI once, at the field, with a readable message.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Generics, Ident, Member};

use crate::util::{check_types, error, mentions, sdk, unraw};

/// One field of a struct or variant.
pub(crate) struct FieldInfo {
    /// Name in the schema: the field name, or `0`, `1`… for tuple fields.
    pub name: String,
    /// How to reach it on `self`.
    pub member: Member,
    /// Its Rust type.
    pub ty: syn::Type,
    /// The generated `FieldOps` constant.
    pub ops: Ident,
}

pub(crate) fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    no_generics(&input.ident, &input.generics, "#[derive(IntersticeType)]")?;
    match &input.data {
        Data::Struct(s) => struct_impl(&input.ident, &s.fields),
        Data::Enum(e) => enum_impl(&input.ident, e),
        Data::Union(u) => Err(syn::Error::new(
            u.union_token.span,
            "#[derive(IntersticeType)] does not support unions: use a struct or an enum",
        )),
    }
}

/// Refuses generic parameters, lifetimes and where clauses.
pub(crate) fn no_generics(ident: &Ident, generics: &Generics, what: &str) -> syn::Result<()> {
    if generics.params.is_empty() && generics.where_clause.is_none() {
        return Ok(());
    }
    Err(error(
        generics,
        format!(
            "{what} does not support generic types or lifetimes: an Interstice type has a single \
             fixed schema; make `{ident}` a concrete type"
        ),
    ))
}

/// Collects and checks the fields of a struct or variant.
pub(crate) fn fields_info(
    owner: &Ident,
    fields: &Fields,
    prefix: &str,
) -> syn::Result<Vec<FieldInfo>> {
    check_types(fields.iter().map(|f| &f.ty))?;
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if mentions(&f.ty, owner) {
            return Err(error(
                &f.ty,
                format!(
                    "`{owner}` is recursive: the Interstice type model has no references between \
                     types, so a type cannot contain itself (store the children in a table, keyed \
                     by the parent's id)"
                ),
            ));
        }
        let (name, member) = match &f.ident {
            Some(id) => (unraw(id), Member::Named(id.clone())),
            None => (i.to_string(), Member::Unnamed(i.into())),
        };
        out.push(FieldInfo {
            name,
            member,
            ty: f.ty.clone(),
            ops: format_ident!("__{}F{}", prefix, i),
        });
    }
    Ok(out)
}

/// `const __F0: FieldOps<T> = field_ops::<T>();` for each field.
pub(crate) fn ops_consts(fields: &[FieldInfo]) -> TokenStream {
    let sdk = sdk();
    fields
        .iter()
        .map(|f| {
            let (ops, ty) = (&f.ops, &f.ty);
            quote_spanned! {ty.span()=>
                const #ops: #sdk::__private::FieldOps<#ty> = #sdk::__private::field_ops::<#ty>();
            }
        })
        .collect()
}

/// `vec![field("a", …), …]`.
pub(crate) fn schema_fields(fields: &[FieldInfo]) -> TokenStream {
    let sdk = sdk();
    let items = fields.iter().map(|f| {
        let (name, ops) = (&f.name, &f.ops);
        quote!(#sdk::__private::field(#name, (#ops.ty)()))
    });
    quote!(::std::vec![#(#items),*])
}

/// The `impl IntersticeType` for a struct; `ty_name` is the name recorded
/// in its `Type::Struct`.
pub(crate) fn struct_impl(ident: &Ident, fields: &Fields) -> syn::Result<TokenStream> {
    let sdk = sdk();
    let info = fields_info(ident, fields, "")?;
    let consts = ops_consts(&info);
    let schema = schema_fields(&info);
    let name = unraw(ident);
    let n = info.len();
    let encodes = info.iter().map(|f| {
        let (ops, member) = (&f.ops, &f.member);
        quote!((#ops.encode)(&self.#member, w);)
    });
    let decodes = info.iter().map(|f| {
        let ops = &f.ops;
        quote!((#ops.decode)(r)?)
    });
    let build = match fields {
        Fields::Named(_) => {
            let members = info.iter().map(|f| &f.member);
            quote!(Self { #(#members: #decodes),* })
        }
        Fields::Unnamed(_) => quote!(Self(#(#decodes),*)),
        Fields::Unit => quote!(Self),
    };
    Ok(quote! {
        const _: () = {
            #consts
            #[automatically_derived]
            impl #sdk::IntersticeType for #ident {
                fn ty() -> #sdk::Type {
                    #sdk::Type::Struct(#sdk::abi::StructType {
                        name: ::std::string::String::from(#name),
                        fields: #schema,
                    })
                }
                fn encode(&self, w: &mut #sdk::abi::cbor::Writer) {
                    w.array(#n);
                    #(#encodes)*
                }
                fn decode(
                    r: &mut #sdk::abi::cbor::Reader<'_>,
                ) -> ::core::result::Result<Self, #sdk::abi::AbiError> {
                    r.array_of(#n)?;
                    ::core::result::Result::Ok(#build)
                }
            }
        };
    })
}

fn enum_impl(ident: &Ident, data: &syn::DataEnum) -> syn::Result<TokenStream> {
    let sdk = sdk();
    let name = unraw(ident);
    let mut consts = TokenStream::new();
    let mut variants = Vec::new();
    let mut encode_arms = Vec::new();
    let mut decode_arms = Vec::new();
    for (vi, v) in data.variants.iter().enumerate() {
        let info = fields_info(ident, &v.fields, &format!("V{vi}"))?;
        consts.extend(ops_consts(&info));
        let vname = unraw(&v.ident);
        let vident = &v.ident;
        let schema = schema_fields(&info);
        variants.push(quote! {
            #sdk::abi::Variant {
                name: ::std::string::String::from(#vname),
                fields: #schema,
            }
        });
        let tag = vi as u64;
        let len = info.len() + 1;
        let binds: Vec<Ident> = (0..info.len())
            .map(|i| Ident::new(&format!("__f{i}"), Span::call_site()))
            .collect();
        let pattern = match &v.fields {
            Fields::Named(_) => {
                let members = info.iter().map(|f| &f.member);
                quote!(Self::#vident { #(#members: #binds),* })
            }
            Fields::Unnamed(_) => quote!(Self::#vident(#(#binds),*)),
            Fields::Unit => quote!(Self::#vident),
        };
        let enc = info.iter().zip(&binds).map(|(f, b)| {
            let ops = &f.ops;
            quote!((#ops.encode)(#b, w);)
        });
        encode_arms.push(quote! {
            #pattern => {
                w.array(#len);
                w.u64(#tag);
                #(#enc)*
            }
        });
        let decodes = info.iter().map(|f| {
            let ops = &f.ops;
            quote!((#ops.decode)(r)?)
        });
        let build = match &v.fields {
            Fields::Named(_) => {
                let members = info.iter().map(|f| &f.member);
                quote!(Self::#vident { #(#members: #decodes),* })
            }
            Fields::Unnamed(_) => quote!(Self::#vident(#(#decodes),*)),
            Fields::Unit => quote!(Self::#vident),
        };
        decode_arms.push(quote! {
            #tag => {
                #sdk::__private::expect_variant_len(__start, __len, #len, #name, #vname)?;
                ::core::result::Result::Ok(#build)
            }
        });
    }
    let encode_body = if encode_arms.is_empty() {
        quote!(match *self {})
    } else {
        quote!(match self { #(#encode_arms)* })
    };
    Ok(quote! {
        const _: () = {
            #consts
            #[automatically_derived]
            impl #sdk::IntersticeType for #ident {
                fn ty() -> #sdk::Type {
                    #sdk::Type::Enum(#sdk::abi::EnumType {
                        name: ::std::string::String::from(#name),
                        variants: ::std::vec![#(#variants),*],
                    })
                }
                fn encode(&self, w: &mut #sdk::abi::cbor::Writer) {
                    #encode_body
                }
                fn decode(
                    r: &mut #sdk::abi::cbor::Reader<'_>,
                ) -> ::core::result::Result<Self, #sdk::abi::AbiError> {
                    let __start = r.position();
                    let __len = r.array()?;
                    let __tag = r.u64()?;
                    match __tag {
                        #(#decode_arms)*
                        _ => ::core::result::Result::Err(
                            #sdk::__private::no_such_variant(__start, #name, __tag),
                        ),
                    }
                }
            }
        };
    })
}
