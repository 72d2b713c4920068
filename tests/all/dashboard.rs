//! Tests: dashboard. The live dashboard at `/` of `interstice run --listen`
//! (`docs/SERVER.md` §12) in headless Chromium driven over the DevTools
//! protocol: with the read-only token from the URL fragment it shows the
//! modules of a real data directory (hello, caller, bank, and two modules
//! that fail a delivery and cut a trigger chain) with their row counts, the
//! subscription graph, the failed delivery and the cut chain, and follows a
//! call live (the commit count rises, the browsed table's subscription over
//! the browser's WebSocket sees the commit); its table browser filters with
//! the `--where` language; no console error, no request to any other
//! origin; a screenshot is kept in `target/screenshots/`. Then the browser
//! mechanisms' refusals: a wrong token in the page, a wrong or missing
//! token in the WebSocket subprotocols, another Origin, and the read-only
//! token's writes over that WebSocket. And the new endpoints' answers.

use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value as Json};
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

use crate::server::Api;
use crate::support::chromium::{screenshot_dir, Browser};
use crate::support::tempdir;

/// Loads the failing pair (`t_failer.fire` queues a call that traps) and
/// the self-triggering `t_loop` (its chain is cut at the depth limit), and
/// fires both.
fn fail_a_delivery_and_cut_a_chain(api: &Api) {
    let (failee, failer) = crate::deliveries::failing_pair();
    for m in [failee, failer, crate::ordering::self_triggering_module()] {
        let a = api.send("POST", "/v1/modules", Some(&api.full), Some(&m));
        assert_eq!(a.status, 200, "{}", a.body);
    }
    for (module, reducer) in [("t_failer", "fire"), ("t_loop", "start")] {
        let a = api.post(
            &format!("/v1/modules/{module}/reducers/{reducer}/call"),
            &json!({}),
        );
        assert_eq!(a.status, 200, "{module}.{reducer}: {}", a.body);
    }
}

