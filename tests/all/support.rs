//! Shared helpers: guest modules built once, temporary data directories,
//! runtimes, and the `interstice` binary.

#![allow(dead_code)]

pub(crate) mod chromium;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use interstice_actors::{Limits, Runtime, RuntimeBuilder, RuntimeError, Value};
use serde_json::Value as Json;

/// Builds every guest module (once per test run) and returns the directory
/// holding the `.wasm` files.
pub(crate) fn wasm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let modules = interstice_cli::guest_build::modules_dir();
        // Building the workspace builds every module in one cargo run.
        let any = interstice_cli::guest_build::build_module(&modules.join("hello"))
            .expect("building guest modules");
        for m in [
            "caller",
            "bank",
            "testing/t_hostile",
            "testing/t_cycle_a",
            "testing/t_cycle_b",
            "testing/t_nondet",
            "testing/t_busy",
            "testing/t_upgrade_v1",
            "testing/t_upgrade_v2",
            "testing/t_upgrade_bad_type",
            "testing/t_upgrade_drop",
            "testing/t_inventory",
            "testing/t_market",
            "testing/t_storm",
            "testing/t_values",
            "testing/t_indexes",
            "testing/t_determinism",
            "testing/t_migrate_v1",
            "testing/t_migrate_v2",
            "testing/t_named_v1",
            "testing/t_named_v2",
            "testing/t_named_bad",
            "testing/t_subs",
            "testing/t_bind_inventory",
            "testing/t_bind_inventory_v2",
            "testing/t_bind_inventory_bad",
            "testing/t_bind_market",
            "testing/t_bind_stale",
            "testing/t_columnar_rows",
            "testing/t_columnar_cols",
            "examples/inventory_v1",
            "examples/inventory_v2",
            "examples/warehouse",
            "examples/shop",
            "examples/economy/eco_world",
            "examples/economy/eco_inventory",
            "examples/economy/eco_market",
            "examples/economy/eco_leaderboard",
            "examples/economy/eco_leaderboard_v2",
            "testing/t_reply_caller",
            "testing/t_reply_callee",
            "testing/t_relay",
        ] {
            interstice_cli::guest_build::build_module(&modules.join(m))
                .unwrap_or_else(|e| panic!("building {m}: {e}"));
        }
        any.parent().expect("wasm has a directory").to_path_buf()
    })
}

/// The bytes of a built guest module, e.g. `wasm("bank")`.
pub(crate) fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Path of a built guest module.
pub(crate) fn wasm_path(name: &str) -> PathBuf {
    wasm_dir().join(format!("{name}.wasm"))
}

