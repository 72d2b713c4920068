//! `interstice run` as a client sees it (`docs/PROTOCOL.md`): the worked
//! example of the document, run line by line against the real binary;
//! shutdown with subscribers (end of input, SIGTERM, SIGINT, a second
//! signal, a client that stopped reading, a closed stdout); lines that are
//! not UTF-8 or too long.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::support::{bin, commits, json_matches, kill, log_entries, tempdir, wasm_path, Server};

/// How long a server has to exit once it should (generous: the machine
/// may be busy; a hung server is what these tests catch).
const EXIT_WITHIN: Duration = Duration::from_secs(15);

fn open_account(id: u64, owner: &str, initial: u64) -> Json {
    json!({"id": id, "op": "call", "module": "bank", "reducer": "open_account",
        "args": [owner, initial]})
}

/// Reads lines until every one `want` names has been seen: replies by `id`
/// and events by their subscription's `id` and commit `ts`. Returns the
/// lines read.
fn recv_all(srv: &Server, replies: &[Json], events: &[(Json, u64)]) -> Vec<Json> {
    let mut replies: Vec<Json> = replies.to_vec();
    let mut events: Vec<(Json, u64)> = events.to_vec();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !replies.is_empty() || !events.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(v) = srv.recv(left) else {
            panic!("still waiting for replies {replies:?} and events {events:?}; got {got:?}");
        };
        if v.get("ok").is_some() {
            replies.retain(|id| *id != v["id"]);
        } else if let Some(ts) = v["event"]["ts"].as_u64() {
            events.retain(|e| *e != (v["id"].clone(), ts));
        }
        got.push(v);
    }
    got
}

/// A server on a fresh `bank` directory with one subscription (id `"s"`)
/// that has seen one event: the state every shutdown test starts from.
fn subscribed_server(dir: &Path) -> Server {
    let mut srv = Server::start(dir, &[], &["bank"]);
    let r = srv.request(json!({"id": "s", "op": "subscribe", "module": "bank",
        "table": "accounts"}));
    assert_eq!(r["result"], "subscribed", "{r}");
    srv.send(&[open_account(1, "alice", 10)]);
    let got = recv_all(&srv, &[json!(1)], &[(json!("s"), 2)]);
    assert!(got.iter().all(|v| v["ok"] != false), "{got:?}");
    srv
}

