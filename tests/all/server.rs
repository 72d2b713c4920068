//! Tests: server. `interstice run --listen 127.0.0.1:0` over real sockets
//! (`docs/SERVER.md`): every endpoint, the tokens (missing, wrong,
//! read-only, rotated, unsafe files), bad input and its statuses, slow
//! clients that never finish a request, WebSocket calls, and a
//! subscription resumed after a dropped connection with no gap and no
//! duplicate.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

use crate::support::{bin, json_matches, kill, tempdir, wasm, wasm_path, Server};

/// A server listening on a free port of 127.0.0.1, with its tokens (also
/// used by `dashboard`).
pub(crate) struct Api {
    pub(crate) srv: Server,
    pub(crate) addr: String,
    pub(crate) full: String,
    pub(crate) read: String,
    agent: ureq::Agent,
}

/// An answer: status, parsed JSON body (or the text as a JSON string) and
/// the `WWW-Authenticate` header.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Json,
    www_authenticate: Option<String>,
}

fn token_file(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("reading {name}: {e}"))
        .trim_end()
        .to_owned()
}

impl Api {
    pub(crate) fn start(dir: &Path, extra: &[&str], modules: &[&str]) -> Api {
        let mut args = vec!["--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let srv = Server::start(dir, &args, modules);
        let addr = srv.ready["listen"]
            .as_str()
            .unwrap_or_else(|| panic!("no listen address in {}", srv.ready))
            .to_owned();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Api {
            srv,
            addr,
            full: token_file(dir, "TOKEN"),
            read: token_file(dir, "READ_TOKEN"),
            agent,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `method path` with `token` (none: no header) and `body`.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        let res = match method {
            "GET" => {
                let mut r = self.agent.get(self.url(path));
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            "POST" => {
                let mut r = self.agent.post(self.url(path));
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                match body {
                    Some(b) => r.send(b),
                    None => r.send_empty(),
                }
            }
            other => panic!("method {other}"),
        };
        let mut res = res.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status().as_u16();
        let www_authenticate = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let text = res
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
        let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
        Answer {
            status,
            body,
            www_authenticate,
        }
    }

    pub(crate) fn get(&self, path: &str) -> Answer {
        self.send("GET", path, Some(&self.full), None)
    }

    pub(crate) fn post(&self, path: &str, body: &Json) -> Answer {
        self.send(
            "POST",
            path,
            Some(&self.full),
            Some(body.to_string().as_bytes()),
        )
    }

    /// Calls `bank.open_account(owner, initial)`; returns the commit's ts.
    pub(crate) fn open_account(&self, owner: &str, initial: u64) -> u64 {
        self.writer().open_account(owner, initial)
    }

    /// What another thread needs to call.
    fn writer(&self) -> Writer {
        Writer {
            agent: self.agent.clone(),
            url: self.url("/v1/modules/bank/reducers/open_account/call"),
            auth: format!("Bearer {}", self.full),
        }
    }

    /// A WebSocket session with `token`.
    fn ws(&self, token: &str) -> tungstenite::WebSocket<TcpStream> {
        let mut req = format!("ws://{}/v1/ws", self.addr)
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            "Authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let (ws, _) = tungstenite::client(req, stream).expect("WebSocket handshake");
        ws
    }
}

/// Calls `bank.open_account` from any thread.
struct Writer {
    agent: ureq::Agent,
    url: String,
    auth: String,
}

impl Writer {
    fn open_account(&self, owner: &str, initial: u64) -> u64 {
        let body = json!({"args": [owner, initial]}).to_string();
        let mut res = self
            .agent
            .post(&self.url)
            .header("Authorization", &self.auth)
            .send(body.as_bytes())
            .expect("open_account");
        let text = res.body_mut().read_to_string().expect("body");
        assert_eq!(res.status().as_u16(), 200, "{text}");
        let v: Json = serde_json::from_str(&text).expect("JSON");
        v["ts"].as_u64().expect("a write has a ts")
    }
}

fn send_ws(ws: &mut tungstenite::WebSocket<TcpStream>, v: Json) {
    ws.send(Message::Text(v.to_string().into()))
        .expect("ws send");
}

/// The next JSON text message.
fn recv_ws(ws: &mut tungstenite::WebSocket<TcpStream>) -> Json {
    loop {
        match ws.read().expect("ws read") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON message"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

#[test]
fn every_endpoint_answers_with_the_run_protocols_values() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    let ts = api.open_account("alice", 100);

    let a = api.get("/v1/status");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["result"]["modules"], json!(["bank"]));
    assert!(a.body["result"]["durable_ts"].as_u64().unwrap() >= ts);

    let a = api.get("/v1/modules");
    assert_eq!(a.status, 200, "{}", a.body);
    let bank = &a.body["result"][0];
    assert_eq!(bank["name"], "bank");
    assert_eq!(
        bank["tables"],
        json!([{"name": "accounts", "rows": 1}]),
        "{bank}"
    );
    let reducers = bank["reducers"].as_array().expect("reducers");
    assert!(
        reducers.contains(&json!({"name": "balance", "mode": "read"})),
        "{bank}"
    );
    assert!(
        reducers.contains(&json!({"name": "deposit", "mode": "write"})),
        "{bank}"
    );
    assert_eq!(bank["schema_hash"].as_str().unwrap().len(), 64);

    let a = api.get("/v1/modules/bank");
    assert_eq!(a.status, 200);
    assert_eq!(&a.body["result"], bank);

    let a = api.get("/v1/modules/bank/schema");
    assert_eq!(a.status, 200);
    assert_eq!(a.body["result"]["name"], "bank");
    assert_eq!(a.body["result"]["schema"]["tables"][0]["name"], "accounts");

    // A write: the commit's ts and the reducer's value, as `run` replies.
    let a = api.post(
        "/v1/modules/bank/reducers/deposit/call",
        &json!({"args": [1, 50]}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["ok"], true);
    assert_eq!(a.body["result"], 150);
    assert_eq!(a.body["ts"], ts + 1);
    assert!(a.body.get("id").is_none());

    // A read, by either path: `ts` is null.
    for path in [
        "/v1/modules/bank/reducers/balance/read",
        "/v1/modules/bank/reducers/balance/call",
    ] {
        let a = api.post(path, &json!({"args": [1]}));
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert_eq!(a.body["result"], 150);
        assert_eq!(a.body["ts"], Json::Null);
    }

    let a = api.get("/v1/hash");
    assert_eq!(a.status, 200);
    assert_eq!(a.body["result"].as_str().unwrap().len(), 64);

    let a = api.get("/metrics");
    assert_eq!(a.status, 200);
    let text = a.body.as_str().expect("metrics are text");
    assert!(
        text.contains("# TYPE interstice_commits_total counter\n"),
        "{text}"
    );
    assert!(text.contains("\ninterstice_commits_total 2\n"), "{text}");
    assert!(
        text.contains("\ninterstice_table_rows{module=\"bank\",table=\"accounts\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\ninterstice_durable_ts {}\n", ts + 1)),
        "{text}"
    );

    // Load a second module (the body is the wasm binary).
    let hello = wasm("hello");
    let a = api.send("POST", "/v1/modules", Some(&api.full), Some(&hello));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["result"]["name"], "hello");
    let a = api.get("/v1/status");
    assert_eq!(a.body["result"]["modules"], json!(["bank", "hello"]));
    // Loading the same binary again is a no-op.
    let a = api.send("POST", "/v1/modules", Some(&api.full), Some(&hello));
    assert_eq!(a.status, 200, "{}", a.body);

    // Snapshots are off in this run: 409 with the runtime's kind.
    let a = api.send("POST", "/v1/snapshot", Some(&api.full), None);
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["error"]["kind"], "Snapshot");
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not enabled"),
        "{}",
        a.body
    );
}