/// A fresh temporary directory (removed on drop).
pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Opens the runtime `b` builds, retrying for a while if the data
/// directory is locked: right after a shutdown in this process, a child
/// that another test thread is spawning can still hold a copy of the lock's
/// file descriptor (between its fork and its exec).
pub(crate) async fn open_retrying(b: RuntimeBuilder) -> Result<Runtime, RuntimeError> {
    let mut tries = 0;
    loop {
        match b.clone().open().await {
            Err(RuntimeError::Persist(interstice_persist::PersistError::Locked { .. }))
                if tries < 250 =>
            {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Opens a runtime with default settings on `dir`.
pub(crate) async fn open(dir: &Path) -> Runtime {
    open_retrying(Runtime::builder().data_dir(dir))
        .await
        .expect("opening runtime")
}

/// Opens a runtime with custom limits on `dir`.
pub(crate) async fn open_with_limits(dir: &Path, limits: Limits) -> Runtime {
    open_retrying(Runtime::builder().data_dir(dir).limits(limits))
        .await
        .expect("opening runtime")
}

/// Opens a runtime with custom limits on `dir`, acknowledging writes
/// without fsync (`Durability::None`): for tests of ordering and limits,
/// which fsync does not change, that make many calls.
pub(crate) async fn open_unsynced(dir: &Path, limits: Limits) -> Runtime {
    Runtime::builder()
        .data_dir(dir)
        .durability(interstice_actors::Durability::None)
        .limits(limits)
        .open()
        .await
        .expect("opening runtime")
}

/// Opens a runtime on `dir` and loads the named modules.
pub(crate) async fn open_with(dir: &Path, modules: &[&str]) -> Runtime {
    let rt = open(dir).await;
    for m in modules {
        rt.load_module(wasm(m)).await.expect("loading module");
    }
    rt
}

/// `replay-check` of the (closed) data directory `dir` with the default
/// options, on a blocking thread; panics if it cannot run or finds a
/// divergence, and returns the report.
pub(crate) async fn replay_check_clean(dir: &Path) -> interstice_actors::ReplayCheckReport {
    let dir = dir.to_path_buf();
    let report = tokio::task::spawn_blocking(move || {
        interstice_actors::replay_check(&dir, &interstice_actors::ReplayCheckOptions::default())
    })
    .await
    .expect("the replay-check thread")
    .expect("replay-check runs");
    assert!(report.ok(), "{:?}", report.divergence);
    report
}

/// Shorthand for a string value.
pub(crate) fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// Shorthand for a u64 value.
pub(crate) fn u(v: u64) -> Value {
    Value::U64(v)
}

/// The `interstice` binary under test.
pub(crate) fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_interstice"))
}

/// Polls `f` until it returns true or `secs` pass; panics with `what`.
pub(crate) async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A no-op write reducer `noop`, for raw modules that only need one.
pub(crate) const NOOP: RawReducer<'static> = RawReducer {
    name: "noop",
    mode: interstice_actors::ReducerMode::Write,
    body: "",
};

/// One reducer of a hand-written wat module (see [`raw_module`]): no
/// parameters, returns `()`.
pub(crate) struct RawReducer<'a> {
    /// Reducer name.
    pub name: &'a str,
    /// Read or write.
    pub mode: interstice_actors::ReducerMode,
    /// wat instructions run when the reducer is called; they must leave the
    /// stack empty. `$reducer` holds the reducer's index.
    pub body: &'a str,
}

/// Guest memory layout of [`raw_module`].
pub(crate) mod raw {
    /// Where `[0, null]` (an `Ok(())` result) sits.
    pub(crate) const RESULT_OK: u32 = 64;
    /// Where extra data (`raw_module`'s `data` argument) goes.
    pub(crate) const DATA: u32 = 256;
    /// The argument buffer `__interstice_alloc` hands out.
    pub(crate) const ARGS: u32 = 2048;
    /// Where the schema CBOR sits.
    pub(crate) const SCHEMA: u32 = 8192;
}

/// A wat string literal of `bytes`.
pub(crate) fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A schema for a module `name` with the given tableless reducers.
pub(crate) fn raw_schema(name: &str, reducers: &[RawReducer<'_>]) -> interstice_abi::ModuleSchema {
    interstice_abi::ModuleSchema {
        abi_version: interstice_abi::ABI_VERSION,
        name: name.to_owned(),
        version: "0.1.0".to_owned(),
        dependencies: Vec::new(),
        tables: Vec::new(),
        reducers: reducers
            .iter()
            .map(|r| interstice_abi::ReducerSchema {
                writes: None,
                recursive: false,
                name: r.name.to_owned(),
                mode: r.mode,
                params: Vec::new(),
                returns: interstice_abi::Type::Unit,
                error: None,
                trigger: None,
            })
            .collect(),
        types: vec![],
        bindings: vec![],
    }
}

/// The wat text of a hand-written Interstice module: every export the host
/// requires, the schema of [`raw_schema`], `imports` (wat import
/// declarations), `data` placed at [`raw::DATA`], and a
/// `__interstice_call` that runs the called reducer's `body` and returns
/// `Ok(())`. `abi_version` is what `__interstice_abi_version` returns.
pub(crate) fn raw_module_wat(
    name: &str,
    abi_version: i32,
    imports: &str,
    data: &[u8],
    reducers: &[RawReducer<'_>],
) -> String {
    let bodies: Vec<&str> = reducers.iter().map(|r| r.body).collect();
    raw_module_wat_for(
        &raw_schema(name, reducers),
        abi_version,
        imports,
        data,
        &bodies,
    )
}

/// [`raw_module_wat`] with any schema (tables, parameters, …): `bodies[i]`
/// is the wat of reducer `i`. `__interstice_call` is `$call`, so a body can
/// call it again.
pub(crate) fn raw_module_wat_for(
    schema: &interstice_abi::ModuleSchema,
    abi_version: i32,
    imports: &str,
    data: &[u8],
    bodies: &[&str],
) -> String {
    let schema = schema.canonical_bytes();
    let packed_schema = ((raw::SCHEMA as u64) << 32) | schema.len() as u64;
    let packed_ok = ((raw::RESULT_OK as u64) << 32) | 3;
    let mut dispatch = String::new();
    for (i, body) in bodies.iter().enumerate() {
        dispatch.push_str(&format!(
            "    (if (i32.eq (local.get $reducer) (i32.const {i})) (then {body}))\n"
        ));
    }
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (data (i32.const {result_ok}) "\82\00\f6")
  (data (i32.const {data_at}) "{data}")
  (data (i32.const {schema_at}) "{schema}")
  (func (export "__interstice_abi_version") (result i32) (i32.const {abi_version}))
  (func (export "__interstice_schema") (result i64) (i64.const {packed_schema}))
  (func (export "__interstice_alloc") (param i32) (result i32) (i32.const {args_at}))
  (func $call (export "__interstice_call") (param $reducer i32) (param $ptr i32) (param $len i32) (result i64)
{dispatch}    (i64.const {packed_ok}))
)"#,
        result_ok = raw::RESULT_OK,
        data_at = raw::DATA,
        data = wat_bytes(data),
        schema_at = raw::SCHEMA,
        schema = wat_bytes(&schema),
        args_at = raw::ARGS,
    )
}

/// [`raw_module_wat`], assembled to wasm bytes.
pub(crate) fn raw_module(
    name: &str,
    imports: &str,
    data: &[u8],
    reducers: &[RawReducer<'_>],
) -> Vec<u8> {
    wat::parse_str(raw_module_wat(
        name,
        interstice_abi::ABI_VERSION as i32,
        imports,
        data,
        reducers,
    ))
    .expect("valid wat")
}

/// The CBOR of a call target `[module, reducer, [string arg]]`, as
/// `call_async` and `call_read` take it.
pub(crate) fn call_target(module: &str, reducer: &str, arg: &str) -> Vec<u8> {
    let mut w = interstice_abi::cbor::Writer::new();
    w.array(3);
    w.str(module);
    w.str(reducer);
    w.array(1);
    w.str(arg);
    w.into_vec()
}

/// The commit records of a log, in order.
pub(crate) fn commits(
    entries: &[interstice_persist::LogEntry],
) -> Vec<&interstice_persist::CommitRecord> {
    entries
        .iter()
        .filter_map(|e| match e {
            interstice_persist::LogEntry::Commit(c) => Some(c),
            interstice_persist::LogEntry::Install(_)
            | interstice_persist::LogEntry::Engine(_)
            | interstice_persist::LogEntry::Unload(_) => None,
        })
        .collect()
}

/// The `u64` in a call's output, or a panic naming what it was.
pub(crate) fn as_u64(v: &Value) -> u64 {
    match v {
        Value::U64(n) => *n,
        other => panic!("expected a u64, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Process-level helpers: the `interstice` binary as a command and as a
// JSON-lines server, and the on-disk log (used by cli, durability, recovery).
// ---------------------------------------------------------------------------

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `interstice ARGS…` to completion and returns its output.
pub(crate) fn interstice<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running the interstice binary")
}

/// Runs `interstice call --data-dir DIR MODULE REDUCER ARGS…`.
pub(crate) fn cli_call(dir: &Path, module: &str, reducer: &str, args: &[&str]) -> Output {
    let mut v: Vec<&OsStr> = vec![
        "call".as_ref(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
        module.as_ref(),
        reducer.as_ref(),
    ];
    v.extend(args.iter().map(OsStr::new));
    interstice(v)
}

/// Stdout of a finished command, as text.
pub(crate) fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a finished command, as text.
pub(crate) fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Panics with the command's output unless it exited 0; returns its stdout
/// trimmed.
pub(crate) fn expect_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: expected success, got {}\nstdout: {}\nstderr: {}",
        out.status,
        stdout_of(out),
        stderr_of(out)
    );
    stdout_of(out).trim().to_owned()
}

/// Every verified entry of the log in `data_dir/log`, in order (stops
/// without error at a torn tail). Shared by several test modules.
pub(crate) fn log_entries(data_dir: &Path) -> Vec<interstice_persist::LogEntry> {
    let storage = interstice_persist::FileStorage::new(data_dir.join("log"));
    read_entries(&storage).expect("reading the log")
}

/// Every verified entry of the log in `storage`, in order (stops without
/// error at a torn tail).
pub(crate) fn read_entries(
    storage: &dyn interstice_persist::Storage,
) -> Result<Vec<interstice_persist::LogEntry>, interstice_persist::PersistError> {
    let mut entries = Vec::new();
    interstice_persist::read_log(
        storage,
        &interstice_persist::ReadOptions::default(),
        interstice_persist::for_each_entry(|e| {
            entries.push(e);
            Ok::<(), interstice_persist::PersistError>(())
        }),
    )?;
    Ok(entries)
}

/// Writes `entries` as a fresh log (one batch per install and its
/// migrations, one per other commit) in data directory `to`, with the
/// module binaries of `from`.
pub(crate) fn rewrite_log(from: &Path, to: &Path, entries: &[interstice_persist::LogEntry]) {
    std::fs::create_dir_all(to.join("modules")).unwrap();
    for f in std::fs::read_dir(from.join("modules")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), to.join("modules").join(f.file_name())).unwrap();
    }
    std::fs::create_dir_all(to.join("log")).unwrap();
    let storage = std::sync::Arc::new(interstice_persist::FileStorage::new(to.join("log")));
    let (mut w, _) =
        interstice_persist::LogWriter::open(storage, interstice_persist::WriterOptions::default())
            .unwrap();
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len()
            && matches!(&entries[j], interstice_persist::LogEntry::Commit(c) if matches!(c.cause, interstice_persist::Cause::Migration { .. }))
        {
            j += 1;
        }
        let mut payload = interstice_abi::cbor::Writer::new();
        for e in &entries[i..j] {
            interstice_persist::encode_entry(e, &mut payload);
        }
        w.append_batch(entries[i].ts(), (j - i) as u32, &payload.into_vec())
            .unwrap();
        i = j;
    }
    w.sync().unwrap();
}

