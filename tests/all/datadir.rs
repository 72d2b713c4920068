//! Tests: a data directory the runtime can trust (`docs/SECURITY.md`). The
//! compiled-module cache is verified before it is loaded (bit flips and a
//! swapped entry are recompiled); the exclusive lock survives the removal
//! of `LOCK`; symlinks inside the directory are refused, never followed; a
//! complete final batch that fails its hash is refused, not cut as a torn
//! tail; temporaries an interrupted write left are removed at open.

use std::path::{Path, PathBuf};

use interstice_actors::{Runtime, RuntimeError};
use interstice_persist::{FileStorage, PersistError};
use serde_json::json;

use crate::support::{
    as_u64, cli_call, expect_ok, interstice, open, open_account, open_with, stderr_of, stdout_of,
    tempdir, u, wasm, Server,
};

/// The blake3 hex a loaded guest module is stored under: the name of its
/// `modules/<hex>.wasm`, found by content.
fn module_hex(dir: &Path, module: &str) -> String {
    let want = wasm(module);
    for entry in std::fs::read_dir(dir.join("modules")).expect("modules/") {
        let path = entry.expect("modules/ entry").path();
        if std::fs::read(&path).expect("module binary") == want {
            let name = path.file_name().expect("name").to_string_lossy();
            return name.trim_end_matches(".wasm").to_owned();
        }
    }
    panic!("{module} is not stored in {}", dir.display());
}

/// `cache/<blake3 hex of the module>.cwasm` of a loaded guest module.
fn cache_path(dir: &Path, module: &str) -> PathBuf {
    dir.join("cache")
        .join(format!("{}.cwasm", module_hex(dir, module)))
}

async fn try_open(dir: &Path) -> Result<Runtime, RuntimeError> {
    Runtime::builder().data_dir(dir).open().await
}

async fn balance(rt: &Runtime, id: u64) -> u64 {
    as_u64(
        &rt.read("bank", "balance", vec![u(id)])
            .await
            .expect("balance")
            .value,
    )
}

/// A data directory with `bank` (accounts 1 and 2, a few deposits) and
/// `hello` loaded and compiled into the cache. Returns alice's balance.
async fn bank_and_hello(dir: &Path) -> u64 {
    let rt = open_with(dir, &["bank", "hello"]).await;
    open_account(&rt, "alice", 100).await;
    open_account(&rt, "bob", 5).await;
    for _ in 0..3 {
        rt.call("bank", "deposit", vec![u(1), u(10)])
            .await
            .expect("deposit");
    }
    rt.call("hello", "hello", vec![crate::support::s("x")])
        .await
        .expect("hello");
    let got = balance(&rt, 1).await;
    rt.shutdown().await.expect("shutdown");
    got
}