#[test]
fn a_snapshot_is_taken_on_request_and_an_upgrade_is_checked() {
    let d = tempdir();
    let api = Api::start(d.path(), &["--snapshot-every", "100000"], &["t_upgrade_v1"]);
    let a = api.send("POST", "/v1/snapshot", Some(&api.full), None);
    assert_eq!(a.status, 200, "{}", a.body);
    let ts = a.body["result"]["ts"].as_u64().expect("ts");
    assert!(ts >= 1);
    let snaps: Vec<_> = std::fs::read_dir(d.path().join("snapshots"))
        .expect("snapshots/")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".snap"))
        .collect();
    assert_eq!(snaps.len(), 1, "one snapshot file");
    // An incompatible upgrade is refused with the schema diff; the old
    // module keeps serving.
    let a = api.send(
        "POST",
        "/v1/modules",
        Some(&api.full),
        Some(&wasm("t_upgrade_bad_type")),
    );
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["error"]["kind"], "IncompatibleSchema");
    let a = api.get("/v1/modules");
    assert_eq!(a.body["result"][0]["name"], "t_upgrade");
    let v1 = a.body["result"][0]["schema_hash"].clone();
    // A compatible one is taken.
    let a = api.send(
        "POST",
        "/v1/modules",
        Some(&api.full),
        Some(&wasm("t_upgrade_v2")),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_ne!(a.body["result"]["schema_hash"], v1);
    // Garbage is not a module.
    let a = api.send("POST", "/v1/modules", Some(&api.full), Some(b"not wasm"));
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["error"]["kind"], "MalformedWasm");
}

