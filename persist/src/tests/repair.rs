//! `check-log --repair` ([`crate::repair`]), and a crash at every step of it.

use crate::reader::{check, ProblemKind};
use crate::storage::Storage;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::record::LogEntry;
use crate::repair::*;
use crate::storage::FileStorage;
use crate::storage::{CrashMode, Fault, FaultPlan, FaultyStorage, Op};
use crate::tests::support::{build_log, read_all, BatchLoc};
use crate::writer::{LogWriter, WriterOptions};
use crate::PersistError;

fn faulty() -> (FaultyStorage, Arc<dyn Storage>) {
    let disk = FaultyStorage::new();
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());
    (disk, storage)
}

/// A log of several segments and batches; returns its entries, where each
/// batch is, and every file's bytes.
fn sample_log(
    storage: &Arc<dyn Storage>,
    disk: &FaultyStorage,
) -> (Vec<LogEntry>, Vec<BatchLoc>, BTreeMap<String, Vec<u8>>) {
    let (all, locs) = build_log(storage, 700, &[2, 3, 1, 4, 2, 3, 2, 1, 3]);
    let files = disk
        .names()
        .into_iter()
        .map(|n| {
            let bytes = disk.file(&n).expect("file");
            (n, bytes)
        })
        .collect();
    (all, locs, files)
}

fn entries_before(all: &[LogEntry], ts: u64) -> Vec<LogEntry> {
    all.iter().filter(|e| e.ts() < ts).cloned().collect()
}

/// Every byte of every original segment is still somewhere: the segment
/// holds a prefix of its original bytes, and a `.broken` file holds the
/// rest (`*.tmp` files are ignored: they are never the only copy).
fn assert_no_byte_lost(disk: &FaultyStorage, original: &BTreeMap<String, Vec<u8>>, what: &str) {
    let names = disk.names();
    for (name, bytes) in original {
        let now = disk.file(name).unwrap_or_default();
        assert!(
            bytes.starts_with(&now),
            "{what}: {name} is no longer a prefix of its original bytes"
        );
        if now.len() == bytes.len() {
            continue;
        }
        let rest = &bytes[now.len()..];
        let kept = names.iter().any(|n| {
            n.starts_with(&format!("{name}{BROKEN_SUFFIX}"))
                && !n.ends_with(".tmp")
                && disk.file(n).as_deref() == Some(rest)
        });
        assert!(
            kept,
            "{what}: the last {} bytes of {name} are in no .broken file (files: {names:?})",
            rest.len()
        );
    }
}

#[test]
fn a_sound_log_is_left_alone() {
    let (disk, storage) = faulty();
    let (all, _, files) = sample_log(&storage, &disk);
    let report = repair(&*storage).unwrap();
    assert!(report.problems.is_empty());
    assert!(report.moved.is_empty());
    assert_eq!(report.kept.entries, all.len() as u64);
    for (name, bytes) in &files {
        assert_eq!(disk.file(name).as_ref(), Some(bytes), "{name} changed");
    }
    assert_eq!(disk.names().len(), files.len());
}

#[test]
fn corruption_in_a_middle_segment_moves_the_rest_aside() {
    let (disk, storage) = faulty();
    let (all, locs, files) = sample_log(&storage, &disk);
    let segments: Vec<String> = files.keys().cloned().collect();
    assert!(segments.len() >= 3, "want 3+ segments: {segments:?}");
    // The second batch of the second segment.
    let in_second: Vec<&BatchLoc> = locs.iter().filter(|l| l.segment == segments[1]).collect();
    assert!(in_second.len() >= 2, "{locs:?}");
    let victim = in_second[1].clone();
    disk.modify(&victim.segment, |d| d[victim.offset as usize + 60] ^= 0x04);
    let damaged: BTreeMap<String, Vec<u8>> = files
        .keys()
        .map(|n| (n.clone(), disk.file(n).unwrap()))
        .collect();
    assert!(LogWriter::open(storage.clone(), WriterOptions::default()).is_err());

    let report = repair(&*storage).unwrap();
    assert!(!report.problems.is_empty());
    assert_eq!(report.problems[0].kind, ProblemKind::Corrupt);
    assert_eq!(report.problems[0].offset, victim.offset);
    // The damaged segment's tail, then each later segment, whole.
    assert_eq!(report.moved[0].segment, victim.segment);
    assert_eq!(report.moved[0].offset, victim.offset);
    assert_eq!(report.moved[0].to, format!("{}.broken", victim.segment));
    let later: Vec<&String> = segments.iter().skip(2).collect();
    assert_eq!(report.moved.len(), 1 + later.len());
    for (m, name) in report.moved[1..].iter().zip(&later) {
        assert_eq!(&&m.segment, name);
        assert_eq!(m.offset, 0);
        assert_eq!(m.to, format!("{name}.broken"));
        assert_eq!(m.bytes, files[*name].len() as u64);
    }
    assert_no_byte_lost(&disk, &damaged, "after the repair");
    assert_eq!(
        disk.file(&victim.segment).unwrap().len() as u64,
        victim.offset
    );

    // The log opens on exactly the valid prefix, and takes new batches.
    assert_eq!(report.kept.next_ts, victim.first_ts);
    assert!(check(&*storage, None).is_empty());
    assert_eq!(
        read_all(&*storage).unwrap(),
        entries_before(&all, victim.first_ts)
    );
    let broken: Vec<(String, Option<Vec<u8>>)> = disk
        .names()
        .into_iter()
        .filter(|n| n.contains(BROKEN_SUFFIX))
        .map(|n| (n.clone(), disk.file(&n)))
        .collect();
    let (mut w, rec) = LogWriter::open(storage.clone(), WriterOptions::default()).unwrap();
    assert!(rec.torn_tail.is_none());
    let (_, payload) = crate::tests::support::sample_batch(rec.next_ts, 2);
    w.append_batch(rec.next_ts, 2, &payload).unwrap();
    w.sync().unwrap();
    assert!(check(&*storage, None).is_empty());
    // New segments may reuse the moved segments' names; the .broken files
    // are untouched.
    for (name, bytes) in broken {
        assert_eq!(disk.file(&name), bytes, "{name} changed");
    }
}