/// Waits until `GET /v1/logs` has a record of each kind.
fn wait_for_logs(api: &Api) -> Json {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let a = api.get("/v1/logs?kind=failed_delivery,cut_chain");
        assert_eq!(a.status, 200, "{}", a.body);
        let records = a.body["result"]["records"].clone();
        let has = |k: &str| {
            records
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x["kind"] == k))
        };
        if has("failed_delivery") && has("cut_chain") {
            return a.body["result"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "logs: {}", a.body);
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn commits_shown(b: &mut Browser) -> u64 {
    b.eval("Number(document.getElementById('commits').dataset.value)")
        .as_u64()
        .expect("a commit count")
}

#[test]
fn the_dashboard_shows_a_data_directory_and_follows_a_call_live() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["hello", "caller", "bank"]);
    api.open_account("alice", 100);
    api.open_account("bob", 5);
    let a = api.post(
        "/v1/modules/hello/reducers/hello/call",
        &json!({"args": ["ann"]}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    fail_a_delivery_and_cut_a_chain(&api);
    wait_for_logs(&api);

    let mut b = Browser::start(1400, 1100);
    let page = api.url("/");
    b.navigate(&format!("{page}#token={}", api.read));
    b.wait_until(30, "document.body.dataset.state === 'ready'");
    // The token left the address bar.
    assert_eq!(b.eval("location.href"), json!(page));
    // Every module, with its tables' row counts.
    for m in ["bank", "caller", "hello", "t_failee", "t_failer", "t_loop"] {
        assert_eq!(
            b.eval(&format!(
                "document.querySelector('#modules tr[data-module=\"{m}\"]') !== null"
            )),
            json!(true),
            "module {m}"
        );
    }
    b.wait_until(
        10,
        "document.querySelector('[data-rows=\"bank.accounts=2\"]') !== null",
    );
    // The subscription graph: caller's trigger on hello.greetings and its
    // dependency on hello.
    for edge in [
        "hello.greetings.insert → caller.on_greeting",
        "caller reads hello",
        "t_loop.ticks.insert → t_loop.on_tick",
    ] {
        assert_eq!(
            b.eval(&format!(
                "document.querySelector('#graph path[data-edge=\"{edge}\"]') !== null"
            )),
            json!(true),
            "edge {edge}: {}",
            b.eval("document.getElementById('graph').outerHTML")
        );
    }
    // The failed delivery and the cut chain.
    b.wait_until(
        10,
        "document.querySelector('#events tr[data-kind=\"failed_delivery\"]') !== null \
         && document.querySelector('#events tr[data-kind=\"cut_chain\"]') !== null",
    );
    let failed =
        b.eval("document.querySelector('#events tr[data-kind=\"failed_delivery\"]').textContent");
    assert!(
        failed.as_str().unwrap().contains("t_failee.boom"),
        "{failed}"
    );

    // The table browser with a filter.
    b.eval(
        "document.getElementById('browse-table').value = 'bank.accounts';\
         document.getElementById('browse-where').value = 'owner = \"bob\"';\
         document.getElementById('browse').requestSubmit(); true",
    );
    b.wait_until(
        10,
        "document.getElementById('rows').dataset.rows === '1' \
         && document.querySelector('#rows tbody').textContent.includes('bob')",
    );
    // A predicate that does not parse is shown, not thrown.
    b.eval(
        "document.getElementById('browse-where').value = 'owner = ';\
         document.getElementById('browse').requestSubmit(); true",
    );
    b.wait_until(
        10,
        "document.getElementById('rows').dataset.rows === 'error'",
    );
    let status = b.eval("document.getElementById('browse-status').textContent");
    assert!(
        status
            .as_str()
            .unwrap()
            .starts_with("BadRequest: `where` at position"),
        "{status}"
    );
    b.eval(
        "document.getElementById('browse-where').value = '';\
         document.getElementById('browse').requestSubmit(); true",
    );
    b.wait_until(10, "document.getElementById('rows').dataset.rows === '2'");
    // The browsed table's subscription is open over the browser WebSocket.
    b.wait_until(10, "document.body.dataset.ws === 'open'");

    // A call: the count rises without a reload, and the subscription sees
    // the commit and refreshes the rows.
    let before = commits_shown(&mut b);
    api.open_account("carol", 7);
    b.wait_until(
        15,
        &format!("Number(document.getElementById('commits').dataset.value) > {before}"),
    );
    b.wait_until(
        15,
        "document.getElementById('rows').dataset.rows === '3' \
         && document.getElementById('browse-status').textContent.includes('live, 1 commit seen')",
    );
    b.wait_until(
        10,
        "document.querySelector('[data-rows=\"bank.accounts=3\"]') !== null",
    );
    // The chart has points.
    b.wait_until(
        10,
        "Number(document.querySelector('#chart polyline.commits').dataset.points) >= 1",
    );

    assert_eq!(
        b.eval("document.getElementById('errors').textContent"),
        json!("")
    );
    // The one expected problem: the browser logs the `400` of the bad
    // predicate as a failed load.
    let problems: Vec<String> = b
        .problems()
        .into_iter()
        .filter(|p| !(p.contains("status of 400") && p.contains("where=owner%20%3D%20\"")))
        .collect();
    assert_eq!(problems, Vec::<String>::new(), "console");
    let origin = api.url("");
    let ws_origin = format!("ws://{}", api.addr);
    let requests = b.requests();
    assert!(
        requests.iter().any(|r| r.starts_with(&ws_origin)),
        "{requests:?}"
    );
    for r in &requests {
        assert!(
            r.starts_with(&format!("{origin}/")) || r.starts_with(&format!("{ws_origin}/")),
            "a request to another origin: {r}"
        );
    }
    let shot = screenshot_dir().join("dashboard.png");
    b.screenshot(&shot);
}

#[test]
fn a_wrong_token_in_the_page_is_refused_and_asked_for_again() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["bank"]);
    let mut b = Browser::start(1000, 700);
    b.navigate(&format!("{}#token={}", api.url("/"), "0".repeat(64)));
    b.wait_until(30, "document.body.dataset.state === 'unauthorized'");
    let shown = b.eval("document.getElementById('auth-error').textContent");
    assert_eq!(shown, json!("refused: the token is not valid"));
    assert_eq!(
        b.eval("document.getElementById('main').hidden"),
        json!(true)
    );
    // Without a token it asks for one.
    b.eval("sessionStorage.clear(); true");
    b.navigate(&api.url("/"));
    b.wait_until(30, "document.body.dataset.state === 'login'");
    // The form takes the full token.
    b.eval(&format!(
        "document.getElementById('token-input').value = '{}';\
         document.getElementById('login').requestSubmit(); true",
        api.full
    ));
    b.wait_until(30, "document.body.dataset.state === 'ready'");
    // Only the expected refusals (401s are logged by the browser as failed
    // loads) and no script error.
    assert_eq!(
        b.eval("document.getElementById('errors').textContent"),
        json!("")
    );
    for p in b.problems() {
        assert!(p.contains("401"), "{p}");
    }
}

