//! Tests: backup. `interstice backup -d DIR DEST` (`docs/DURABILITY.md`,
//! "Backups"): under load through a real server on 127.0.0.1 (every commit
//! acknowledged before it started is in the copy, which verifies and opens
//! as the source's state at the same timestamp, while writers keep
//! committing), without a server (with the lock), and the refusals: a DEST
//! that exists, a DEST that is a symlink, a directory held by a process
//! that is not serving, and failures mid-copy or at the check that leave no
//! DEST.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::support::{bin, kill, tempdir, wasm_path, Server};

/// `interstice ARGS…`: (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin())
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

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `backup -d DIR DEST`.
fn backup(dir: &Path, dest: &Path) -> (Option<i32>, String, String) {
    cli(&["backup", "-d", s(dir), s(dest)])
}

/// Names in `dir` (to see that no temporary was left).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("listing")
        .map(|e| e.expect("entry").file_name().into_string().expect("UTF-8"))
        .collect();
    v.sort();
    v
}

/// The state hash the backup printed.
fn printed_hash(out: &str) -> String {
    let at = out.find("state hash ").expect("a state hash in the output") + 11;
    out[at..at + 64].to_owned()
}

/// Opens `dir` with `interstice run` (as a restore does), asks for the
/// state hash and every balance in `ids`; returns (hash, balances).
fn open_and_read(dir: &Path, extra: &[&str], ids: &[u64]) -> (String, BTreeMap<u64, Json>) {
    let mut srv = Server::start(dir, extra, &[]);
    let hash = srv.request(json!({"id": "h", "op": "hash"}));
    assert_eq!(hash["ok"], true, "{hash}");
    let reqs: Vec<Json> = ids
        .iter()
        .map(|id| json!({"id": id, "op": "read", "module": "bank", "reducer": "balance", "args": [id]}))
        .collect();
    let mut balances = BTreeMap::new();
    for chunk in reqs.chunks(256) {
        srv.send(chunk);
        for _ in chunk {
            let r = srv.recv(Duration::from_secs(60)).expect("a reply");
            let id = r["id"].as_u64().unwrap_or_else(|| panic!("{r}"));
            balances.insert(id, r["result"].clone());
        }
    }
    srv.close_input();
    let (status, _, err) = srv.wait(Duration::from_secs(30));
    assert!(status.success(), "{err}");
    (hash["result"].as_str().expect("hex").to_owned(), balances)
}

/// One acknowledged commit of `open_account`.
#[derive(Debug, Clone, Copy)]
struct Acked {
    ts: u64,
    id: u64,
    initial: u64,
    sent: Instant,
    answered: Instant,
}