/// Every route, with a body where it takes one (never a large one).
fn every_route() -> Vec<(&'static str, &'static str, Option<Vec<u8>>)> {
    let args = Some(br#"{"args":[1]}"#.to_vec());
    vec![
        ("GET", "/v1/status", None),
        ("GET", "/v1/stats", None),
        ("GET", "/v1/logs", None),
        ("GET", "/v1/modules/bank/tables/accounts/rows", None),
        ("GET", "/v1/modules", None),
        ("GET", "/v1/modules/bank", None),
        ("GET", "/v1/modules/bank/schema", None),
        (
            "POST",
            "/v1/modules/bank/reducers/deposit/call",
            Some(br#"{"args":[1,5]}"#.to_vec()),
        ),
        ("POST", "/v1/modules/bank/reducers/balance/read", args),
        ("GET", "/v1/hash", None),
        ("POST", "/v1/snapshot", None),
        ("POST", "/v1/backup", None),
        // A small body: a refusal is sent before the body is read, and a
        // client still sending a large one may see the connection close
        // before it reads the answer.
        ("POST", "/v1/modules", Some(b"\0asm".to_vec())),
        ("GET", "/v1/ws", None),
        ("GET", "/metrics", None),
        ("GET", "/no/such/route", None),
    ]
}

#[test]
fn every_endpoint_refuses_a_missing_or_wrong_token() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    api.open_account("alice", 10);
    let wrong = "0".repeat(64);
    for (method, path, body) in every_route() {
        for token in [None, Some(wrong.as_str()), Some("")] {
            let a = api.send(method, path, token, body.as_deref());
            assert_eq!(a.status, 401, "{method} {path} with {token:?}: {}", a.body);
            assert_eq!(a.body["error"]["kind"], "Unauthorized", "{method} {path}");
            assert_eq!(
                a.www_authenticate.as_deref(),
                Some("Bearer realm=\"interstice\""),
                "{method} {path}"
            );
        }
    }
    // Nothing ran: still one commit and one module.
    let a = api.get("/metrics");
    assert!(a
        .body
        .as_str()
        .unwrap()
        .contains("\ninterstice_commits_total 1\n"));
    assert_eq!(
        api.get("/v1/status").body["result"]["modules"],
        json!(["bank"])
    );
    // A WebSocket handshake without a token is refused with 401.
    let req = format!("ws://{}/v1/ws", api.addr)
        .into_client_request()
        .expect("request");
    match tungstenite::connect(req) {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status().as_u16(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
}

#[test]
fn the_read_only_token_reads_and_subscribes_but_never_writes() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    api.open_account("alice", 10);
    let read = Some(api.read.as_str());
    for path in [
        "/v1/status",
        "/v1/modules",
        "/v1/modules/bank/schema",
        "/v1/hash",
        "/metrics",
        "/v1/stats",
        "/v1/logs",
        "/v1/modules/bank/tables/accounts/rows",
    ] {
        let a = api.send("GET", path, read, None);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
    }
    let args = br#"{"args":[1]}"#;
    for path in [
        "/v1/modules/bank/reducers/balance/read",
        "/v1/modules/bank/reducers/balance/call",
    ] {
        let a = api.send("POST", path, read, Some(args));
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert_eq!(a.body["result"], 10);
    }
    let refused: [(&str, Option<Vec<u8>>); 4] = [
        (
            "/v1/modules/bank/reducers/deposit/call",
            Some(br#"{"args":[1,5]}"#.to_vec()),
        ),
        ("/v1/snapshot", None),
        ("/v1/backup", None),
        ("/v1/modules", Some(wasm("hello"))),
    ];
    for (path, body) in refused {
        let a = api.send("POST", path, read, body.as_deref());
        assert_eq!(a.status, 403, "{path}: {}", a.body);
        assert_eq!(a.body["error"]["kind"], "Forbidden");
    }
    // Over WebSocket: reads and subscriptions work, a write is refused.
    let mut ws = api.ws(&api.read);
    send_ws(
        &mut ws,
        json!({"id": 1, "op": "call", "module": "bank", "reducer": "deposit", "args": [1, 5]}),
    );
    let r = recv_ws(&mut ws);
    assert_eq!(
        (r["id"].clone(), r["error"]["kind"].clone()),
        (json!(1), json!("Forbidden")),
        "{r}"
    );
    send_ws(
        &mut ws,
        json!({"id": 2, "op": "read", "module": "bank", "reducer": "balance", "args": [1]}),
    );
    let r = recv_ws(&mut ws);
    assert_eq!(
        (r["id"].clone(), r["result"].clone()),
        (json!(2), json!(10)),
        "{r}"
    );
    send_ws(
        &mut ws,
        json!({"id": 3, "op": "subscribe", "module": "bank", "table": "accounts", "from_ts": 1}),
    );
    let r = recv_ws(&mut ws);
    assert_eq!(r["result"], "subscribed", "{r}");
    let c = recv_ws(&mut ws);
    assert_eq!(c["events"][0]["new"]["owner"], "alice", "{c}");
    // The balance is unchanged: nothing was written.
    let a = api.post(
        "/v1/modules/bank/reducers/balance/read",
        &json!({"args": [1]}),
    );
    assert_eq!(a.body["result"], 10);
    assert_eq!(
        api.get("/v1/status").body["result"]["modules"],
        json!(["bank"])
    );
}

#[test]
fn bad_input_gets_the_right_status_and_kind() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    api.open_account("alice", 10);
    let full = Some(api.full.as_str());
    let cases: Vec<(&str, &[u8], u16, &str)> = vec![
        (
            "/v1/modules/bank/reducers/deposit/call",
            b"{\"args\": [1,",
            400,
            "BadRequest",
        ),
        (
            "/v1/modules/bank/reducers/deposit/call",
            b"[1, 2]",
            400,
            "BadRequest",
        ),
        (
            "/v1/modules/bank/reducers/deposit/call",
            b"{\"args\": 5}",
            400,
            "BadRequest",
        ),
        (
            "/v1/modules/bank/reducers/deposit/call",
            b"\xff\xfe",
            400,
            "BadRequest",
        ),
        (
            "/v1/modules/bank/reducers/deposit/call",
            b"{\"args\": [1, \"x\"]}",
            400,
            "BadArguments",
        ),
        (
            "/v1/modules/bank/reducers/deposit/call",
            b"{\"args\": [1]}",
            400,
            "BadArguments",
        ),
        (
            "/v1/modules/shop/reducers/buy/call",
            b"{}",
            404,
            "UnknownModule",
        ),
        (
            "/v1/modules/bank/reducers/steal/call",
            b"{}",
            404,
            "UnknownReducer",
        ),
        (
            "/v1/modules/bank/reducers/deposit/read",
            b"{\"args\": [1, 1]}",
            409,
            "WrongMode",
        ),
        (
            "/v1/modules/bank/reducers/balance/read",
            b"{\"args\": [9]}",
            422,
            "UserError",
        ),
        (
            "/v1/modules/bank/reducers/transfer/call",
            b"{\"args\": [1, 9, 500]}",
            422,
            "UserError",
        ),
    ];
    for (path, body, status, kind) in cases {
        let a = api.send("POST", path, full, Some(body));
        assert_eq!(
            a.status,
            status,
            "{path} {:?}: {}",
            String::from_utf8_lossy(body),
            a.body
        );
        assert_eq!(a.body["ok"], false);
        assert_eq!(a.body["error"]["kind"], kind, "{path}: {}", a.body);
        assert!(a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // A reducer's own error keeps its value, as in `run` replies.
    let a = api.send(
        "POST",
        "/v1/modules/bank/reducers/transfer/call",
        full,
        Some(br#"{"args": [1, 9, 500]}"#),
    );
    assert!(
        a.body["error"]["value"]
            .as_str()
            .unwrap()
            .contains("insufficient funds"),
        "{}",
        a.body
    );
    for (method, path, status, kind) in [
        ("GET", "/v1/nothing", 404, "NotFound"),
        ("GET", "/v1/modules/shop", 404, "UnknownModule"),
        ("GET", "/v1/modules/shop/schema", 404, "UnknownModule"),
        ("GET", "/v1/snapshot", 405, "MethodNotAllowed"),
    ] {
        let a = api.send(method, path, full, None);
        assert_eq!(a.status, status, "{method} {path}: {}", a.body);
        assert_eq!(a.body["error"]["kind"], kind, "{method} {path}");
    }
    // A body over 16 MiB: 413, refused from its Content-Length, before it
    // is sent.
    let mut s = TcpStream::connect(&api.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /v1/modules/bank/reducers/deposit/call HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        api.full,
        (16 << 20) + 1
    )
    .unwrap();
    let answer = read_answer(&mut s);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"TooLarge\""), "{answer}");
    // And one sent without a length (chunked) is cut at the limit as it
    // is read.
    let mut s = TcpStream::connect(&api.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /v1/modules HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        api.full
    )
    .unwrap();
    let mut w = s.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..20 {
            let sent = write!(w, "{:x}\r\n", chunk.len())
                .and_then(|()| w.write_all(&chunk))
                .and_then(|()| w.write_all(b"\r\n"));
            if sent.is_err() {
                break;
            }
        }
    });
    let answer = read_answer(&mut s);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"TooLarge\""), "{answer}");
    drop(s);
    sender.join().expect("sender");
    // The server still serves, and nothing was written by any of it.
    let a = api.post(
        "/v1/modules/bank/reducers/balance/read",
        &json!({"args": [1]}),
    );
    assert_eq!(a.body["result"], 10);
}