/// A WebSocket handshake offering `protocols`, with `origin` if given:
/// the response's status and selected subprotocol, and the socket.
fn handshake(
    api: &Api,
    protocols: Option<&str>,
    origin: Option<&str>,
) -> (
    u16,
    Option<String>,
    Option<tungstenite::WebSocket<TcpStream>>,
) {
    let mut req = format!("ws://{}/v1/ws", api.addr)
        .into_client_request()
        .expect("request");
    if let Some(p) = protocols {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().expect("header"));
    }
    if let Some(o) = origin {
        req.headers_mut()
            .insert("Origin", o.parse().expect("header"));
    }
    let stream = TcpStream::connect(&api.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    match tungstenite::client(req, stream) {
        Ok((ws, res)) => {
            let proto = res
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_owned());
            (res.status().as_u16(), proto, Some(ws))
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(res))) => {
            (res.status().as_u16(), None, None)
        }
        Err(e) => panic!("handshake: {e}"),
    }
}

fn request(ws: &mut tungstenite::WebSocket<TcpStream>, v: Json) -> Json {
    ws.send(Message::Text(v.to_string().into())).expect("send");
    loop {
        if let Message::Text(t) = ws.read().expect("read") {
            return serde_json::from_str(t.as_str()).expect("JSON");
        }
    }
}

#[test]
fn the_browser_websocket_takes_the_token_in_its_subprotocols_and_checks_the_origin() {
    let d = tempdir();
    let mut api = Api::start(d.path(), &[], &["bank"]);
    let own = api.url("");
    let bearer = |t: &str| format!("interstice.v1, interstice.bearer.{t}");
    // Missing or wrong: 401.
    for p in [
        None,
        Some("interstice.v1".to_owned()),
        Some(bearer(&"0".repeat(64))),
    ] {
        let (status, _, _) = handshake(&api, p.as_deref(), Some(&own));
        assert_eq!(status, 401, "{p:?}");
    }
    // The token without `interstice.v1`: a browser would drop a connection
    // whose subprotocol it did not offer, so the server refuses it.
    let only = format!("interstice.bearer.{}", api.read);
    let (status, _, _) = handshake(&api, Some(&only), Some(&own));
    assert_eq!(status, 400);
    // Another origin is refused, with a valid token too (CSWSH).
    let (status, _, _) = handshake(&api, Some(&bearer(&api.full)), Some("http://evil.example"));
    assert_eq!(status, 403);
    // The read-only token: the server selects `interstice.v1` and never
    // echoes the token; reads and subscriptions work, writes do not.
    let (status, proto, ws) = handshake(&api, Some(&bearer(&api.read)), Some(&own));
    assert_eq!((status, proto.as_deref()), (101, Some("interstice.v1")));
    let mut ws = ws.expect("a session");
    let r = request(
        &mut ws,
        json!({"id": 1, "op": "call", "module": "bank", "reducer": "open_account", "args": ["eve", 1]}),
    );
    assert_eq!(r["error"]["kind"], "Forbidden", "{r}");
    let r = request(
        &mut ws,
        json!({"id": 2, "op": "subscribe", "module": "bank", "table": "accounts"}),
    );
    assert_eq!(r["result"], "subscribed", "{r}");
    // localhost is the server's origin too; with the full token, writes.
    let port = api.addr.rsplit(':').next().unwrap().to_owned();
    let (status, _, ws) = handshake(
        &api,
        Some(&bearer(&api.full)),
        Some(&format!("http://localhost:{port}")),
    );
    assert_eq!(status, 101);
    let mut ws = ws.expect("a session");
    let r = request(
        &mut ws,
        json!({"id": 1, "op": "call", "module": "bank", "reducer": "open_account", "args": ["eve", 1]}),
    );
    assert_eq!(r["ok"], true, "{r}");
    // HTTP from another origin is refused too; the page itself is served.
    let a = api.send("GET", "/", None, None);
    assert_eq!(a.status, 200);
    drop(ws);
    let (_, stderr) = api.srv.kill();
    assert!(
        !stderr.contains(&api.read) && !stderr.contains(&api.full),
        "a token in the log: {stderr}"
    );
}