#[test]
fn a_backup_under_load_holds_every_commit_acknowledged_before_it_started() {
    let d = tempdir();
    let dir = d.path().join("data");
    let dest = d.path().join("backup");
    // Small segments and frequent snapshots keeping one: segments are
    // sealed, retained and removed while the backup runs.
    let mut srv = Server::start(
        &dir,
        &[
            "--listen",
            "127.0.0.1:0",
            "--snapshot-every",
            "40",
            "--keep-snapshots",
            "1",
            "--segment-size",
            "4096",
        ],
        &["bank"],
    );
    let addr = srv.ready["listen"].as_str().expect("listen").to_owned();
    let token = std::fs::read_to_string(dir.join("TOKEN"))
        .expect("TOKEN")
        .trim()
        .to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (stop, acked) = (stop.clone(), acked.clone());
            let url = format!("http://{addr}/v1/modules/bank/reducers/open_account/call");
            let auth = format!("Bearer {token}");
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let initial = w * 1_000_000 + i;
                    let body = json!({"args": [format!("w{w}"), initial]}).to_string();
                    let sent = Instant::now();
                    let mut res = agent
                        .post(&url)
                        .header("Authorization", &auth)
                        .send(body.as_bytes())
                        .expect("open_account");
                    let text = res.body_mut().read_to_string().expect("body");
                    let answered = Instant::now();
                    assert_eq!(res.status().as_u16(), 200, "{text}");
                    let v: Json = serde_json::from_str(&text).expect("JSON");
                    acked.lock().unwrap().push(Acked {
                        ts: v["ts"].as_u64().expect("ts"),
                        id: v["result"].as_u64().expect("the account's id"),
                        initial,
                        sent,
                        answered,
                    });
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let (code, out, err) = backup(&dir, &dest);
    let ended = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("through the server"), "{out}");
    let acked = acked.lock().unwrap().clone();
    let before: Vec<Acked> = acked
        .iter()
        .copied()
        .filter(|a| a.answered < started)
        .collect();
    let during: Vec<&Acked> = acked
        .iter()
        .filter(|a| a.answered > started && a.answered < ended)
        .collect();
    assert!(before.len() > 50, "only {} commits before", before.len());
    // The runtime kept serving while the backup ran.
    assert!(!during.is_empty(), "no commit while the backup ran: {out}");
    let worst = |v: &mut dyn Iterator<Item = &Acked>| {
        v.map(|a| a.answered - a.sent).max().unwrap_or_default()
    };
    eprintln!(
        "backup took {:?}; {} commits before it, {} while it ran; slowest call before: {:?}, \
         while it ran: {:?}; {out}",
        ended - started,
        before.len(),
        during.len(),
        worst(&mut before.iter()),
        worst(&mut during.iter().copied()),
    );
    let last_ts: u64 = {
        let at = out.find("timestamps through ").expect("last ts") + 19;
        out[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let max_before = before.iter().map(|a| a.ts).max().unwrap();
    assert!(last_ts >= max_before, "{last_ts} < {max_before}");
    // Retention ran during the load: the source no longer starts at 1, so
    // the copy was made from a snapshot.
    assert!(out.contains("from the snapshot at"), "{out}");
    kill(srv.child.id(), "TERM");
    let (status, _, stderr) = srv.wait(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");

    let (code, report, err) = cli(&["check-log", s(&dest)]);
    assert_eq!(code, Some(0), "{report}\n{err}");
    assert!(report.contains("log OK"), "{report}");
    // Every commit acknowledged before the backup started is in it, with
    // its values; commits after its last timestamp are not.
    let ids: Vec<u64> = acked.iter().map(|a| a.id).collect();
    let (dest_hash, balances) = open_and_read(&dest, &[], &ids);
    for a in &before {
        assert_eq!(balances[&a.id], json!(a.initial), "{a:?}");
    }
    for a in &acked {
        let want = if a.ts <= last_ts {
            json!(a.initial)
        } else {
            Json::Null
        };
        assert_eq!(balances[&a.id], want, "{a:?} (backup through {last_ts})");
    }
    // The restored state is the one the backup checked (the source's state
    // at that timestamp can no longer be rebuilt: retention has moved on).
    assert_eq!(dest_hash, printed_hash(&out));
    // A restored backup is a data directory like any other: it takes
    // writes after its last timestamp.
    let (code, out, err) = cli(&[
        "call",
        "-d",
        s(&dest),
        "bank",
        "open_account",
        "\"after\"",
        "1",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.parse::<u64>().is_ok(), "{out}");
}

/// A data directory with `n` accounts, made by `call`.
fn bank_dir(dir: &Path, n: u64) {
    let (code, _, err) = cli(&["load", "-d", s(dir), s(&wasm_path("bank"))]);
    assert_eq!(code, Some(0), "{err}");
    for i in 1..=n {
        let (code, out, err) = cli(&[
            "call",
            "-d",
            s(dir),
            "bank",
            "open_account",
            &format!("\"u{i}\""),
            &(10 * i).to_string(),
        ]);
        assert_eq!((code, out), (Some(0), i.to_string()), "{err}");
    }
}

#[test]
fn without_a_server_a_backup_takes_the_lock_and_opens_as_the_same_state() {
    let d = tempdir();
    let dir = d.path().join("data");
    bank_dir(&dir, 3);
    let dest = d.path().join("backup");
    let (code, out, err) = backup(&dir, &dest);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("with the directory's lock: timestamps through 4,"),
        "{out}"
    );
    let (src_hash, _) = open_and_read(&dir, &[], &[]);
    let (dest_hash, balances) = open_and_read(&dest, &[], &[1, 2, 3]);
    assert_eq!(src_hash, dest_hash);
    assert_eq!(dest_hash, printed_hash(&out));
    assert_eq!(
        balances.into_values().collect::<Vec<_>>(),
        vec![json!(10), json!(20), json!(30)]
    );
    // The tokens are not copied: they guard the source's port, and a
    // restored directory gets its own on its first `run --listen`. (`LOCK`,
    // `cache/` and `logs/` are the runtime's that `open_and_read` opened.)
    assert_eq!(
        names(&dest),
        [
            "LOCK",
            "SECRET",
            "cache",
            "log",
            "logs",
            "modules",
            "snapshots"
        ]
    );

    // A process that holds the directory without serving it: no consistent
    // cut can be had, and the backup says so.
    let mut holder = Server::start(&dir, &[], &[]);
    let other = d.path().join("other");
    let (code, _, err) = backup(&dir, &other);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("is not a serving `interstice run --listen`"),
        "{err}"
    );
    holder.close_input();
    let (status, _, e) = holder.wait(Duration::from_secs(30));
    assert!(status.success(), "{e}");
    assert_eq!(names(d.path()), ["backup", "data"]);
}

#[test]
fn an_existing_dest_is_refused_and_a_symlink_is_never_followed() {
    let d = tempdir();
    let dir = d.path().join("data");
    bank_dir(&dir, 1);
    // Not empty: refused, untouched.
    let full = d.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("mine"), b"keep me").unwrap();
    let (code, _, err) = backup(&dir, &full);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("exists and is not empty"), "{err}");
    assert_eq!(std::fs::read(full.join("mine")).unwrap(), b"keep me");
    // A symlink, to an empty directory or to nothing: refused, and nothing
    // is created where it points.
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&empty, &link).unwrap();
    let dangling = d.path().join("dangling");
    std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();
    for l in [&link, &dangling] {
        let (code, _, err) = backup(&dir, l);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("is a symbolic link"), "{err}");
    }
    assert!(names(&empty).is_empty());
    assert!(!d.path().join("nowhere").exists());
    // Inside the data directory: refused.
    let (code, _, err) = backup(&dir, &dir.join("log").join("b"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is inside the data directory"), "{err}");
    // An empty directory is taken (and becomes the backup).
    let (code, out, err) = backup(&dir, &empty);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("timestamps through 2"), "{out}");
    let (code, report, _) = cli(&["check-log", s(&empty)]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        names(d.path()),
        ["dangling", "data", "empty", "full", "link"]
    );
}