/// The segment files of `data_dir/log`, sorted by name.
pub(crate) fn segment_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir.join("log"))
        .expect("listing the log directory")
        .map(|e| e.expect("log directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// Total bytes of the log's segment files.
pub(crate) fn log_size(data_dir: &Path) -> u64 {
    segment_files(data_dir)
        .iter()
        .map(|p| std::fs::metadata(p).expect("segment metadata").len())
        .sum()
}

/// Whether `got` is `want`, where a string `"<…>"` in `want` matches any
/// value (`"<state hash>"`: any 64 lowercase hex digits).
pub(crate) fn json_matches(want: &Json, got: &Json) -> bool {
    match (want, got) {
        (Json::String(w), Json::String(g)) if w == "<state hash>" => {
            g.len() == 64
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        (Json::String(w), _) if w.starts_with('<') && w.ends_with('>') => true,
        (Json::Object(w), Json::Object(g)) => {
            w.len() == g.len()
                && w.iter()
                    .all(|(k, wv)| g.get(k).is_some_and(|gv| json_matches(wv, gv)))
        }
        (Json::Array(w), Json::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| json_matches(a, b))
        }
        _ => want == got,
    }
}

/// Sends `signal` (`TERM`, `INT`) to `pid`.
pub(crate) fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A running `interstice run` server driven over its stdin/stdout.
pub(crate) struct Server {
    /// The child process.
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<serde_json::Value>,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// The `{"ready": true, …}` line.
    pub ready: serde_json::Value,
}

impl Server {
    /// Starts `interstice run --data-dir DIR EXTRA… MODULES…` and waits for
    /// its ready line.
    pub(crate) fn start(dir: &Path, extra: &[&str], modules: &[&str]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.arg("run").arg("--data-dir").arg(dir).args(extra);
        for m in modules {
            cmd.arg(wasm_path(m));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning interstice run");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
            s
        });
        let mut server = Server {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
            ready: serde_json::Value::Null,
        };
        match server.recv(Duration::from_secs(120)) {
            Some(v) if v["ready"] == true => server.ready = v,
            other => {
                let (_, err) = server.kill();
                panic!("interstice run did not become ready: got {other:?}\nstderr: {err}");
            }
        }
        server
    }

    /// Writes request lines (one write, no waiting for replies).
    pub(crate) fn send(&mut self, requests: &[serde_json::Value]) {
        let mut buf = String::new();
        for r in requests {
            buf.push_str(&r.to_string());
            buf.push('\n');
        }
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(buf.as_bytes()).expect("writing requests");
        stdin.flush().expect("flushing requests");
    }

    /// The next stdout line (parsed as JSON), or `None` on timeout or end.
    pub(crate) fn recv(&self, timeout: Duration) -> Option<serde_json::Value> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Sends one request and waits for its reply (by `id`).
    pub(crate) fn request(&mut self, req: serde_json::Value) -> serde_json::Value {
        let id = req["id"].clone();
        self.send(&[req]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Some(v) if v["id"] == id => return v,
                Some(_) => continue,
                None => panic!("no reply to request {id}"),
            }
        }
    }

    /// Takes the server's stdin, e.g. to feed it from another thread.
    pub(crate) fn take_input(&mut self) -> ChildStdin {
        self.stdin.take().expect("stdin is open")
    }

    /// Closes stdin (end of input).
    pub(crate) fn close_input(&mut self) {
        self.stdin.take();
    }

    /// SIGKILLs the server; returns every line it had written that was not
    /// read yet, and its stderr.
    pub(crate) fn kill(&mut self) -> (Vec<serde_json::Value>, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdin.take();
        let rest = self.drain();
        (rest, self.stderr_text())
    }

    /// Waits (up to `timeout`) for the server to exit by itself; returns its
    /// status, the unread lines and its stderr. Kills it and panics on timeout.
    pub(crate) fn wait(
        &mut self,
        timeout: Duration,
    ) -> (ExitStatus, Vec<serde_json::Value>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the server") {
                let rest = self.drain();
                return (status, rest, self.stderr_text());
            }
            if Instant::now() > deadline {
                let (_, err) = self.kill();
                panic!("interstice run did not exit within {timeout:?}\nstderr: {err}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn drain(&mut self) -> Vec<serde_json::Value> {
        // The reader thread ends at EOF, which follows the process's exit.
        let mut rest = Vec::new();
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(10)) {
            rest.push(v);
        }
        rest
    }

    fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The [`interstice_actors::ReducerError`] of a failed call, or a panic
/// saying what came back instead.
pub(crate) fn reducer_error(
    r: Result<interstice_actors::CallOutput, interstice_actors::RuntimeError>,
) -> interstice_actors::ReducerError {
    match r {
        Err(interstice_actors::RuntimeError::Reducer { error, .. }) => error,
        other => panic!("expected a reducer error, got {other:?}"),
    }
}

/// Opens a bank account and returns its id.
pub(crate) async fn open_account(rt: &Runtime, owner: &str, initial: u64) -> Value {
    rt.call("bank", "open_account", vec![s(owner), u(initial)])
        .await
        .expect("open_account")
        .value
}

/// Everything logged at `warn` or above since the first call, as text
/// (`tracing_subscriber`'s plain format). The first call installs the
/// capturing subscriber for the whole test binary, so a test that looks
/// for a warning calls this once before it acts; lines from tests running
/// beside it may be there too, so look for your own module's name.
pub(crate) fn warnings() -> String {
    let text = capture().text.lock().expect("capture lock");
    String::from_utf8_lossy(&text).into_owned()
}

/// One `warn`-or-above event as a `tracing_subscriber` layer saw it: its
/// message and fields, and the fields of the spans it was emitted in
/// (innermost last wins), all as text.
#[derive(Debug, Clone, Default)]
pub(crate) struct CapturedEvent {
    pub level: String,
    pub message: String,
    pub fields: std::collections::BTreeMap<String, String>,
    pub span_fields: std::collections::BTreeMap<String, String>,
}

/// The events captured since the first call of [`warnings`] or this (the
/// same subscriber; same caveats).
pub(crate) fn warn_events() -> Vec<CapturedEvent> {
    capture().events.lock().expect("capture lock").clone()
}

struct Captured {
    text: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    events: std::sync::Arc<std::sync::Mutex<Vec<CapturedEvent>>>,
}

fn capture() -> &'static Captured {
    use std::sync::Mutex;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    #[derive(Clone)]
    struct Capture(std::sync::Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("capture lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    /// Fields as text.
    #[derive(Default)]
    struct Fields(std::collections::BTreeMap<String, String>);
    impl tracing::field::Visit for Fields {
        fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
            self.0.insert(f.name().to_owned(), format!("{v:?}"));
        }
        fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
            self.0.insert(f.name().to_owned(), v.to_owned());
        }
    }
    /// Keeps each span's fields in its extensions and copies them, with
    /// the event's, into every captured event.
    struct SpanFields(std::sync::Arc<Mutex<Vec<CapturedEvent>>>);
    impl<S> Layer<S> for SpanFields
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            id: &tracing::span::Id,
            ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let mut f = Fields::default();
            attrs.record(&mut f);
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(f);
            }
        }
        fn on_record(
            &self,
            id: &tracing::span::Id,
            values: &tracing::span::Record<'_>,
            ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if let Some(span) = ctx.span(id) {
                if let Some(f) = span.extensions_mut().get_mut::<Fields>() {
                    values.record(f);
                }
            }
        }
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let mut f = Fields::default();
            event.record(&mut f);
            let mut captured = CapturedEvent {
                level: event.metadata().level().to_string(),
                message: f.0.remove("message").unwrap_or_default(),
                fields: f.0,
                span_fields: Default::default(),
            };
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope.from_root() {
                    if let Some(sf) = span.extensions().get::<Fields>() {
                        captured.span_fields.extend(sf.0.clone());
                    }
                }
            }
            self.0.lock().expect("capture lock").push(captured);
        }
    }
    CAPTURED.get_or_init(|| {
        let text = std::sync::Arc::new(Mutex::new(Vec::new()));
        let events = std::sync::Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(text.clone());
        let level = tracing_subscriber::filter::LevelFilter::WARN;
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone())
                    .with_filter(level),
            )
            .with(SpanFields(events.clone()).with_filter(level))
            .try_init()
            .expect("no other global subscriber in the test binary");
        Captured { text, events }
    })
}