/// Reads from `s` until the server closes it or a response head and a
/// `Content-Length` body have arrived.
fn read_answer(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if len.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[test]
fn slow_clients_that_never_finish_a_request_stall_no_one() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    api.open_account("alice", 10);
    // One client stops in the middle of its request head, another in the
    // middle of its body; both keep their connections open.
    let mut head = TcpStream::connect(&api.addr).expect("connect");
    head.write_all(b"POST /v1/modules/bank/reducers/deposit/call HTTP/1.1\r\nHost: x\r\nAuthor")
        .unwrap();
    let mut body = TcpStream::connect(&api.addr).expect("connect");
    write!(
        body,
        "POST /v1/modules/bank/reducers/deposit/call HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Length: 100\r\n\r\n{{\"args\"",
        api.full
    )
    .unwrap();
    // Meanwhile every other client is served at once.
    let start = Instant::now();
    for i in 0..20 {
        let t = Instant::now();
        let a = api.post(
            "/v1/modules/bank/reducers/deposit/call",
            &json!({"args": [1, 1]}),
        );
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["result"], 11 + i);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "call {i} took {:?}",
            t.elapsed()
        );
    }
    // The head that never ends is cut off by the header timeout (5 s).
    head.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = head.read(&mut buf).unwrap_or(0);
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_secs(20),
        "the half-sent head was kept for {waited:?}"
    );
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(
        n == 0 || answer.starts_with("HTTP/1.1 408"),
        "unexpected answer to a half-sent head: {answer}"
    );
    // The body that never ends gets its answer at the request timeout at the
    // latest; the server is not stuck meanwhile (checked above).
    drop(body);
}

#[test]
fn websocket_calls_are_answered_by_id() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    let mut ws = api.ws(&api.full);
    for i in 0..10u64 {
        send_ws(
            &mut ws,
            json!({"id": format!("c{i}"), "op": "call", "module": "bank",
            "reducer": "open_account", "args": [format!("u{i}"), i]}),
        );
    }
    send_ws(&mut ws, json!({"id": "bad", "op": "withdraw"}));
    send_ws(&mut ws, json!({"id": "m", "op": "metrics"}));
    ws.send(Message::Text("[1,2]".into())).unwrap();
    let mut replies = std::collections::HashMap::new();
    while replies.len() < 13 {
        let r = recv_ws(&mut ws);
        let id = r["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| "null".into());
        assert!(
            replies.insert(id.clone(), r).is_none(),
            "two replies for {id}"
        );
    }
    let mut ts = BTreeSet::new();
    for i in 0..10 {
        let r = &replies[&format!("c{i}")];
        assert_eq!(r["ok"], true, "{r}");
        ts.insert(r["ts"].as_u64().unwrap());
    }
    assert_eq!(ts.len(), 10, "ten distinct commits");
    assert_eq!(replies["bad"]["error"]["kind"], "BadRequest");
    assert_eq!(replies["null"]["error"]["kind"], "BadRequest");
    assert!(replies["m"]["result"]["commits"].as_u64().is_some());
}

