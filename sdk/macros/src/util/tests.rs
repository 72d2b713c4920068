//! Unit tests of `util`.

use super::*;

#[test]
fn snake() {
    assert_eq!(snake_case("Account"), "account");
    assert_eq!(snake_case("UserProfile"), "user_profile");
    assert_eq!(snake_case("HTTPRequest"), "http_request");
    assert_eq!(snake_case("Row2D"), "row2_d");
}

#[test]
fn rejects_references_anywhere() {
    let t: Type = syn::parse_quote!(Vec<Option<&'static str>>);
    assert!(check_type(&t).is_err());
    let t: Type = syn::parse_quote!(Vec<(u64, String)>);
    assert!(check_type(&t).is_ok());
    let t: Type = syn::parse_quote!(std::collections::HashMap<String, u64>);
    assert!(check_type(&t).is_err());
    let t: Type = syn::parse_quote!(Vec<Option<Option<u8>>>);
    assert!(check_type(&t).is_err());
    let t: Type = syn::parse_quote!(Option<()>);
    assert!(check_type(&t).is_err());
    let t: Type = syn::parse_quote!(Option<Vec<Option<u8>>>);
    assert!(check_type(&t).is_ok());
}

#[test]
fn finds_recursion() {
    let name: Ident = syn::parse_quote!(Tree);
    let t: Type = syn::parse_quote!(Vec<Tree>);
    assert!(mentions(&t, &name));
    let t: Type = syn::parse_quote!(Option<Box<Self>>);
    assert!(mentions(&t, &name));
    let t: Type = syn::parse_quote!(Vec<Trees>);
    assert!(!mentions(&t, &name));
}