/// The workspace's root directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// Runs an installer once per test binary (tests run in parallel).
pub(crate) fn install_once(what: &str, program: &str, args: &[&str]) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("installing {what}: cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "installing {what} with `{program} {}` failed (this test needs it):\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// tsc: `target/node-tools` (installed there with npm, pinned, the first
/// time), else `tsc` on `PATH`.
pub(crate) fn tsc() -> PathBuf {
    let local = workspace_root().join("target/node-tools/node_modules/.bin/tsc");
    if !local.is_file()
        && !Command::new("tsc")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        install_once(
            "TypeScript",
            "npm",
            &[
                "install",
                "--prefix",
                "target/node-tools",
                "--no-audit",
                "--no-fund",
                "typescript@5.6.3",
            ],
        );
    }
    if local.is_file() {
        local
    } else {
        PathBuf::from("tsc")
    }
}

/// Makes every dependency of the npm `package.json` at `manifest` (its
/// `dependencies` and `devDependencies`, each pinned to an exact version)
/// present in `target/node-tools/node_modules`, installing the missing or
/// different ones there with npm; returns that `node_modules`.
pub(crate) fn node_packages(manifest: &Path) -> PathBuf {
    let text = std::fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
    let doc: Json = serde_json::from_str(&text).expect("package.json is JSON");
    let modules = workspace_root().join("target/node-tools/node_modules");
    let mut wanted = Vec::new();
    for section in ["dependencies", "devDependencies"] {
        for (name, version) in doc[section].as_object().into_iter().flatten() {
            let version = version.as_str().expect("a version string");
            assert!(
                version.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
                "{}: {name} must be pinned to an exact version, not {version}",
                manifest.display()
            );
            let installed = std::fs::read_to_string(modules.join(name).join("package.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Json>(&t).ok())
                .and_then(|v| v["version"].as_str().map(str::to_owned));
            if installed.as_deref() != Some(version) {
                wanted.push(format!("{name}@{version}"));
            }
        }
    }
    if !wanted.is_empty() {
        let mut args = vec![
            "install",
            "--prefix",
            "target/node-tools",
            "--no-audit",
            "--no-fund",
        ];
        args.extend(wanted.iter().map(String::as_str));
        install_once(&wanted.join(" "), "npm", &args);
    }
    modules
}

// ---------------------------------------------------------------------------
// Many modules from one crate (tests/all/stress.rs): a built binary copied
// with byte strings of its static data (its module name, the module its
// trigger subscribes to, a read call's target) rewritten to others of the
// same length.
// ---------------------------------------------------------------------------

/// `wasm` with every occurrence of each `(from, to, count)`'s `from`
/// replaced by `to`, in turn. Panics unless `from` and `to` have the same
/// length (nothing moves, so every offset and length in the binary stays
/// right) and `from` occurs exactly `count` times (a placeholder that also
/// occurred elsewhere would be rewritten there too).
pub(crate) fn rewrite_wasm(wasm: &[u8], subs: &[(&str, &str, usize)]) -> Vec<u8> {
    let mut out = wasm.to_vec();
    for (from, to, count) in subs {
        assert_eq!(
            from.len(),
            to.len(),
            "rewriting `{from}` to `{to}`: the lengths differ"
        );
        let at: Vec<usize> = out
            .windows(from.len())
            .enumerate()
            .filter(|(_, w)| *w == from.as_bytes())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            at.len(),
            *count,
            "`{from}` occurs {} times in the binary (at {at:?}), expected {count}",
            at.len()
        );
        for i in at {
            out[i..i + to.len()].copy_from_slice(to.as_bytes());
        }
    }
    out
}

/// The module name of `t_relay`'s binary, a placeholder (11 bytes).
pub(crate) const RELAY_NAME: &str = "t_relay_000";
/// The module `t_relay`'s binary subscribes to and read-calls, a
/// placeholder (11 bytes).
pub(crate) const RELAY_SOURCE: &str = "t_inventory";

/// `t_relay` as module `name`, its trigger on `source.items.insert` and
/// its read call to `source.get_item` (both names of 11 bytes, e.g.
/// [`relay_name`] or `t_inventory`, the head of every chain).
pub(crate) fn relay_wasm(name: &str, source: &str) -> Vec<u8> {
    rewrite_wasm(
        &wasm("t_relay"),
        &[(RELAY_NAME, name, 1), (RELAY_SOURCE, source, 1)],
    )
}

/// The relay module name of instance `i` (`t_relay_001` …).
pub(crate) fn relay_name(i: usize) -> String {
    assert!(i < 1000, "relay names have three digits");
    format!("t_relay_{i:03}")
}

/// `t_inventory` renamed `name` (11 bytes). Its name occurs twice in the
/// binary: as the module name and in the source path of its panic
/// locations (`testing/t_inventory/src/lib.rs`), harmlessly rewritten too.
pub(crate) fn inventory_wasm(name: &str) -> Vec<u8> {
    rewrite_wasm(&wasm("t_inventory"), &[("t_inventory", name, 2)])
}

/// What [`check_reads_explained`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadsExplained {
    /// `list_item` commits of the market checked.
    pub checked: u64,
    /// How many of them read the item as present.
    pub saw_item: u64,
}

