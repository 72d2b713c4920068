//! Unit tests of the server's pieces that need no socket: the status of
//! each error kind, Prometheus label escaping, and the token files.

use std::os::unix::fs::PermissionsExt;

use axum::http::StatusCode;

use super::auth::{rotate, Role, Tokens, Which, READ_TOKEN_FILE, TOKEN_FILE};
use super::prometheus::{escape_label, family};
use super::status::status_of;
use crate::error::CliError;

#[test]
fn every_kind_has_its_status() {
    let cases = [
        ("BadRequest", 400),
        ("BadArguments", 400),
        ("Unauthorized", 401),
        ("Forbidden", 403),
        ("UnknownModule", 404),
        ("UnknownReducer", 404),
        ("UnknownTable", 404),
        ("NotFound", 404),
        ("TooLarge", 413),
        ("WrongMode", 409),
        ("IncompatibleSchema", 409),
        ("IncompatibleDependency", 409),
        ("ReadOnly", 409),
        ("Snapshot", 409),
        ("MalformedWasm", 422),
        ("UserError", 422),
        ("Trap", 422),
        ("Timeout", 422),
        ("StorageFault", 503),
        ("Shutdown", 503),
        ("RequestTimeout", 503),
        ("ResumeUnavailable", 410),
        ("Internal", 500),
        ("SomethingNew", 500),
    ];
    for (kind, code) in cases {
        assert_eq!(
            status_of(kind),
            StatusCode::from_u16(code).unwrap(),
            "{kind}"
        );
    }
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    let mut out = String::new();
    family(&mut out, "x_total", "counter", "Things.", 3);
    assert_eq!(
        out,
        "# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n"
    );
}

fn data_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(d.path().join("log")).expect("log dir");
    d
}

fn token_of(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .expect("token file")
        .trim_end()
        .to_owned()
}

fn role_of(tokens: &Tokens, presented: &str) -> Option<Role> {
    tokens.role(presented).expect("the token files are valid")
}

fn token_error(r: Result<Tokens, CliError>) -> String {
    match r {
        Err(e @ CliError::Token { .. }) => e.to_string(),
        other => panic!("expected a token error, got {other:?}"),
    }
}

#[test]
fn tokens_are_created_owner_only_and_give_their_roles() {
    let d = data_dir();
    let tokens = Tokens::load_or_create(d.path()).expect("tokens");
    for name in [TOKEN_FILE, READ_TOKEN_FILE] {
        let meta = std::fs::metadata(d.path().join(name)).expect("metadata");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
    }
    let (full, read) = (
        token_of(d.path(), TOKEN_FILE),
        token_of(d.path(), READ_TOKEN_FILE),
    );
    assert_eq!(full.len(), 64);
    assert_ne!(full, read);
    assert_eq!(role_of(&tokens, &full), Some(Role::Full));
    assert_eq!(role_of(&tokens, &read), Some(Role::Read));
    assert_eq!(role_of(&tokens, "0".repeat(64).as_str()), None);
    assert_eq!(role_of(&tokens, ""), None);
    // A second start reads the same tokens.
    let again = Tokens::load_or_create(d.path()).expect("tokens");
    assert_eq!(role_of(&again, &full), Some(Role::Full));
}

#[test]
fn a_symlinked_token_file_is_refused() {
    let d = data_dir();
    let target = d.path().join("elsewhere");
    std::fs::write(&target, format!("{}\n", "a".repeat(64))).expect("target");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::symlink(&target, d.path().join(TOKEN_FILE)).expect("symlink");
    let msg = token_error(Tokens::load_or_create(d.path()));
    assert!(msg.contains("TOKEN is a symbolic link"), "{msg}");
}

#[test]
fn a_token_file_others_may_read_is_refused() {
    let d = data_dir();
    Tokens::load_or_create(d.path()).expect("tokens");
    let path = d.path().join(READ_TOKEN_FILE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let msg = token_error(Tokens::load_or_create(d.path()));
    assert!(msg.contains("READ_TOKEN has mode 0644"), "{msg}");
}

#[test]
fn a_damaged_token_file_is_refused() {
    let d = data_dir();
    Tokens::load_or_create(d.path()).expect("tokens");
    let path = d.path().join(TOKEN_FILE);
    std::fs::write(&path, "not a token\n").expect("write");
    let msg = token_error(Tokens::load_or_create(d.path()));
    assert!(msg.contains("does not hold a token"), "{msg}");
}

#[test]
fn rotation_replaces_the_chosen_tokens() {
    let d = data_dir();
    Tokens::load_or_create(d.path()).expect("tokens");
    let (full, read) = (
        token_of(d.path(), TOKEN_FILE),
        token_of(d.path(), READ_TOKEN_FILE),
    );
    rotate(d.path(), Which::Read).expect("rotate read");
    assert_eq!(token_of(d.path(), TOKEN_FILE), full);
    let read2 = token_of(d.path(), READ_TOKEN_FILE);
    assert_ne!(read2, read);
    rotate(d.path(), Which::Both).expect("rotate both");
    assert_ne!(token_of(d.path(), TOKEN_FILE), full);
    assert_ne!(token_of(d.path(), READ_TOKEN_FILE), read2);
    let meta = std::fs::metadata(d.path().join(TOKEN_FILE)).expect("metadata");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let tokens = Tokens::load_or_create(d.path()).expect("tokens");
    assert_eq!(role_of(&tokens, &full), None, "the old token is gone");
}

#[test]
fn rotation_refuses_a_directory_that_is_not_a_data_directory() {
    let d = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        rotate(d.path(), Which::Both),
        Err(CliError::Usage(_))
    ));
}
