//! Tests: dev. `interstice dev CRATE_DIR -d DIR` on a module crate written
//! into a temporary directory (its SDK dependency an absolute path): the
//! crate is built and served over HTTP on 127.0.0.1 while two clients call
//! a write reducer without pause; a compatible edit is rebuilt and upgraded
//! under that load (every call succeeds and is committed exactly once, the
//! new code serves), an incompatible edit is refused with the upgrade plan
//! and the old module keeps serving, and so does it after a syntax error.
//! Hostile crate arguments get specific errors and exit codes and create
//! no data directory; end of input or SIGTERM (`--no-stdin`) stops it.
//!
//! Guest builds are slow: the main test rebuilds three times, and every
//! crate here builds into one shared cargo target directory.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::support::{bin, cli_call, expect_ok, interstice, kill, tempdir};

/// The cargo target directory every guest build of these tests shares.
fn guest_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("dev-guests")
}

/// The module's source: `motto` returns `motto`; `who` is the type of the
/// `visits` table's second column (`String`, or `u64` for the incompatible
/// edit); `extra` is appended as it is (a syntax error).
fn module_source(version: &str, motto: &str, who: &str, extra: &str) -> String {
    let who_value = if who == "String" {
        "who"
    } else {
        "who.len() as u64"
    };
    format!(
        r#"//! The module `interstice dev` reloads in tests/all/dev.rs.
use interstice_sdk::prelude::*;

interstice_module! {{
    name: "devmod",
    version: "{version}",
    tables: [Visit],
    reducers: [visit, visits, motto],
}}

#[table(name = "visits")]
#[derive(Clone, Debug)]
pub struct Visit {{
    #[primary_key]
    pub id: u64,
    pub who: {who},
}}

/// Records visit `id`; a second visit with the same id is refused.
#[reducer]
fn visit(ctx: &mut WriteContext, id: u64, who: String) -> Result<u64, String> {{
    if ctx.tables.visits().get(&id).is_some() {{
        return Err(format!("visit {{id}} was already recorded"));
    }}
    ctx.tables.visits().insert(Visit {{ id, who: {who_value} }});
    Ok(id)
}}

#[reducer(mode = "read")]
fn visits(ctx: &ReadContext) -> u64 {{
    ctx.tables.visits().count()
}}

#[reducer(mode = "read")]
fn motto(_ctx: &ReadContext) -> String {{
    "{motto}".to_string()
}}
{extra}
"#
    )
}

/// Writes a standalone crate `name` into `parent` (its own workspace, the
/// modules' lock file so nothing is resolved anew) and returns its
/// directory.
fn write_crate(parent: &Path, name: &str, lib: &str, cdylib: bool, sdk: bool) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(dir.join("src")).expect("crate dir");
    let sdk_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    let sdk_dir = sdk_dir.canonicalize().expect("the sdk directory");
    let mut manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n"
    );
    if cdylib {
        manifest.push_str("[lib]\ncrate-type = [\"cdylib\"]\n\n");
    }
    manifest.push_str("[dependencies]\n");
    if sdk {
        manifest.push_str(&format!(
            "interstice-sdk = {{ path = {:?} }}\n",
            sdk_dir.display().to_string()
        ));
    }
    manifest.push_str("\n[workspace]\n\n[profile.release]\nopt-level = \"s\"\npanic = \"abort\"\n");
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("writing Cargo.toml");
    if sdk {
        let lock = interstice_cli::guest_build::modules_dir().join("Cargo.lock");
        std::fs::copy(&lock, dir.join("Cargo.lock")).expect("copying the modules' Cargo.lock");
    }
    std::fs::write(dir.join("src/lib.rs"), lib).expect("writing lib.rs");
    dir
}

/// The module crate at its first version, as package `name` (each test
/// its own: tests building at once in the shared target directory must not
/// write each other's `.wasm`).
fn module_crate(parent: &Path, name: &str) -> PathBuf {
    write_crate(
        parent,
        name,
        &module_source("0.1.0", "v1", "String", ""),
        true,
        true,
    )
}