#[test]
fn another_origin_is_refused_unless_allowed() {
    let d = tempdir();
    let api = Api::start(
        d.path(),
        &["--allow-origin", "https://Dash.Example.com/"],
        &["bank"],
    );
    let get = |origin: &str| {
        ureq::get(api.url("/v1/status"))
            .header("Authorization", &format!("Bearer {}", api.read))
            .header("Origin", origin)
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .expect("GET")
            .status()
            .as_u16()
    };
    assert_eq!(get("http://evil.example"), 403);
    assert_eq!(get("null"), 403);
    assert_eq!(get("https://dash.example.com"), 200);
    assert_eq!(get(&api.url("")), 200);
    // Without Origin (curl, the CLI): as before.
    assert_eq!(api.get("/v1/status").status, 200);
    // A bad --allow-origin is refused at start.
    let d2 = tempdir();
    let out = crate::support::interstice([
        "run",
        "-d",
        d2.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--allow-origin",
        "evil.example/path",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        crate::support::stderr_of(&out)
            .contains("--allow-origin \"evil.example/path\": expected an origin"),
        "{}",
        crate::support::stderr_of(&out)
    );
}

#[test]
fn the_dashboards_endpoints_answer_stats_logs_and_rows() {
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["hello", "caller", "bank"]);
    for (owner, n) in [("alice", 100), ("bob", 5), ("carol", 50)] {
        api.open_account(owner, n);
    }
    // Stats: the ring and a sample taken now.
    let a = api.send("GET", "/v1/stats", Some(&api.read), None);
    assert_eq!(a.status, 200, "{}", a.body);
    let r = &a.body["result"];
    assert_eq!(
        r["fields"],
        json!(["unix_ms", "commits", "fsyncs", "rollbacks", "durable_ts"])
    );
    let samples = r["samples"].as_array().unwrap();
    let before = samples.last().unwrap().clone();
    let ts = api.open_account("dan", 1);
    let a = api.get("/v1/stats");
    let now = a.body["result"]["samples"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        now[1],
        before[1].as_u64().unwrap() + 1,
        "one more commit: {now}"
    );
    assert!(
        now[2].as_u64().unwrap() > before[2].as_u64().unwrap(),
        "an fsync: {now}"
    );
    assert!(now[4].as_u64().unwrap() >= ts, "durable: {now}");
    let since = now[0].as_u64().unwrap();
    let later = api.get(&format!("/v1/stats?since={since}"));
    assert!(later.body["result"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s[0].as_u64().unwrap() > since));
    assert_eq!(api.get("/v1/stats?since=soon").status, 400);

    // Rows: a filter, a limit, the order, errors.
    let rows = |q: &str| {
        api.send(
            "GET",
            &format!("/v1/modules/bank/tables/accounts/rows{q}"),
            Some(&api.read),
            None,
        )
    };
    let a = rows("?where=balance%20%3E%3D%2050");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["result"],
        json!({"columns": ["id", "owner", "balance"], "rows": [[1, "alice", 100], [3, "carol", 50]], "more": false})
    );
    let a = rows("?limit=1");
    assert_eq!(a.body["result"]["rows"], json!([[1, "alice", 100]]));
    assert_eq!(a.body["result"]["more"], true);
    let a = rows("?where=balance%20%3E%20%22x%22");
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("`where` at position"),
        "{}",
        a.body
    );
    assert_eq!(rows("?limit=0").status, 400);
    assert_eq!(rows("?limit=1001").status, 400);
    let a = api.get("/v1/modules/bank/tables/nope/rows");
    assert_eq!(
        (a.status, &a.body["error"]["kind"]),
        (404, &json!("UnknownTable"))
    );
    assert_eq!(api.get("/v1/modules/nope/tables/accounts/rows").status, 404);

    // Modules: dependencies and triggers for the graph.
    let a = api.get("/v1/modules/caller");
    assert_eq!(a.body["result"]["dependencies"], json!(["hello"]));
    let on: Vec<&Json> = a.body["result"]["reducers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.get("on"))
        .collect();
    assert_eq!(on, [&json!("hello.greetings.insert")]);

    // Logs: newest first, filtered by kind and module, bounded.
    let a = api.post(
        "/v1/modules/hello/reducers/hello/call",
        &json!({"args": ["ann"]}),
    );
    assert_eq!(a.status, 200);
    let a = api.post(
        "/v1/modules/hello/reducers/hello/call",
        &json!({"args": ["bo"]}),
    );
    assert_eq!(a.status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let logs = loop {
        let a = api.send(
            "GET",
            "/v1/logs?kind=log&module=hello",
            Some(&api.read),
            None,
        );
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body["result"]["records"].as_array().unwrap().len() >= 2 {
            break a.body["result"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{}", a.body);
        std::thread::sleep(Duration::from_millis(100));
    };
    let texts: Vec<&str> = logs["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert!(
        texts[0].starts_with("hello, bo!") && texts[1].starts_with("hello, ann!"),
        "{texts:?}"
    );
    assert_eq!(logs["complete"], true);
    let a = api.get("/v1/logs?kind=log&limit=1");
    assert_eq!(a.body["result"]["records"].as_array().unwrap().len(), 1);
    assert_eq!(a.body["result"]["complete"], false);
    assert_eq!(api.get("/v1/logs?level=loud").status, 400);
    assert_eq!(api.get("/v1/logs?limit=501").status, 400);
    // The page: no token needed, a policy, no data in it.
    let a = api.send("GET", "/", None, None);
    assert_eq!(a.status, 200);
    let html = a.body.as_str().unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("alice") && !html.contains(&api.read));
}