/// Reads subscription messages of `id` until one with `ts`; returns every
/// commit ts seen and each commit's owners.
fn read_commits_until(
    ws: &mut tungstenite::WebSocket<TcpStream>,
    id: &Json,
    until: u64,
    seen: &mut Vec<(u64, Vec<String>)>,
) {
    loop {
        let m = recv_ws(ws);
        assert_eq!(&m["id"], id, "{m}");
        assert!(m.get("error").is_none(), "{m}");
        let ts = m["ts"].as_u64().unwrap_or_else(|| panic!("no ts in {m}"));
        let owners = m["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                assert_eq!(e["ts"], ts, "{m}");
                assert_eq!(e["event"], "insert", "{m}");
                assert_eq!(e["key"], e["new"]["id"], "{m}");
                e["new"]["owner"].as_str().unwrap().to_owned()
            })
            .collect();
        seen.push((ts, owners));
        if ts >= until {
            return;
        }
    }
}

#[test]
fn a_subscription_resumes_after_a_dropped_connection_with_no_gap_and_no_duplicate() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    // A writer keeps committing throughout; it records each acknowledged
    // commit's ts and owner.
    let acked = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let (writer, acked, done) = (api.writer(), acked.clone(), done.clone());
        move || {
            for i in 0..120 {
                let owner = format!("o{i}");
                let ts = writer.open_account(&owner, i);
                acked.lock().unwrap().push((ts, owner));
                std::thread::sleep(Duration::from_millis(5));
            }
            done.store(true, Ordering::SeqCst);
        }
    });
    let id = json!("accounts");
    let mut seen = Vec::new();
    let mut from: Option<u64> = None;
    // Connect, read a few commits, drop the connection, reconnect with
    // from_ts = last seen + 1: four times while the writer runs.
    for round in 0..4 {
        let mut ws = api.ws(&api.full);
        let mut sub = json!({"id": id, "op": "subscribe", "module": "bank", "table": "accounts"});
        if let Some(f) = from {
            sub["from_ts"] = json!(f);
        }
        send_ws(&mut ws, sub);
        let r = recv_ws(&mut ws);
        assert_eq!(r["result"], "subscribed", "{r}");
        if round == 0 {
            // The first subscription starts with what commits after it.
            from = r["from_ts"].as_u64();
        }
        let target = seen.last().map_or(from.unwrap(), |(ts, _)| *ts) + 5;
        read_commits_until(&mut ws, &id, target, &mut seen);
        from = Some(seen.last().unwrap().0 + 1);
        drop(ws);
        // Let commits happen while nobody is connected.
        std::thread::sleep(Duration::from_millis(100));
    }
    writer.join().expect("writer");
    assert!(done.load(Ordering::SeqCst));
    // A last session catches up with everything left.
    let last_acked = acked.lock().unwrap().last().unwrap().0;
    let mut ws = api.ws(&api.full);
    send_ws(
        &mut ws,
        json!({"id": id, "op": "subscribe", "module": "bank", "table": "accounts",
        "from_ts": from.unwrap()}),
    );
    assert_eq!(recv_ws(&mut ws)["result"], "subscribed");
    read_commits_until(&mut ws, &id, last_acked, &mut seen);

    let first = seen[0].0;
    let want: Vec<(u64, Vec<String>)> = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(ts, _)| *ts >= first)
        .map(|(ts, o)| (*ts, vec![o.clone()]))
        .collect();
    assert_eq!(seen, want, "every commit exactly once, in order");
    assert!(
        want.len() > 20,
        "the test saw too few commits: {}",
        want.len()
    );

    // From ts 1: the whole history, including what came before the first
    // subscription.
    let mut ws = api.ws(&api.full);
    send_ws(
        &mut ws,
        json!({"id": 9, "op": "subscribe", "module": "bank", "table": "accounts", "from_ts": 1}),
    );
    assert_eq!(recv_ws(&mut ws)["result"], "subscribed");
    let mut all = Vec::new();
    read_commits_until(&mut ws, &json!(9), last_acked, &mut all);
    assert_eq!(all.len(), 120);
}