/// Waits up to `secs` for `child` to exit; kills it and panics after.
fn wait_exit(child: &mut Child, secs: u64, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().expect("waiting for dev") {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dev did not stop {what} within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replaces `lib.rs` the way editors save: a new file renamed over it.
fn save(dir: &Path, lib: &str) {
    let tmp = dir.join("src/lib.rs.tmp-save");
    std::fs::write(&tmp, lib).expect("writing the new source");
    std::fs::rename(&tmp, dir.join("src/lib.rs")).expect("renaming it over lib.rs");
}

/// `interstice dev CRATE_DIR -d DATA`, building into the shared target.
fn dev_command(crate_dir: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("dev")
        .arg(crate_dir)
        .arg("-d")
        .arg(data)
        .env("CARGO_TARGET_DIR", guest_target());
    cmd
}

/// A running `interstice dev`, its stdout lines and its stderr so far.
struct Dev {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Dev {
    fn start(crate_dir: &Path, data: &Path) -> Dev {
        let mut child = dev_command(crate_dir, data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning interstice dev");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match std::io::Read::read(&mut err, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .expect("stderr lock")
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        Dev {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// The next stdout line starting with `prefix` (earlier lines are
    /// skipped), within `secs`.
    fn line_starting(&self, prefix: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no stdout line starting with {prefix:?} within {secs} s\nstderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    /// Waits until stderr, after its first `from` bytes, contains every
    /// one of `wanted`; returns that part of it.
    fn stderr_after(&self, from: usize, wanted: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.stderr();
            let tail = text.get(from..).unwrap_or_default().to_owned();
            if wanted.iter().all(|w| tail.contains(w)) {
                return tail;
            }
            assert!(
                Instant::now() < deadline,
                "stderr did not say all of {wanted:?} within {secs} s; it said:\n{tail}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small HTTP client of the served module.
#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Client {
    /// `POST …/reducers/{reducer}/{how}` with `args`: status and body, or
    /// what went wrong on the connection.
    fn try_post(&self, reducer: &str, how: &str, args: Json) -> Result<(u16, Json), String> {
        let url = format!("{}/v1/modules/devmod/reducers/{reducer}/{how}", self.base);
        let mut res = self
            .agent
            .post(&url)
            .header("Authorization", &self.auth)
            .send(json!({ "args": args }).to_string().as_bytes())
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("POST {url}: reading the body: {e}"))?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Json::String(text)),
        ))
    }

    fn post(&self, reducer: &str, how: &str, args: Json) -> (u16, Json) {
        self.try_post(reducer, how, args)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn read(&self, reducer: &str) -> Json {
        let (status, body) = self.post(reducer, "read", json!([]));
        assert_eq!(status, 200, "{reducer}: {body}");
        body["result"].clone()
    }

    fn version(&self) -> Json {
        let url = format!("{}/v1/modules/devmod", self.base);
        let mut res = self
            .agent
            .get(&url)
            .header("Authorization", &self.auth)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let text = res.body_mut().read_to_string().expect("reading the body");
        let body: Json = serde_json::from_str(&text).expect("JSON");
        body["result"]["version"].clone()
    }
}

/// One call made under load: the id it visited, and the commit's ts or the
/// failure.
type Outcome = (u64, Result<u64, String>);

#[test]
fn hot_reload_under_load_refusal_and_build_error() {
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let src = module_crate(tmp.path(), "devmod");
    let mut dev = Dev::start(&src, &data);
    // The first build compiles the SDK: give it time on a busy machine.
    let loaded = dev.line_starting("loaded devmod 0.1.0", 1800);
    assert!(loaded.contains(" at ts "), "{loaded}");
    let watching = dev.line_starting("watching ", 30);
    assert!(watching.contains("of 1 crate"), "{watching}");
    let serving = dev.line_starting("serving http://", 60);
    let addr = serving
        .trim_start_matches("serving http://")
        .split_whitespace()
        .next()
        .expect("an address")
        .to_owned();
    // The address file names the same server, so the CLI reaches it.
    let server: Json =
        serde_json::from_str(&std::fs::read_to_string(data.join("SERVER")).expect("DIR/SERVER"))
            .expect("DIR/SERVER is JSON");
    assert_eq!(server["address"], format!("http://{addr}"));
    let token = std::fs::read_to_string(data.join("TOKEN")).expect("DIR/TOKEN");
    let client = Client {
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into(),
        base: format!("http://{addr}"),
        auth: format!("Bearer {}", token.trim()),
    };
    assert_eq!(client.read("motto"), "v1");

    // Two clients call `visit` with ids of their own, without pause, from
    // here to the end of the test.
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let callers: Vec<_> = (0..2u64)
        .map(|t| {
            let (client, stop, outcomes) = (client.clone(), stop.clone(), outcomes.clone());
            std::thread::spawn(move || {
                let mut id = t;
                while !stop.load(Ordering::Relaxed) {
                    let outcome =
                        match client.try_post("visit", "call", json!([id, format!("c{t}")])) {
                            Ok((200, body)) if body["result"] == id => {
                                body["ts"].as_u64().ok_or_else(|| format!("no ts: {body}"))
                            }
                            Ok((status, body)) => Err(format!("{status} {body}")),
                            Err(e) => Err(e),
                        };
                    outcomes.lock().expect("outcomes").push((id, outcome));
                    id += 2;
                }
            })
        })
        .collect();
    let acked = |pred: &dyn Fn(u64) -> bool| {
        outcomes
            .lock()
            .expect("outcomes")
            .iter()
            .filter(|(_, r)| r.as_ref().is_ok_and(|ts| pred(*ts)))
            .count()
    };
    let wait_for = |what: &str, pred: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !pred() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for("20 calls before the edit", &|| acked(&|_| true) >= 20);

    // 1. A compatible edit: a new motto and version. Rebuilt and upgraded
    //    while the calls go on.
    save(&src, &module_source("0.2.0", "v2", "String", ""));
    let changed = dev.line_starting("", 60);
    assert!(
        changed.contains("lib.rs changed: rebuilding devmod"),
        "{changed}"
    );
    let reloaded = dev.line_starting("reloaded devmod", 600);
    assert!(
        reloaded.starts_with("reloaded devmod 0.1.0 -> 0.2.0 (schema "),
        "{reloaded}"
    );
    let install_ts: u64 = reloaded
        .rsplit(" at ts ")
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no install ts in {reloaded}"));
    wait_for("20 calls after the reload", &|| {
        acked(&|ts| ts > install_ts) >= 20
    });
    assert_eq!(client.read("motto"), "v2", "the new code serves");
    assert_eq!(client.version(), "0.2.0");
    assert!(
        acked(&|ts| ts < install_ts) >= 20,
        "the calls before the reload committed before its install"
    );
    // The CLI reaches the module through the server dev serves.
    let motto = expect_ok(&cli_call(&data, "devmod", "motto", &[]), "call through dev");
    assert_eq!(motto, "\"v2\"");

    // 2. An incompatible edit: the table's second column changes type while
    //    it holds rows. Refused with the plan; 0.2.0 keeps serving.
    let from = dev.stderr().len();
    save(&src, &module_source("0.3.0", "v3", "u64", ""));
    let refusal = dev.stderr_after(from, &["upgrade of devmod refused", "verdict:"], 600);
    for want in [
        "the running devmod 0.2.0 keeps serving",
        "the upgrade plan (as `interstice load --dry-run` prints it)",
        "devmod 0.2.0 -> devmod 0.3.0",
        "needs migration",
        "table visits",
        "rule: rows are stored positionally",
        "load would refuse it: table `visits`",
    ] {
        assert!(refusal.contains(want), "refusal lacks {want:?}:\n{refusal}");
    }
    let calls_then = acked(&|_| true);
    wait_for("10 calls after the refusal", &|| {
        acked(&|_| true) >= calls_then + 10
    });
    assert_eq!(client.read("motto"), "v2", "the old module still serves");
    assert_eq!(client.version(), "0.2.0");

    // 3. A syntax error: the compiler's message, and 0.2.0 keeps serving.
    let from = dev.stderr().len();
    save(
        &src,
        &module_source("0.4.0", "v4", "String", "fn broken( {"),
    );
    let failed = dev.stderr_after(from, &["error: rebuilding", "keeps serving"], 600);
    assert!(
        failed.contains("the running devmod 0.2.0 keeps serving"),
        "{failed}"
    );
    assert!(
        failed.contains("src/lib.rs"),
        "no compiler message: {failed}"
    );
    let calls_then = acked(&|_| true);
    wait_for("10 calls after the build error", &|| {
        acked(&|_| true) >= calls_then + 10
    });
    assert_eq!(client.read("motto"), "v2", "the old module still serves");

    // Every call made during all that succeeded, and each is in the log
    // exactly once.
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().expect("a caller thread");
    }
    let outcomes = outcomes.lock().expect("outcomes").clone();
    let failed: Vec<_> = outcomes.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "calls failed during the reloads: {failed:?}"
    );
    let ids: BTreeSet<u64> = outcomes.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), outcomes.len());
    assert_eq!(client.read("visits"), json!(outcomes.len()));
    let dump = expect_ok(
        &interstice(["log-dump".as_ref(), "-d".as_ref(), data.as_os_str()]),
        "log-dump",
    );
    let mut logged = Vec::new();
    let mut installs = Vec::new();
    for line in dump.lines() {
        let e: Json = serde_json::from_str(line).expect("a JSON log entry");
        match (e["kind"].as_str(), e["module"].as_str()) {
            (Some("install"), Some("devmod")) => installs.push(e["version"].clone()),
            (Some("commit"), Some("devmod")) if e["reducer"] == "visit" => {
                let id = e["outcome"]["ok"].as_u64();
                assert!(id.is_some(), "a visit failed in the log: {e}");
                logged.push(id.unwrap_or_default());
            }
            _ => {}
        }
    }
    // The log holds what was acknowledged: no call twice, none lost.
    logged.sort_unstable();
    let mut acked_ids: Vec<u64> = ids.into_iter().collect();
    acked_ids.sort_unstable();
    assert_eq!(
        logged, acked_ids,
        "each acknowledged call committed exactly once"
    );
    assert_eq!(installs, vec![json!("0.1.0"), json!("0.2.0")]);

    // End of input stops it: exit 0, the address file removed.
    dev.stdin.take();
    let status = wait_exit(&mut dev.child, 60, "at end of input");
    assert!(status.success(), "{status}\n{}", dev.stderr());
    assert!(!data.join("SERVER").exists(), "DIR/SERVER left behind");
}

/// Runs `interstice dev CRATE_DIR -d DATA` to its end: exit code and stderr.
fn dev_fails(crate_dir: &Path, data: &Path) -> (Option<i32>, String) {
    let out = dev_command(crate_dir, data)
        .stdin(Stdio::null())
        .output()
        .expect("running interstice dev");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn crates_that_are_not_modules_are_refused() {
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let no_crate = tmp.path().join("nowhere");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).expect("empty dir");
    let file = tmp.path().join("file.rs");
    std::fs::write(&file, "").expect("a file");
    let rlib = write_crate(tmp.path(), "dev_rlib", "pub fn f() {}\n", false, false);
    let cdylib = write_crate(
        tmp.path(),
        "dev_plain_cdylib",
        "#[no_mangle]\npub extern \"C\" fn f() -> u32 { 7 }\n",
        true,
        false,
    );
    for (dir, want) in [
        (&no_crate, "no such module crate"),
        (&file, "is not a directory"),
        (&empty, "is not a module crate: no Cargo.toml there"),
        (
            &rlib,
            "is not a module crate: cargo built it but it produced no .wasm",
        ),
        (&cdylib, "is not a module crate"),
    ] {
        let (code, stderr) = dev_fails(dir, &data);
        assert_eq!(code, Some(2), "{}: {stderr}", dir.display());
        assert!(
            stderr.contains(want),
            "{}: wanted {want:?} in {stderr}",
            dir.display()
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !data.exists(),
            "{}: the data directory was created",
            dir.display()
        );
    }
    let (_, stderr) = dev_fails(&cdylib, &data);
    assert!(stderr.contains("is not a valid module"), "{stderr}");
}

/// With `--no-stdin` an input that ends at once does not stop it (so it can
/// run in the background); SIGTERM does: exit 0, the address file removed.
#[test]
fn no_stdin_serves_until_sigterm() {
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let src = module_crate(tmp.path(), "devsig");
    let mut child = dev_command(&src, &data)
        .arg("--no-stdin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning interstice dev");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let serving = loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("serving http://") => break line,
            Some(Ok(_)) => {}
            other => {
                let _ = child.kill();
                panic!("dev ended before serving: {other:?}");
            }
        }
    };
    assert!(serving.contains(&data.display().to_string()), "{serving}");
    // Stdin ended at once; it still serves a moment later.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "dev stopped at end of input"
    );
    assert!(data.join("SERVER").is_file());
    kill(child.id(), "TERM");
    let status = wait_exit(&mut child, 60, "at SIGTERM");
    assert!(status.success(), "{status}");
    assert!(!data.join("SERVER").exists(), "DIR/SERVER left behind");
}