#[test]
fn a_damaged_segment_header_moves_the_whole_segment() {
    let (disk, storage) = faulty();
    let (all, _, files) = sample_log(&storage, &disk);
    let segments: Vec<String> = files.keys().cloned().collect();
    disk.modify(&segments[1], |d| d[30] ^= 0x80);
    let report = repair(&*storage).unwrap();
    assert_eq!(report.moved[0].segment, segments[1]);
    assert_eq!(report.moved[0].offset, 0);
    assert_eq!(report.moved.len(), segments.len() - 1);
    assert!(disk.file(&segments[1]).is_none());
    assert_eq!(
        disk.file(&format!("{}.broken", segments[1])).unwrap()[..30],
        files[&segments[1]][..30]
    );
    let second_ts = crate::segment::parse_segment_name(&segments[1]).unwrap();
    assert_eq!(
        read_all(&*storage).unwrap(),
        entries_before(&all, second_ts)
    );
    assert!(check(&*storage, None).is_empty());
}

#[test]
fn a_torn_tail_is_moved_not_deleted() {
    let (disk, storage) = faulty();
    let (all, locs, _) = sample_log(&storage, &disk);
    let last = locs.last().unwrap().clone();
    disk.modify(&last.segment, |d| d.truncate(d.len() - 5));
    let torn = disk.file(&last.segment).unwrap()[last.offset as usize..].to_vec();
    let report = repair(&*storage).unwrap();
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].kind, ProblemKind::TornTail);
    assert_eq!(report.moved.len(), 1);
    assert_eq!(
        disk.file(&format!("{}.broken", last.segment)).unwrap(),
        torn
    );
    assert_eq!(
        read_all(&*storage).unwrap(),
        entries_before(&all, last.first_ts)
    );
}

#[test]
fn a_second_repair_does_not_overwrite_the_first_broken_file() {
    let (disk, storage) = faulty();
    let (_, locs) = build_log(&storage, 1 << 20, &[2, 3, 1]);
    let last = locs.last().unwrap().clone();
    let prev = locs[locs.len() - 2].clone();
    assert_eq!(prev.segment, last.segment, "{locs:?}");
    disk.modify(&last.segment, |d| d.truncate(d.len() - 3));
    let first = repair(&*storage).unwrap();
    assert_eq!(first.moved[0].to, format!("{}.broken", last.segment));
    disk.modify(&last.segment, |d| d.truncate(d.len() - 3));
    let second = repair(&*storage).unwrap();
    assert_eq!(second.moved[0].to, format!("{}.broken.1", last.segment));
    assert_eq!(second.moved[0].offset, prev.offset);
    let b0 = disk.file(&format!("{}.broken", last.segment)).unwrap();
    let b1 = disk.file(&format!("{}.broken.1", last.segment)).unwrap();
    assert_eq!(b0.len() as u64, last.len - 3);
    assert_eq!(b1.len() as u64, prev.len - 3);
}