/// Retention deleted the log's start: a resume from after the oldest kept
/// snapshot reads the rest of the log from that snapshot, with no gap and
/// no duplicate; one from before it is `ResumeUnavailable` (410), naming
/// the first timestamp that can resume.
#[test]
fn a_subscription_resumes_from_a_snapshot_after_retention_or_says_where_it_can() {
    let d = tempdir();
    let api = Api::start(
        d.path(),
        &[
            "--segment-size",
            "2048",
            "--snapshot-every",
            "20",
            "--keep-snapshots",
            "1",
        ],
        &["bank"],
    );
    let acked: Vec<(u64, String)> = (0..150)
        .map(|i| {
            let owner = format!("r{i}");
            (api.open_account(&owner, i), owner)
        })
        .collect();
    let first_segment = |d: &Path| {
        crate::support::segment_files(d)[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while first_segment(d.path()) == "00000000000000000001.log" {
        assert!(
            Instant::now() < deadline,
            "retention never deleted a segment"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the last snapshot and its retention settle (no more commits come).
    std::thread::sleep(Duration::from_secs(1));
    let kept: Vec<u64> =
        interstice_persist::list_snapshots(&d.path().join(interstice_persist::SNAPSHOTS_DIR))
            .unwrap()
            .into_iter()
            .map(|(ts, _)| ts)
            .collect();
    assert_eq!(kept.len(), 1, "--keep-snapshots 1: {kept:?}");
    let snap = kept[0];
    assert!(snap > 1 && snap < acked.last().unwrap().0, "{snap}");

    let mut ws = api.ws(&api.read);
    send_ws(
        &mut ws,
        json!({"id": 1, "op": "subscribe", "module": "bank", "table": "accounts", "from_ts": 1}),
    );
    // The subscription is taken, then its catch-up finds the changes gone:
    // one error reply with its id, and it ends.
    assert_eq!(recv_ws(&mut ws)["result"], "subscribed");
    let r = recv_ws(&mut ws);
    assert_eq!(r["id"], 1, "{r}");
    assert_eq!(r["error"]["kind"], "ResumeUnavailable", "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("resume with from_ts {} or later", snap + 1)),
        "{message}"
    );
    assert!(
        message.contains(&format!("snapshot at timestamp {snap}")),
        "{message}"
    );
    send_ws(
        &mut ws,
        json!({"id": 2, "op": "subscribe", "module": "bank", "table": "accounts", "from_ts": snap}),
    );
    assert_eq!(recv_ws(&mut ws)["result"], "subscribed");
    let r = recv_ws(&mut ws);
    assert_eq!(
        (&r["id"], &r["error"]["kind"]),
        (&json!(2), &json!("ResumeUnavailable")),
        "{r}"
    );

    // From just after the snapshot: every acknowledged commit after it.
    send_ws(
        &mut ws,
        json!({"id": 3, "op": "subscribe", "module": "bank", "table": "accounts",
               "from_ts": snap + 1}),
    );
    assert_eq!(recv_ws(&mut ws)["result"], "subscribed");
    let want: Vec<(u64, Vec<String>)> = acked
        .iter()
        .filter(|(ts, _)| *ts > snap)
        .map(|(ts, o)| (*ts, vec![o.clone()]))
        .collect();
    assert!(!want.is_empty(), "commits after the snapshot");
    let mut seen = Vec::new();
    read_commits_until(&mut ws, &json!(3), want.last().unwrap().0, &mut seen);
    assert_eq!(
        seen, want,
        "every commit after the snapshot exactly once, in order"
    );
}

#[test]
fn bad_subscriptions_are_refused() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    let mut ws = api.ws(&api.full);
    for (req, kind) in [
        (
            json!({"id": 1, "op": "subscribe", "module": "bank", "table": "users"}),
            "UnknownTable",
        ),
        (
            json!({"id": 2, "op": "subscribe", "module": "shop", "table": "x"}),
            "UnknownModule",
        ),
        (
            json!({"id": 3, "op": "subscribe", "module": "bank", "table": "accounts", "from_ts": 0}),
            "BadRequest",
        ),
        (
            json!({"id": 4, "op": "subscribe", "module": "bank", "table": "accounts", "from_ts": "x"}),
            "BadRequest",
        ),
    ] {
        send_ws(&mut ws, req.clone());
        let r = recv_ws(&mut ws);
        assert_eq!(r["id"], req["id"], "{r}");
        assert_eq!(r["error"]["kind"], kind, "{req}: {r}");
    }
}

#[test]
fn the_server_serves_past_end_of_input_and_stops_at_a_signal() {
    let d = tempdir();
    let mut api = Api::start(d.path(), &[], &["bank"]);
    let file: Json = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("SERVER")).expect("the address file"),
    )
    .expect("JSON");
    assert_eq!(file["address"], format!("http://{}", api.addr));
    assert_eq!(file["pid"], api.srv.child.id());
    // The stdin protocol still works beside it…
    let r = api
        .srv
        .request(json!({"id": 1, "op": "call", "module": "bank",
        "reducer": "open_account", "args": ["alice", 5]}));
    assert_eq!(r["ts"], 2, "{r}");
    // …and its end does not stop the server.
    api.srv.close_input();
    std::thread::sleep(Duration::from_millis(300));
    let a = api.post(
        "/v1/modules/bank/reducers/balance/read",
        &json!({"args": [1]}),
    );
    assert_eq!(a.body["result"], 5, "{}", a.body);
    kill(api.srv.child.id(), "TERM");
    let (status, _, stderr) = api.srv.wait(Duration::from_secs(30));
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        !d.path().join("SERVER").exists(),
        "the address file is removed"
    );
}

#[test]
fn a_rotated_token_replaces_the_old_one_while_serving() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    let old = api.full.clone();
    let out = Command::new(bin())
        .args(["token", "rotate", "-d"])
        .arg(d.path())
        .args(["--which", "full"])
        .output()
        .expect("token rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("rotated") && !stdout.contains(&old),
        "{stdout}"
    );
    let new = token_file(d.path(), "TOKEN");
    assert_ne!(new, old);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = api.send("GET", "/v1/status", Some(&old), None);
        if a.status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the old token still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(api.send("GET", "/v1/status", Some(&new), None).status, 200);
    assert_eq!(
        api.send("GET", "/v1/status", Some(&api.read), None).status,
        200
    );
}