#[test]
fn a_failed_backup_leaves_nothing_that_looks_like_one() {
    let d = tempdir();
    let dir = d.path().join("data");
    bank_dir(&dir, 2);
    let dest = d.path().join("backup");
    // Mid-copy: a module binary that is not a regular file (the log has
    // been copied by then).
    let fifo = dir.join("modules").join(format!("{}.wasm", "a".repeat(64)));
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (code, _, err) = backup(&dir, &dest);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is not a regular file"), "{err}");
    assert_eq!(names(d.path()), ["data"]);
    std::fs::remove_file(&fifo).unwrap();
    // At the check: a flipped bit in a committed batch of the source. The
    // copy is complete, but check-log refuses it, so it never becomes DEST.
    let seg = dir.join("log").join("00000000000000000001.log");
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let (code, _, err) = backup(&dir, &dest);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the copy does not verify"), "{err}");
    assert_eq!(names(d.path()), ["data"]);
}

#[test]
fn with_snapshots_off_and_periodic_fsyncs_the_cut_still_holds_every_acknowledged_commit() {
    let d = tempdir();
    let dir = d.path().join("data");
    // A long fsync interval: acknowledged commits are written but not yet
    // fsynced when the backup starts (the copy reads them, and fsyncs its
    // own files). No snapshots: the whole log is copied.
    let mut srv = Server::start(
        &dir,
        &["--listen", "127.0.0.1:0", "--durability", "periodic(60000)"],
        &["bank"],
    );
    let addr = srv.ready["listen"].as_str().expect("listen").to_owned();
    let token = std::fs::read_to_string(dir.join("TOKEN"))
        .unwrap()
        .trim()
        .to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, body: &str| -> Json {
        let mut res = agent
            .post(format!("http://{addr}{path}"))
            .header("Authorization", format!("Bearer {token}"))
            .send(body.as_bytes())
            .expect("POST");
        serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap()
    };
    for i in 1..=5 {
        let r = post(
            "/v1/modules/bank/reducers/open_account/call",
            &json!({"args": [format!("p{i}"), i]}).to_string(),
        );
        assert_eq!(r["ts"], i + 1, "{r}");
    }
    // The endpoint itself: no snapshot, and a durable timestamp that covers
    // every acknowledged commit.
    let cut = post("/v1/backup", "");
    assert_eq!(cut["ok"], true, "{cut}");
    assert_eq!(cut["result"]["snapshot_ts"], Json::Null, "{cut}");
    assert_eq!(cut["result"]["durable_ts"], 6, "{cut}");
    let r = post(
        "/v1/modules/bank/reducers/open_account/call",
        &json!({"args": ["p6", 6]}).to_string(),
    );
    assert_eq!(r["ts"], 7, "{r}");
    let dest = d.path().join("backup");
    let (code, out, err) = backup(&dir, &dest);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("through the server") && out.contains("timestamps through 7,"),
        "{out}"
    );
    assert!(!out.contains("from the snapshot"), "{out}");
    assert!(names(&dest.join("snapshots")).is_empty());
    kill(srv.child.id(), "TERM");
    let (status, _, stderr) = srv.wait(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    let (hash, balances) = open_and_read(&dest, &[], &[1, 2, 3, 4, 5, 6]);
    assert_eq!(hash, printed_hash(&out));
    assert_eq!(
        balances.into_values().collect::<Vec<_>>(),
        (1..=6).map(|i| json!(i)).collect::<Vec<_>>()
    );
}
