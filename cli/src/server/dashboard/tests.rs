//! Unit tests of the dashboard page: what it may load, and its policy.

use super::*;

/// Every `http://` or `https://` in the page: only the SVG namespace, which
/// names and fetches nothing.
#[test]
fn the_page_names_no_other_server() {
    let mut rest = PAGE;
    let mut found = Vec::new();
    while let Some(i) = rest.find("http") {
        let tail = &rest[i..];
        if tail.starts_with("http://") || tail.starts_with("https://") {
            let end = tail
                .find(|c: char| c == '"' || c == '\'' || c.is_whitespace())
                .unwrap_or(tail.len());
            found.push(&tail[..end]);
        }
        rest = &rest[i + 4..];
    }
    assert_eq!(found, ["http://www.w3.org/2000/svg"]);
    for fetch in [
        "src=",
        "href=",
        "<link",
        "import(",
        "XMLHttpRequest",
        "@import",
        "url(http",
    ] {
        assert!(!PAGE.contains(fetch), "the page holds {fetch}");
    }
}

#[test]
fn each_response_has_its_own_nonce_in_the_policy() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio");
    let (a, b) = rt.block_on(async { (page().await, page().await) });
    let csp = |r: &Response| {
        r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let (ca, cb) = (csp(&a), csp(&b));
    assert_ne!(ca, cb, "a nonce per response");
    assert!(
        ca.starts_with("default-src 'none'; script-src 'nonce-"),
        "{ca}"
    );
    assert!(ca.contains("connect-src 'self'"), "{ca}");
    let nonce = ca
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a nonce");
    assert_eq!(nonce.len(), 32);
    let body = rt.block_on(async {
        axum::body::to_bytes(a.into_body(), usize::MAX)
            .await
            .expect("body")
    });
    let html = String::from_utf8(body.to_vec()).expect("UTF-8");
    assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), 2);
    assert!(!html.contains("__NONCE__"));
}