/// Waits for the server to exit, asserting it did so by itself, quickly
/// and cleanly; returns the lines it wrote meanwhile.
fn exits_cleanly(srv: &mut Server, what: &str) -> Vec<Json> {
    let (status, rest, stderr) = srv.wait(EXIT_WITHIN);
    assert!(
        status.success(),
        "{what}: run exited with {status}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    rest
}

// ---------------------------------------------------------------------------
// Item 11: a subscriber must not keep the server alive.
// ---------------------------------------------------------------------------

#[test]
fn subscriber_then_end_of_input_exits_and_delivers_every_event() {
    let d = tempdir();
    let mut srv = subscribed_server(d.path());
    // One more write right before the end of input: its reply and its event
    // both come out before the server exits.
    srv.send(&[open_account(2, "bob", 20)]);
    srv.close_input();
    let rest = exits_cleanly(&mut srv, "end of input");
    assert!(
        rest.iter()
            .any(|v| v["id"] == 2 && v["ok"] == true && v["ts"] == 3),
        "no reply to the last write: {rest:?}"
    );
    assert!(
        rest.iter().any(|v| v["id"] == "s"
            && v["event"]["ts"] == 3
            && v["event"]["new"]["owner"] == "bob"),
        "no event for the last write: {rest:?}"
    );
    assert_eq!(commits(&log_entries(d.path())).len(), 2);
}

/// A subscriber, then `signal` with stdin still open: the server exits 0
/// by itself, having written nothing more, with the write in the log.
fn subscriber_then_signal_exits(signal: &str) {
    let d = tempdir();
    let mut srv = subscribed_server(d.path());
    kill(srv.child.id(), signal);
    let rest = exits_cleanly(&mut srv, signal);
    assert!(rest.is_empty(), "{signal}: unexpected output: {rest:?}");
    assert_eq!(commits(&log_entries(d.path())).len(), 1, "{signal}");
}

#[test]
fn subscriber_then_sigterm_exits() {
    subscriber_then_signal_exits("TERM");
}

#[test]
fn subscriber_then_sigint_exits() {
    subscriber_then_signal_exits("INT");
}

/// `interstice run --data-dir DIR bank.wasm` with piped stdin and stdout
/// whose ready line has been read; stdout is then left unread.
fn start_unread(dir: &Path) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(bin())
        .arg("run")
        .arg("--data-dir")
        .arg(dir)
        .arg(wasm_path("bank"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning interstice run");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut ready = String::new();
    stdout
        .read_line(&mut ready)
        .expect("reading the ready line");
    assert!(ready.contains("\"ready\":true"), "{ready}");
    (child, stdout)
}

/// Subscribes and sends enough requests that their replies fill the stdout
/// pipe, which the test then does not read: the server's writer blocks.
fn fill_stdout(child: &mut Child) {
    let mut input = String::from(
        "{\"id\":\"s\",\"op\":\"subscribe\",\"module\":\"bank\",\"table\":\"accounts\"}\n",
    );
    for id in 0..3000 {
        input.push_str(&format!("{{\"id\":{id},\"op\":\"metrics\"}}\n"));
    }
    let stdin = child.stdin.as_mut().expect("piped stdin");
    stdin.write_all(input.as_bytes()).expect("writing requests");
    stdin.flush().expect("flushing requests");
    // 3000 replies of ~150 bytes are far more than a pipe holds; give the
    // server time to read them all and block on stdout.
    std::thread::sleep(Duration::from_secs(2));
}

/// Waits up to `within` for `child` to exit; `None` if it did not (then it
/// is killed).
fn exit_status(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the server") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_client_that_stopped_reading_does_not_keep_the_server_alive() {
    let d = tempdir();
    let (mut child, _stdout) = start_unread(d.path());
    fill_stdout(&mut child);
    kill(child.id(), "TERM");
    // Shutdown waits 5 s for stdout, then exits 0 anyway.
    let status = exit_status(&mut child, Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the server did not exit cleanly: {status:?}"
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    let d = tempdir();
    let (mut child, _stdout) = start_unread(d.path());
    fill_stdout(&mut child);
    kill(child.id(), "TERM");
    // Let the first signal start the shutdown (which then waits for stdout).
    std::thread::sleep(Duration::from_millis(1000));
    let second = Instant::now();
    kill(child.id(), "INT");
    let status = exit_status(&mut child, Duration::from_secs(30));
    let took = second.elapsed();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(130),
        "a second signal (SIGINT) exits with 130"
    );
    assert!(
        took < Duration::from_secs(4),
        "exit took {took:?} after the second signal"
    );
}

#[test]
fn a_closed_stdout_shuts_the_server_down() {
    let d = tempdir();
    // stdout is a pipe nobody will ever read: the first write (the ready
    // line) fails with EPIPE.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = Command::new(bin())
        .arg("run")
        .arg("--data-dir")
        .arg(d.path())
        .arg(wasm_path("bank"))
        .stdin(Stdio::piped()) // kept open
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning interstice run");
    let status = exit_status(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "run with a closed stdout: {status:?}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---------------------------------------------------------------------------
// Item 12: bad bytes and long lines get BadRequest; serving goes on.
// ---------------------------------------------------------------------------

#[test]
fn a_non_utf8_line_gets_bad_request_and_serving_goes_on() {
    let d = tempdir();
    let mut srv = Server::start(d.path(), &[], &["bank"]);
    let mut input = srv.take_input();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(open_account(1, "alice", 10).to_string().as_bytes());
    bytes.extend_from_slice(b"\n{\"id\":\"x\xff\"}\n");
    bytes.extend_from_slice(open_account(2, "bob", 20).to_string().as_bytes());
    bytes.push(b'\n');
    input.write_all(&bytes).expect("writing requests");
    input.flush().expect("flushing");

    let got = recv_all(&srv, &[json!(1), json!(2), Json::Null], &[]);
    assert_eq!(got.len(), 3, "{got:?}");
    // The two writes ran concurrently: either may have opened account 1.
    let mut opened = Vec::new();
    for id in [1, 2] {
        let r = got.iter().find(|v| v["id"] == id).expect("a reply");
        assert_eq!(r["ok"], true, "{r}");
        opened.extend(r["result"].as_u64());
    }
    opened.sort_unstable();
    assert_eq!(opened, [1, 2], "{got:?}");
    let bad = got.iter().find(|v| v["id"].is_null()).expect("a reply");
    assert_eq!(bad["ok"], false, "{bad}");
    assert_eq!(bad["error"]["kind"], "BadRequest", "{bad}");
    let msg = bad["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("line 2") && msg.contains("0xff at byte offset 8"),
        "{msg}"
    );

    drop(input);
    exits_cleanly(&mut srv, "end of input");
    let logged = commits(&log_entries(d.path())).len();
    assert_eq!(logged, 2, "both writes are in the log");
}

#[test]
fn an_overlong_line_is_refused_before_its_end_and_skipped() {
    let d = tempdir();
    let mut srv = Server::start(d.path(), &[], &["bank"]);
    let mut input = srv.take_input();
    // One byte over the limit, and no newline yet: the reply must not wait
    // for the end of the line (the server must not be buffering it).
    let limit = 16 << 20;
    let long = vec![b'a'; limit + 1];
    input.write_all(&long).expect("writing the long line");
    input.flush().expect("flushing");
    let r = srv
        .recv(Duration::from_secs(60))
        .expect("a reply to the too-long line before its end");
    assert_eq!(r["id"], Json::Null, "{r}");
    assert_eq!(r["error"]["kind"], "BadRequest", "{r}");
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("line 1") && msg.contains("longer than 16777216 bytes"),
        "{msg}"
    );
    // The rest of that line is skipped; the next line is served.
    input
        .write_all(b"{\"id\":\"rest of the long line\"}\n")
        .expect("writing");
    input
        .write_all(format!("{}\n", open_account(2, "bob", 20)).as_bytes())
        .expect("writing");
    input.flush().expect("flushing");
    let r = srv.recv(Duration::from_secs(60)).expect("a reply");
    assert_eq!(r["id"], 2, "the long line's tail got a reply: {r}");
    assert_eq!(r["ok"], true, "{r}");
    drop(input);
    let rest = exits_cleanly(&mut srv, "end of input");
    assert!(rest.is_empty(), "{rest:?}");
}

// ---------------------------------------------------------------------------
// Item 14: docs/PROTOCOL.md's worked example is what the server does.
// ---------------------------------------------------------------------------

/// One step of the worked example: a request line (`None` for the ready
/// line) and the lines it makes the server write.
struct Step {
    request: Option<String>,
    expect: Vec<Json>,
}

/// The `→` / `←` lines of the fenced block after the marker in
/// docs/PROTOCOL.md §12.
fn worked_example() -> Vec<Step> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("reading docs/PROTOCOL.md");
    let marker = "<!-- pinned by tests/all/run_protocol.rs::worked_example_session -->";
    let after = doc.split_once(marker).expect("the marker in §12").1;
    let block = after
        .split_once("```text\n")
        .and_then(|(_, b)| b.split_once("\n```"))
        .expect("a ```text block after the marker")
        .0;
    let mut steps = vec![Step {
        request: None,
        expect: Vec::new(),
    }];
    for line in block.lines() {
        if let Some(req) = line.strip_prefix("→ ") {
            steps.push(Step {
                request: Some(req.to_owned()),
                expect: Vec::new(),
            });
        } else if let Some(out) = line.strip_prefix("← ") {
            let v: Json = serde_json::from_str(out)
                .unwrap_or_else(|e| panic!("§12 line is not JSON ({e}): {out}"));
            steps.last_mut().expect("a step").expect.push(v);
        }
    }
    assert!(steps.len() > 5, "the example has requests");
    steps
}

#[test]
fn worked_example_session() {
    let steps = worked_example();
    let d = tempdir();
    let mut srv = Server::start(d.path(), &[], &["bank"]);
    let mut input = srv.take_input();
    for (i, step) in steps.iter().enumerate() {
        let mut expect: Vec<&Json> = step.expect.iter().collect();
        match &step.request {
            None => {
                // Server::start consumed the ready line.
                assert_eq!(expect.len(), 1, "§12 starts with the ready line");
                assert!(
                    json_matches(expect[0], &srv.ready),
                    "ready line: {}",
                    srv.ready
                );
                continue;
            }
            Some(req) => {
                input
                    .write_all(format!("{req}\n").as_bytes())
                    .expect("writing a request");
                input.flush().expect("flushing");
            }
        }
        // The lines of one step may come in any order (a write's reply and
        // its event).
        while !expect.is_empty() {
            let got = srv.recv(Duration::from_secs(60)).unwrap_or_else(|| {
                panic!(
                    "step {i} ({:?}): still waiting for {expect:?}",
                    step.request
                )
            });
            let at = expect
                .iter()
                .position(|w| json_matches(w, &got))
                .unwrap_or_else(|| {
                    panic!(
                        "step {i} ({:?}): unexpected line {got}; expected one of {expect:?}",
                        step.request
                    )
                });
            expect.remove(at);
        }
    }
    drop(input);
    let rest = exits_cleanly(&mut srv, "end of the worked example");
    assert!(rest.is_empty(), "lines after the last step: {rest:?}");
}