/// The serializability check of `tests/all/isolation.rs`, from the log
/// alone, for one `t_inventory`-like module `inventory` and one
/// `t_market`-like module `market` that read-calls it (`t_inventory`,
/// `t_market` or copies renamed with [`rewrite_wasm`]). In timestamp order:
/// every read result recorded in a `market.list_item` commit must be what
/// `inventory`'s successful commits with smaller timestamps leave, and the
/// listing's `ctx.timestamp()` must lie between the last of those commits
/// and the listing's own timestamp. Panics at the first read it cannot
/// explain.
pub(crate) fn check_reads_explained<'a>(
    commits: impl IntoIterator<Item = &'a interstice_persist::CommitRecord>,
    inventory: &str,
    market: &str,
) -> ReadsExplained {
    use interstice_abi::cbor::Reader;
    use interstice_persist::{MutationOp, Nondet, Outcome};
    let mut items = std::collections::BTreeSet::<u64>::new();
    let mut last_inventory_ts = 0;
    let mut out = ReadsExplained {
        checked: 0,
        saw_item: 0,
    };
    for c in commits {
        if c.module == inventory && matches!(c.outcome, Outcome::Ok(_)) {
            for m in &c.mutations {
                match &m.op {
                    MutationOp::Insert(row) => {
                        let mut r = Reader::new(row);
                        r.array_of(2).unwrap();
                        items.insert(r.u64().unwrap());
                    }
                    MutationOp::Delete(key) => {
                        items.remove(&Reader::new(key).u64().unwrap());
                    }
                    MutationOp::Update(_) => unreachable!("inventory never updates"),
                }
                last_inventory_ts = c.ts;
            }
        } else if c.module == market && c.reducer == "list_item" {
            let item = {
                let mut r = Reader::new(&c.args);
                r.array_of(1).expect("one argument");
                r.u64().expect("a u64 argument")
            };
            let reads: Vec<&Vec<u8>> = c
                .nondet
                .iter()
                .filter_map(|n| match n {
                    Nondet::ReadCall { result, .. } => Some(result),
                    _ => None,
                })
                .collect();
            assert_eq!(reads.len(), 1, "{market} ts {}: {:?}", c.ts, c.nondet);
            // `[0, null]` is `Ok(None)`; `[0, "owner"]` is `Ok(Some)`.
            let saw = reads[0].as_slice() != [0x82, 0x00, 0xf6];
            let present = items.contains(&item);
            assert_eq!(
                saw,
                present,
                "{market} ts {}: list_item({item}) read {} but the commits of {inventory} before \
                 it leave the item {}",
                c.ts,
                if saw { "the item" } else { "no item" },
                if present { "present" } else { "absent" },
            );
            let stamped = c
                .nondet
                .iter()
                .find_map(|n| match n {
                    Nondet::Timestamp(t) => Some(*t),
                    _ => None,
                })
                .expect("list_item asks for ctx.timestamp()");
            assert!(
                last_inventory_ts <= stamped && stamped < c.ts,
                "{market} ts {}: ctx.timestamp() = {stamped}, but the read saw {inventory} as of \
                 ts {last_inventory_ts}",
                c.ts
            );
            out.checked += 1;
            out.saw_item += u64::from(saw);
        }
    }
    out
}

