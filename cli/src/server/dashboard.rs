//! `GET /`: the live dashboard (`docs/SERVER.md`, "The dashboard"). One
//! HTML page with its script and style compiled into the binary
//! (`dashboard/page.html`, `page.js`, `page.css`); it holds no data and
//! needs no token. The page takes the token from the URL's fragment
//! (`#token=…`, which a browser never sends) or asks for it, then reads the
//! API with `fetch` and `Authorization: Bearer`, and opens its WebSocket
//! with the token in the subprotocols (`auth.rs`).
//!
//! Every response carries a `Content-Security-Policy` that allows only this
//! page's own script and style (by a nonce drawn for the response) and
//! connections to the server itself: the page fetches nothing from
//! anywhere else, and no injected markup could run.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::output;

/// The page, with `__NONCE__` where each response's nonce goes.
const PAGE: &str = concat!(
    include_str!("dashboard/page.html"),
    "<style nonce=\"__NONCE__\">\n",
    include_str!("dashboard/page.css"),
    "</style>\n<script nonce=\"__NONCE__\">\n",
    include_str!("dashboard/page.js"),
    "</script>\n</body>\n</html>\n"
);

/// The policy: this response's script and style, connections to the
/// server's own origin (HTTP and WebSocket), nothing else.
fn policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// Answers `GET /`.
pub(super) async fn page() -> Response {
    let mut bytes = [0u8; 16];
    if let Err(e) = getrandom::fill(&mut bytes) {
        return super::status::error("Internal", format!("drawing a nonce: {e}"));
    }
    let nonce = output::hex(&bytes);
    let mut res = (StatusCode::OK, PAGE.replace("__NONCE__", &nonce)).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&policy(&nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// `GET /favicon.ico`, which browsers ask for by themselves: `204 No
/// Content`, without a token (a `401` would be a console error).
pub(super) async fn no_icon() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests;