#[test]
fn an_unsupported_version_is_refused_without_changes() {
    let (disk, storage) = faulty();
    let (_, _, files) = sample_log(&storage, &disk);
    let second = files.keys().nth(1).unwrap().clone();
    disk.modify(&second, |d| {
        d[8] = 2;
        let c = blake3::hash(&d[..56]);
        d[56..64].copy_from_slice(&c.as_bytes()[..8]);
    });
    let before: Vec<(String, Option<Vec<u8>>)> = disk
        .names()
        .into_iter()
        .map(|n| (n.clone(), disk.file(&n)))
        .collect();
    match repair(&*storage) {
        Err(PersistError::Unrepairable(msg)) => {
            assert!(msg.contains("version"), "{msg}");
            assert!(msg.contains("nothing was changed"), "{msg}");
        }
        other => panic!("expected Unrepairable, got {other:?}"),
    }
    let after: Vec<(String, Option<Vec<u8>>)> = disk
        .names()
        .into_iter()
        .map(|n| (n.clone(), disk.file(&n)))
        .collect();
    assert_eq!(before, after);
}

/// A crash at any I/O step of a repair loses no byte, and running the
/// repair again finishes it.
#[test]
fn a_crash_anywhere_in_a_repair_loses_nothing() {
    let mut crashes = 0;
    for op in [
        Op::Create,
        Op::Write,
        Op::Sync,
        Op::Rename,
        Op::SyncDir,
        Op::Truncate,
        Op::Remove,
    ] {
        for nth in 1..=4 {
            for mode in [CrashMode::DropUnsynced, CrashMode::TornUnsynced] {
                let (disk, storage) = faulty();
                let (all, locs, files) = sample_log(&storage, &disk);
                let segments: Vec<String> = files.keys().cloned().collect();
                let victim = locs
                    .iter()
                    .find(|l| l.segment == segments[1] && l.offset > 64)
                    .unwrap()
                    .clone();
                disk.modify(&victim.segment, |d| d[victim.offset as usize + 55] ^= 1);
                // A leftover from an earlier interrupted repair.
                disk.put(&format!("{}.broken.tmp", victim.segment), vec![1, 2, 3]);
                let damaged: BTreeMap<String, Vec<u8>> = files
                    .keys()
                    .map(|n| (n.clone(), disk.file(n).unwrap()))
                    .collect();
                let what = format!("{op:?} #{nth}, {mode:?}");

                // Counts run from the storage's creation: fail the
                // `nth` call of `op` made by the repair.
                let at = disk.count(op) + nth;
                disk.set_plan(FaultPlan::seeded(nth).fail_nth(op, at, Fault::Error));
                let first = repair(&*storage);
                if !disk.injected().is_empty() {
                    crashes += 1;
                    assert!(first.is_err(), "{what}: a failed step went unnoticed");
                }
                disk.crash(mode);
                disk.clear_faults();
                assert_no_byte_lost(&disk, &damaged, &format!("{what}, after the crash"));

                let second = repair(&*storage).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_no_byte_lost(&disk, &damaged, &format!("{what}, after the rerun"));
                assert!(check(&*storage, None).is_empty(), "{what}");
                assert_eq!(second.kept.next_ts, victim.first_ts, "{what}");
                assert_eq!(
                    read_all(&*storage).unwrap(),
                    entries_before(&all, victim.first_ts),
                    "{what}"
                );
            }
        }
    }
    assert!(crashes >= 20, "only {crashes} repairs hit a fault");
}

#[test]
fn repair_on_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new(dir.path()));
    let (all, locs) = build_log(&storage, 700, &[2, 3, 1, 4, 2, 3, 2, 1, 3]);
    let victim = locs[3].clone();
    let path = dir.path().join(&victim.segment);
    let mut bytes = std::fs::read(&path).unwrap();
    let original_tail = {
        bytes[victim.offset as usize + 20] ^= 0x40;
        bytes[victim.offset as usize..].to_vec()
    };
    std::fs::write(&path, &bytes).unwrap();
    let later: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.as_str() > victim.segment.as_str())
            .collect();
        v.sort();
        v
    };
    let report = repair(&*storage).unwrap();
    assert_eq!(report.moved.len(), 1 + later.len());
    assert_eq!(
        std::fs::read(dir.path().join(format!("{}.broken", victim.segment))).unwrap(),
        original_tail
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        victim.offset,
        "the segment was not cut at the damage"
    );
    for l in &later {
        assert!(!dir.path().join(l).exists());
        assert!(dir.path().join(format!("{l}.broken")).exists());
    }
    assert!(!dir
        .path()
        .join(format!("{}.broken.tmp", victim.segment))
        .exists());
    assert_eq!(
        read_all(&*storage).unwrap(),
        entries_before(&all, victim.first_ts)
    );
    let (_, rec) = LogWriter::open(storage.clone(), WriterOptions::default()).unwrap();
    assert_eq!(rec.next_ts, victim.first_ts);
}