// ---------------------------------------------------------------------------
// Item 6: the compiled-code cache is verified against what it was compiled
// from before it is loaded.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn flipped_bits_in_the_compiled_cache_are_detected_and_recompiled() {
    let d = tempdir();
    let dir = d.path();
    let alice = bank_and_hello(dir).await;
    let path = cache_path(dir, "bank");
    let good = std::fs::read(&path).expect("bank's cache entry");
    // A valid entry is used as it is (and compilation is deterministic, so
    // a recompiled entry is byte for byte the same).
    let rt = open(dir).await;
    assert_eq!(balance(&rt, 1).await, alice);
    rt.shutdown().await.expect("shutdown");
    assert_eq!(std::fs::read(&path).expect("cache"), good);

    // Positions spread over the whole file, header included.
    let flips = 64;
    let mut positions: Vec<usize> = (0..flips).map(|i| i * good.len() / flips).collect();
    positions.extend([9, 20, 50, 85, 100, 119, good.len() - 1]);
    for (i, at) in positions.iter().copied().enumerate() {
        let mut bad = good.clone();
        bad[at] ^= 1 << (i % 8);
        std::fs::write(&path, &bad).expect("flipping a bit");
        let rt = open(dir).await;
        assert_eq!(balance(&rt, 1).await, alice, "flip at byte {at}");
        assert_eq!(balance(&rt, 2).await, 5 + i as u64, "flip at byte {at}");
        let out = rt
            .call("bank", "deposit", vec![u(2), u(1)])
            .await
            .unwrap_or_else(|e| panic!("flip at byte {at}: deposit: {e}"));
        assert_eq!(as_u64(&out.value), 6 + i as u64, "flip at byte {at}");
        rt.shutdown().await.expect("shutdown");
        assert_eq!(
            std::fs::read(&path).expect("cache"),
            good,
            "flip at byte {at} (of {}): the damaged entry was not detected and recompiled",
            good.len()
        );
    }
    let problems = interstice_persist::check(&FileStorage::new(dir.join("log")), None);
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_modules_valid_cache_entry_is_not_run() {
    let d = tempdir();
    let dir = d.path();
    let alice = bank_and_hello(dir).await;
    let bank = cache_path(dir, "bank");
    let good = std::fs::read(&bank).expect("bank's cache entry");
    std::fs::copy(cache_path(dir, "hello"), &bank).expect("copying hello's entry over bank's");
    let rt = open(dir).await;
    assert_eq!(balance(&rt, 1).await, alice);
    let out = rt
        .call("bank", "deposit", vec![u(1), u(1)])
        .await
        .expect("deposit runs bank's code");
    assert_eq!(as_u64(&out.value), alice + 1);
    rt.shutdown().await.expect("shutdown");
    assert_eq!(std::fs::read(&bank).expect("cache"), good, "not recompiled");
    let problems = interstice_persist::check(&FileStorage::new(dir.join("log")), None);
    assert!(problems.is_empty(), "{problems:?}");
}

// ---------------------------------------------------------------------------
// Item 7: the exclusion does not depend on the lock file's name.
// ---------------------------------------------------------------------------