#[test]
fn unsafe_addresses_and_token_files_are_refused_at_start() {
    let d = tempdir();
    let out = Command::new(bin())
        .args(["run", "--listen", "0.0.0.0:0", "-d"])
        .arg(d.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("--listen-public"),
        "{err}"
    );

    // A token file other users may read.
    let api = Api::start(d.path(), &[], &["bank"]);
    drop(api);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        d.path().join("TOKEN"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["run", "--listen", "127.0.0.1:0", "-d"])
        .arg(d.path())
        .arg(wasm_path("bank"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TOKEN has mode 0644"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "no ready line: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The fenced block after the marker in docs/SERVER.md §9.
fn worked_example_block() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SERVER.md");
    let doc = std::fs::read_to_string(path).expect("reading docs/SERVER.md");
    let marker = "<!-- pinned by tests/all/server.rs::worked_example -->";
    let after = doc.split_once(marker).expect("the marker in §9").1;
    after
        .split_once("```text\n")
        .and_then(|(_, b)| b.split_once("\n```"))
        .expect("a ```text block after the marker")
        .0
        .to_owned()
}

fn parse_json(line: &str) -> Json {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("§9 line is not JSON ({e}): {line}"))
}

#[test]
fn worked_example() {
    let block = worked_example_block();
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    let mut lines = block.lines().filter(|l| !l.trim().is_empty());
    assert!(lines
        .next()
        .expect("the command")
        .starts_with("$ interstice run"));
    let ready = parse_json(lines.next().expect("the ready line"));
    assert!(
        json_matches(&ready, &api.srv.ready),
        "ready line: {}",
        api.srv.ready
    );
    let mut ws: Option<tungstenite::WebSocket<TcpStream>> = None;
    let mut steps = 0;
    while let Some(line) = lines.next() {
        let token_of = |l: &str| -> Option<String> {
            if l.contains("(Bearer $T)") {
                Some(api.full.clone())
            } else if l.contains("(Bearer $R)") {
                Some(api.read.clone())
            } else {
                assert!(l.contains("(no token)"), "which token: {l}");
                None
            }
        };
        if let Some(req) = line.strip_prefix("→ ") {
            send_ws(
                ws.as_mut().expect("a WebSocket line first"),
                parse_json(req),
            );
            continue;
        }
        if let Some(want) = line.strip_prefix("← ") {
            let got = recv_ws(ws.as_mut().expect("a WebSocket line first"));
            assert!(
                json_matches(&parse_json(want), &got),
                "want {want}\ngot  {got}"
            );
            steps += 1;
            continue;
        }
        if line.starts_with("WebSocket /v1/ws") {
            ws = Some(api.ws(&token_of(line).expect("a token")));
            continue;
        }
        let (method, rest) = line.split_once(' ').expect("METHOD PATH");
        let path = rest.split_whitespace().next().expect("a path");
        let body = rest.rsplit_once(")  ").map(|(_, b)| b.to_owned());
        let answer = lines.next().expect("an answer line");
        let (status, want) = answer.split_once(' ').expect("STATUS BODY");
        let a = api.send(
            method,
            path,
            token_of(line).as_deref(),
            body.as_deref().map(str::as_bytes),
        );
        assert_eq!(a.status.to_string(), status, "{line}: {}", a.body);
        assert!(
            json_matches(&parse_json(want), &a.body),
            "{line}\nwant {want}\ngot  {}",
            a.body
        );
        steps += 1;
    }
    assert!(steps >= 9, "the example has its steps ({steps})");
}

/// `interstice COMMAND -d DIR ARGS…`; returns (exit code, stdout trimmed,
/// stderr).
fn cli(command: &str, dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin())
        .args([command, "-d"])
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running interstice");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn call_and_load_go_through_a_running_server() {
    let d = tempdir();
    let mut api = Api::start(d.path(), &[], &["bank"]);
    let dir = d.path();
    // A write, then a read, through the server that holds the lock.
    let (code, out, err) = cli("call", dir, &["bank", "open_account", "\"bob\"", "7"]);
    assert_eq!((code, out.as_str()), (Some(0), "1"), "{err}");
    let (code, out, err) = cli("call", dir, &["bank", "balance", "1"]);
    assert_eq!((code, out.as_str()), (Some(0), "7"), "{err}");
    // The server saw the write.
    let a = api.post(
        "/v1/modules/bank/reducers/balance/read",
        &json!({"args": [1]}),
    );
    assert_eq!(a.body["result"], 7);
    // Errors keep their exit codes: 1 for a reducer's error, 2 for a
    // wrong name or argument.
    let (code, _, err) = cli("call", dir, &["bank", "deposit", "9", "1"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no account"), "{err}");
    let (code, _, err) = cli("call", dir, &["shop", "buy"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown module `shop`"), "{err}");
    let (code, _, err) = cli("call", dir, &["../v1", "x"]);
    assert_eq!(code, Some(2), "{err}");
    // A load is an install on the running server.
    let hello = wasm_path("hello");
    let (code, out, err) = cli("load", dir, &[hello.to_str().expect("UTF-8 path")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("loaded hello "), "{out}");
    assert_eq!(
        api.get("/v1/status").body["result"]["modules"],
        json!(["bank", "hello"])
    );
    // Once the server is gone, the commands open the directory themselves.
    kill(api.srv.child.id(), "TERM");
    let (status, _, stderr) = api.srv.wait(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    let (code, out, err) = cli("call", dir, &["bank", "balance", "1"]);
    assert_eq!((code, out.as_str()), (Some(0), "7"), "{err}");
}

/// `interstice snapshot -d DIR` goes through the serving `run --listen`
/// (which needs snapshots enabled), and opens the directory itself once no
/// server holds it.
#[test]
fn snapshot_goes_through_a_running_server_or_takes_the_lock() {
    let snapshots = |d: &Path| -> Vec<u64> {
        let mut v: Vec<u64> =
            interstice_persist::list_snapshots(&d.join(interstice_persist::SNAPSHOTS_DIR))
                .unwrap_or_default()
                .into_iter()
                .map(|(ts, _)| ts)
                .collect();
        v.sort_unstable();
        v
    };
    // A server without snapshots enabled refuses, and says so.
    let d = tempdir();
    let mut api = Api::start(d.path(), &[], &["bank"]);
    api.open_account("ann", 1);
    let (code, out, err) = cli("snapshot", d.path(), &[]);
    assert_ne!(code, Some(0), "{out}");
    assert!(err.contains("snapshot"), "{err}");
    assert!(snapshots(d.path()).is_empty());
    kill(api.srv.child.id(), "TERM");
    let (status, _, stderr) = api.srv.wait(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    // No server: the command takes the lock and snapshots the directory.
    let (code, out, err) = cli("snapshot", d.path(), &[]);
    assert_eq!(code, Some(0), "{err}");
    let ts = serde_json::from_str::<Json>(&out).unwrap()["ts"]
        .as_u64()
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(snapshots(d.path()), [ts]);

    // A server with snapshots enabled takes one on request, at its own
    // durable timestamp, while it keeps serving.
    let d = tempdir();
    let api = Api::start(d.path(), &["--snapshot-every", "100000"], &["bank"]);
    let acked = api.open_account("bob", 2);
    let (code, out, err) = cli("snapshot", d.path(), &[]);
    assert_eq!(code, Some(0), "{err}");
    let ts = serde_json::from_str::<Json>(&out).unwrap()["ts"]
        .as_u64()
        .unwrap_or_else(|| panic!("{out}"));
    assert!(ts >= acked, "the snapshot covers the acknowledged commit");
    assert_eq!(snapshots(d.path()), [ts]);
    assert!(api.open_account("cy", 3) > ts, "still serving");
}

#[test]
fn server_url_targets_a_server_explicitly() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    api.open_account("alice", 10);
    let elsewhere = tempdir();
    let url = format!("http://{}", api.addr);
    let read_token = d.path().join("READ_TOKEN");
    let run = |args: &[&str], token_file: Option<&Path>, env: Option<&str>| {
        let mut cmd = Command::new(bin());
        cmd.args(["call", "-d"])
            .arg(elsewhere.path())
            .args(["--server", &url]);
        if let Some(f) = token_file {
            cmd.arg("--token-file").arg(f);
        }
        match env {
            Some(t) => cmd.env("INTERSTICE_TOKEN", t),
            None => cmd.env_remove("INTERSTICE_TOKEN"),
        };
        let out = cmd.args(args).output().expect("interstice call");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The read-only token reads, and is refused a write.
    let (code, out, err) = run(&["bank", "balance", "1"], Some(&read_token), None);
    assert_eq!((code, out.as_str()), (Some(0), "10"), "{err}");
    let (code, _, err) = run(&["bank", "deposit", "1", "5"], Some(&read_token), None);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("read-only token"), "{err}");
    // The full token from the environment writes.
    let (code, out, err) = run(&["bank", "deposit", "1", "5"], None, Some(&api.full));
    assert_eq!((code, out.as_str()), (Some(0), "15"), "{err}");
    // A wrong token is refused by the server; a URL that is not
    // http://HOST:PORT by the CLI.
    let (code, _, err) = run(&["bank", "balance", "1"], None, Some(&"0".repeat(64)));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not valid"), "{err}");
    let out = Command::new(bin())
        .args([
            "call",
            "--server",
            "https://x:1/path",
            "bank",
            "balance",
            "1",
        ])
        .output()
        .expect("interstice call");
    assert_eq!(out.status.code(), Some(2));
    // Nothing was created in the directory named by -d.
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

#[test]
fn a_commit_of_several_changes_is_one_message_live_and_resumed() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    api.open_account("alice", 100);
    api.open_account("bob", 0);
    let mut ws = api.ws(&api.full);
    send_ws(
        &mut ws,
        json!({"id": 1, "op": "subscribe", "module": "bank", "table": "accounts"}),
    );
    assert_eq!(recv_ws(&mut ws)["result"], "subscribed");
    let a = api.post(
        "/v1/modules/bank/reducers/transfer/call",
        &json!({"args": [1, 2, 30]}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let ts = a.body["ts"].as_u64().unwrap();
    // Live: one message, both updates, with their old rows.
    let m = recv_ws(&mut ws);
    assert_eq!(m["ts"], ts, "{m}");
    let events = m["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{m}");
    let balances: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["key"].clone(),
                e["old"]["balance"].clone(),
                e["new"]["balance"].clone(),
            )
        })
        .collect();
    assert_eq!(
        balances,
        vec![
            (json!(1), json!(100), json!(70)),
            (json!(2), json!(0), json!(30))
        ],
        "{m}"
    );
    drop(ws);
    // Resumed from the log: the same commit, the same new rows, no old rows.
    let mut ws = api.ws(&api.full);
    send_ws(
        &mut ws,
        json!({"id": 2, "op": "subscribe", "module": "bank", "table": "accounts",
        "from_ts": ts}),
    );
    assert_eq!(recv_ws(&mut ws)["result"], "subscribed");
    let r = recv_ws(&mut ws);
    assert_eq!(r["ts"], ts, "{r}");
    let resumed: Vec<_> = r["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["event"].clone(),
                e["key"].clone(),
                e["old"].clone(),
                e["new"]["balance"].clone(),
            )
        })
        .collect();
    assert_eq!(
        resumed,
        vec![
            (json!("update"), json!(1), Json::Null, json!(70)),
            (json!("update"), json!(2), Json::Null, json!(30)),
        ],
        "{r}"
    );
}