/// Counts the verified entries of the log in `data_dir/log` without
/// keeping them: `(entries, commits)`.
pub(crate) fn count_log_entries(data_dir: &Path) -> (u64, u64) {
    let storage = interstice_persist::FileStorage::new(data_dir.join("log"));
    let (mut entries, mut commits) = (0u64, 0u64);
    interstice_persist::read_log(
        &storage,
        &interstice_persist::ReadOptions::default(),
        interstice_persist::for_each_entry(|e| {
            entries += 1;
            commits += u64::from(matches!(e, interstice_persist::LogEntry::Commit(_)));
            Ok::<(), interstice_persist::PersistError>(())
        }),
    )
    .expect("reading the log");
    (entries, commits)
}

/// Runs `interstice ARGS…`, counting its stdout lines as they stream (the
/// output is never held whole) and sampling its peak resident memory
/// (`VmHWM` in `/proc/PID/status`, every 10 ms while it runs; `wait4`'s
/// `ru_maxrss` would include the test process's memory at the fork).
pub(crate) fn interstice_measured<I, S>(args: I) -> MeasuredRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let start = Instant::now();
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the interstice binary");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let stdout = child.stdout.take().expect("piped stdout");
    let out = std::thread::spawn(move || {
        let (mut lines, mut last) = (0u64, String::new());
        for line in BufReader::new(stdout).lines() {
            last = line.expect("reading the command's stdout");
            lines += 1;
        }
        (lines, last)
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the command") {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            peak = peak.max(status_kib(&text, "VmHWM:"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (lines, last_line) = out.join().expect("the stdout reader");
    MeasuredRun {
        success: status.success(),
        lines,
        last_line,
        stderr: err.join().unwrap_or_default(),
        peak_rss_kib: peak,
        wall: start.elapsed(),
    }
}

/// The value in KiB of field `name` (`VmRSS:`) of a `/proc/*/status` text.
fn status_kib(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What [`interstice_measured`] saw.
#[derive(Debug, Clone)]
pub(crate) struct MeasuredRun {
    /// Exit code 0.
    pub success: bool,
    /// Stdout lines.
    pub lines: u64,
    /// The last stdout line.
    pub last_line: String,
    /// Stderr.
    pub stderr: String,
    /// The process's peak resident set (its last `VmHWM` sampled), KiB.
    pub peak_rss_kib: u64,
    /// From spawn to exit.
    pub wall: Duration,
}

/// This process's `VmRSS` and `VmHWM` (peak) from `/proc/self/status`, in
/// KiB (`(0, 0)` where there is no `/proc`).
pub(crate) fn rss_kib() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (status_kib(&text, "VmRSS:"), status_kib(&text, "VmHWM:"))
}