#[test]
fn removing_lock_lets_no_second_process_in() {
    let d = tempdir();
    let dir = d.path();
    let mut srv = Server::start(dir, &[], &["bank"]);
    let r = srv.request(json!({"id": 1, "op": "call", "module": "bank",
        "reducer": "open_account", "args": ["alice", 100]}));
    assert_eq!(r["ok"], true, "{r}");
    std::fs::remove_file(dir.join("LOCK")).expect("removing LOCK");

    // A second process is refused, before it writes anything.
    for args in [&["deposit", "1", "5"][..], &["balance", "1"][..]] {
        let out = cli_call(dir, "bank", args[0], &args[1..]);
        assert!(
            !out.status.success(),
            "a second process opened the directory: {}",
            stdout_of(&out)
        );
        let err = stderr_of(&out);
        assert!(err.contains("locked"), "{err}");
        assert!(err.contains("LOCK file was removed"), "{err}");
    }
    // The first keeps committing, with gapless timestamps.
    let r = srv.request(json!({"id": 2, "op": "call", "module": "bank",
        "reducer": "deposit", "args": [1, 7]}));
    assert_eq!(r["result"], 107, "{r}");
    srv.close_input();
    let (status, _, stderr) = srv.wait(std::time::Duration::from_secs(60));
    assert!(status.success(), "{stderr}");

    // Every acknowledged commit is in the log, and only those.
    let out = interstice(["check-log".as_ref(), dir.as_os_str()]);
    expect_ok(&out, "check-log");
    let got = expect_ok(&cli_call(dir, "bank", "balance", &["1"]), "balance");
    assert_eq!(got, "107");
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_lock_lets_no_second_runtime_in() {
    let d = tempdir();
    let dir = d.path();
    let first = open(dir).await;
    std::fs::remove_file(dir.join("LOCK")).expect("removing LOCK");
    match try_open(dir).await {
        Err(RuntimeError::Persist(PersistError::Locked { .. })) => {}
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second runtime opened the directory after LOCK was removed"),
    }
    first.shutdown().await.expect("shutdown");
    drop(first);
    open(dir).await.shutdown().await.expect("reopen");
}

// ---------------------------------------------------------------------------
// Item 8: symlinks are refused, never followed.
// ---------------------------------------------------------------------------

/// A file outside the data directory that a symlink inside points at.
struct Victim {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Victim {
    const CONTENT: &'static [u8] = b"precious, must never be written by the runtime";

    fn new() -> Victim {
        let dir = tempdir();
        let path = dir.path().join("victim");
        std::fs::write(&path, Self::CONTENT).expect("writing the victim");
        Victim { _dir: dir, path }
    }

    fn assert_untouched(&self, what: &str) {
        assert_eq!(
            std::fs::read(&self.path).expect("victim"),
            Self::CONTENT,
            "{what}: the runtime wrote through a symlink"
        );
    }
}

async fn expect_symlink_refused(dir: &Path, link: &Path, what: &str) {
    match try_open(dir).await {
        // (Matched by message, not by variant, so that this test also
        // builds against a runtime without the check, to show it fail.)
        Err(RuntimeError::Persist(e)) if e.to_string().contains("symbolic link") => {
            let msg = e.to_string();
            assert!(msg.contains(&link.display().to_string()), "{what}: {msg}");
            assert!(msg.contains("symbolic link"), "{what}: {msg}");
        }
        Err(e) => panic!("{what}: expected a symlink error, got {e}"),
        Ok(rt) => {
            rt.shutdown().await.expect("shutdown");
            panic!("{what}: the runtime opened a data directory with a symlink inside");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
    let victim = Victim::new();
    let d = tempdir();
    let dir = d.path();
    open(dir).await.shutdown().await.expect("initialise");
    let link = dir.join("LOCK");
    std::fs::remove_file(&link).expect("removing LOCK");
    std::os::unix::fs::symlink(&victim.path, &link).expect("symlink");
    expect_symlink_refused(dir, &link, "LOCK").await;
    victim.assert_untouched("LOCK");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_symlinked_cache_temporary_is_refused_and_its_target_untouched() {
    let victim = Victim::new();
    let d = tempdir();
    let dir = d.path();
    bank_and_hello(dir).await;
    // Force a recompilation, so that the runtime writes the cache entry.
    let entry = cache_path(dir, "bank");
    std::fs::remove_file(&entry).expect("removing the cache entry");
    let hex = module_hex(dir, "bank");
    // The temporary's name in earlier builds, and in this one.
    for name in [format!("{hex}.tmp"), format!(".{hex}.cwasm.tmp")] {
        let link = dir.join("cache").join(&name);
        std::os::unix::fs::symlink(&victim.path, &link).expect("symlink");
        expect_symlink_refused(dir, &link, &name).await;
        victim.assert_untouched(&name);
        std::fs::remove_file(&link).expect("removing the symlink");
    }
    // Without the symlinks it opens, recompiles and writes a real file.
    let rt = open(dir).await;
    rt.shutdown().await.expect("shutdown");
    let meta = std::fs::symlink_metadata(&entry).expect("cache entry");
    assert!(meta.is_file());
    victim.assert_untouched("after reopening");
}

#[tokio::test(flavor = "multi_thread")]
async fn symlinks_inside_are_refused_but_the_directory_itself_may_be_one() {
    let victim = Victim::new();
    let d = tempdir();
    let real = d.path().join("real");
    let alice = bank_and_hello(&real).await;
    // A symlinked segment, module binary or subdirectory is refused.
    let segment = real.join("log").join(format!("{:020}.log", 1));
    let moved = d.path().join("segment");
    std::fs::rename(&segment, &moved).expect("moving the segment");
    std::os::unix::fs::symlink(&moved, &segment).expect("symlink");
    expect_symlink_refused(&real, &segment, "segment").await;
    std::fs::remove_file(&segment).expect("removing the symlink");
    std::fs::rename(&moved, &segment).expect("moving it back");
    let snapshots = real.join("snapshots");
    let _ = std::fs::remove_dir(&snapshots);
    std::os::unix::fs::symlink(victim.path.parent().expect("dir"), &snapshots).expect("symlink");
    expect_symlink_refused(&real, &snapshots, "snapshots/").await;
    std::fs::remove_file(&snapshots).expect("removing the symlink");
    victim.assert_untouched("inside");

    // The data directory's own path may be a symlink (to another volume).
    let link = d.path().join("data");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let rt = open(&link).await;
    assert_eq!(balance(&rt, 1).await, alice);
    rt.shutdown().await.expect("shutdown");
}

// ---------------------------------------------------------------------------
// Item 9: a complete final batch that fails its hash is corruption.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_bit_flip_in_the_last_complete_batch_is_refused_not_cut() {
    let d = tempdir();
    let dir = d.path();
    let rt = open_with(dir, &["bank"]).await;
    open_account(&rt, "alice", 100).await;
    let mut acked = Vec::new();
    for i in 0..5 {
        let out = rt
            .call("bank", "deposit", vec![u(1), u(10 + i)])
            .await
            .expect("deposit");
        acked.push((out.ts.expect("ts"), as_u64(&out.value)));
    }
    rt.shutdown().await.expect("shutdown");
    let storage = FileStorage::new(dir.join("log"));
    let mut last = None;
    interstice_persist::read_log(&storage, &interstice_persist::ReadOptions::default(), |b| {
        last = Some((b.segment.to_owned(), b.offset, b.payload.len(), b.first_ts));
        Ok::<(), PersistError>(())
    })
    .expect("reading the log");
    let (segment, offset, payload_len, first_ts) = last.expect("a batch");
    assert_eq!(first_ts, acked.last().expect("acked").0);
    let seg = dir.join("log").join(&segment);
    let mut bytes = std::fs::read(&seg).expect("segment");
    assert_eq!(
        bytes.len(),
        offset as usize + 52 + payload_len,
        "the last batch ends the file"
    );
    bytes[offset as usize + 52 + payload_len / 2] ^= 0x10;
    std::fs::write(&seg, &bytes).expect("flipping a bit");

    // Opening refuses, naming the place, and cuts nothing.
    match try_open(dir).await {
        Err(RuntimeError::Persist(PersistError::Corrupt {
            segment: s,
            offset: o,
            ts,
            reason,
        })) => {
            assert_eq!(
                (s.as_str(), o, ts),
                (segment.as_str(), offset, Some(first_ts))
            );
            assert!(reason.contains("not a torn write"), "{reason}");
        }
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(rt) => {
            rt.shutdown().await.expect("shutdown");
            panic!("the log opened: the acknowledged last batch was cut as a torn tail");
        }
    }
    assert_eq!(
        std::fs::read(&seg).expect("segment"),
        bytes,
        "the refused open changed the log"
    );
    let out = interstice(["check-log".as_ref(), dir.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("corrupt"), "{}", stdout_of(&out));

    // `check-log --repair` is the way out: the batch moves to a .broken file.
    let out = interstice(["check-log".as_ref(), dir.as_os_str(), "--repair".as_ref()]);
    expect_ok(&out, "check-log --repair");
    let broken = std::fs::read(dir.join("log").join(format!("{segment}.broken"))).expect("broken");
    assert_eq!(broken, bytes[offset as usize..]);
    let rt = open(dir).await;
    assert_eq!(balance(&rt, 1).await, acked[acked.len() - 2].1);
    rt.shutdown().await.expect("shutdown");
}

// ---------------------------------------------------------------------------
// Item 10: leftover temporaries are removed at open.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn leftover_snapshot_and_cache_temporaries_are_removed_at_open() {
    let d = tempdir();
    let dir = d.path();
    let alice = bank_and_hello(dir).await;
    std::fs::create_dir_all(dir.join("snapshots")).expect("snapshots/");
    let hex = module_hex(dir, "bank");
    // What a process killed while writing leaves: full-size temporaries.
    let leftovers = [
        dir.join("snapshots").join(".00000000000000000004.snap.tmp"),
        dir.join("snapshots").join(".00000000000000000009.snap.tmp"),
        dir.join("cache").join(format!(".{hex}.cwasm.tmp")),
        dir.join("cache").join(format!("{hex}.tmp")),
    ];
    for l in &leftovers {
        std::fs::write(l, vec![0xa5; 1 << 20]).expect("leaving a temporary");
    }
    let rt = open(dir).await;
    assert_eq!(balance(&rt, 1).await, alice);
    rt.shutdown().await.expect("shutdown");
    for l in &leftovers {
        assert!(!l.exists(), "{} was not removed", l.display());
    }
    assert!(
        cache_path(dir, "bank").is_file(),
        "the real cache entry is kept"
    );
}
