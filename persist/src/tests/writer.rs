//! The writer: appending, rotation, syncing, poisoning, recovery on open
//! ([`crate::writer`]).

use crate::record::{Hash, LogEntry};
use crate::segment::SEGMENT_HEADER_LEN;
use crate::storage::Storage;
use crate::PersistError;
use std::sync::Arc;

use crate::reader::{for_each_entry, read_log, scan, ReadOptions};
use crate::record::encode_batch_payload;
use crate::segment::{segment_name, SegmentHeader, GENESIS_HASH};
use crate::storage::FileStorage;
use crate::storage::{CrashMode, Fault, FaultPlan, FaultyStorage, Op};
use crate::tests::support::{read_all, sample_batch};
use crate::writer::*;

fn faulty(plan: FaultPlan) -> (FaultyStorage, Arc<dyn Storage>) {
    let disk = FaultyStorage::with_plan(plan);
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());
    (disk, storage)
}

fn opts(segment_size: u64) -> WriterOptions {
    WriterOptions {
        segment_size,
        verify_batches: true,
    }
}

/// Appends a sample batch at the writer's next timestamp; returns its entries.
fn append(w: &mut LogWriter, count: u32) -> Result<Vec<LogEntry>, PersistError> {
    let ts = w.next_ts();
    let (entries, payload) = sample_batch(ts, count);
    w.append_batch(ts, count, &payload)?;
    Ok(entries)
}

#[test]
fn empty_log_starts_at_timestamp_one_and_creates_nothing() {
    let (disk, storage) = faulty(FaultPlan::none());
    let (mut w, rec) = LogWriter::open(storage, opts(1 << 20)).unwrap();
    assert_eq!((rec.next_ts, rec.last_hash), (1, GENESIS_HASH));
    assert_eq!((rec.batches, rec.entries), (0, 0));
    assert!(rec.segments.is_empty() && rec.torn_tail.is_none());
    assert_eq!(w.next_ts(), 1);
    assert_eq!(w.durable_ts(), 0);
    assert_eq!(w.current_segment(), None);
    w.sync().unwrap();
    assert!(disk.names().is_empty());
    assert_eq!(rec.replay(|_| Ok::<(), PersistError>(())).unwrap(), 0);
}

fn roundtrip_across_rotation(storage: Arc<dyn Storage>) {
    let (mut w, _) = LogWriter::open(storage.clone(), opts(700)).unwrap();
    let mut all = Vec::new();
    let mut hashes = Vec::new();
    for i in 0..25u32 {
        all.extend(append(&mut w, 1 + i % 4).unwrap());
        hashes.push(w.last_hash());
        if i % 5 == 4 {
            w.sync().unwrap();
            assert_eq!(w.durable_ts(), all.len() as u64);
        }
    }
    w.sync().unwrap();
    assert!(!w.has_unsynced());
    let last_hash = w.last_hash();
    drop(w);

    // Several segments, each named by the first timestamp it holds, each
    // within the size limit, each header chained to the batch before it.
    let mut per_segment: Vec<(String, u64, Hash)> = Vec::new();
    let mut prev = GENESIS_HASH;
    read_log(&*storage, &ReadOptions::default(), |b| {
        if per_segment.last().map(|s| s.0.as_str()) != Some(b.segment) {
            per_segment.push((b.segment.to_owned(), b.first_ts, prev));
        }
        prev = b.hash;
        Ok::<(), PersistError>(())
    })
    .unwrap();
    assert!(per_segment.len() >= 4, "{per_segment:?}");
    for (name, first_ts, prev_hash) in &per_segment {
        assert_eq!(name, &segment_name(*first_ts));
        let data = storage.read(name).unwrap();
        let h = SegmentHeader::decode(&data).unwrap();
        assert_eq!((h.first_ts, h.prev_hash), (*first_ts, *prev_hash));
        assert!(data.len() <= 700, "{name} is {} bytes", data.len());
    }

    let mut replayed = Vec::new();
    let (w, rec) = LogWriter::open_replaying(
        storage.clone(),
        opts(700),
        None,
        for_each_entry(|e| {
            replayed.push(e);
            Ok::<(), PersistError>(())
        }),
    )
    .unwrap();
    assert_eq!(replayed, all);
    assert_eq!(rec.next_ts, all.len() as u64 + 1);
    assert_eq!(rec.last_hash, last_hash);
    assert_eq!(rec.last_hash, *hashes.last().unwrap());
    assert_eq!(rec.batches, 25);
    assert_eq!(rec.entries, all.len() as u64);
    assert_eq!(w.durable_ts(), all.len() as u64);
    assert_eq!(
        w.current_segment(),
        Some(per_segment.last().unwrap().0.as_str())
    );
    let mut again = Vec::new();
    let n = rec
        .replay(|e| {
            again.push(e);
            Ok::<(), PersistError>(())
        })
        .unwrap();
    assert_eq!(n, all.len() as u64);
    assert_eq!(again, all);
}

#[test]
fn roundtrip_across_rotation_in_memory() {
    let (_, storage) = faulty(FaultPlan::none());
    roundtrip_across_rotation(storage);
}

#[test]
fn roundtrip_across_rotation_on_files() {
    let dir = tempfile::tempdir().unwrap();
    roundtrip_across_rotation(Arc::new(FileStorage::new(dir.path())));
}

#[test]
fn appending_continues_after_reopen() {
    let (_, storage) = faulty(FaultPlan::none());
    let (mut w, _) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    let mut all = append(&mut w, 3).unwrap();
    w.sync().unwrap();
    drop(w);
    let (mut w, rec) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    assert_eq!(rec.next_ts, 4);
    all.extend(append(&mut w, 2).unwrap());
    w.sync().unwrap();
    assert_eq!(read_all(&*storage).unwrap(), all);
    assert_eq!(storage.list().unwrap().len(), 1);
}

#[test]
fn bad_batches_are_refused_without_poisoning() {
    let (_, storage) = faulty(FaultPlan::none());
    let (mut w, _) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    let (_, payload) = sample_batch(2, 1);
    let err = w.append_batch(2, 1, &payload).unwrap_err();
    assert!(
        matches!(
            err,
            PersistError::OutOfOrder {
                expected: 1,
                got: 2
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("expects timestamp 1"), "{err}");
    let err = w.append_batch(1, 0, &[]).unwrap_err();
    assert!(matches!(err, PersistError::InvalidBatch { .. }), "{err:?}");
    // The payload's entries say ts 2, the batch says 1.
    let err = w.append_batch(1, 1, &payload).unwrap_err();
    assert!(err.to_string().contains("expected 1"), "{err}");
    // Count disagrees with the payload.
    let (_, two) = sample_batch(1, 2);
    assert!(w.append_batch(1, 1, &two).is_err());
    assert!(w.poisoned().is_none());
    append(&mut w, 2).unwrap();
    w.sync().unwrap();
    assert_eq!(read_all(&*storage).unwrap().len(), 2);
}

#[test]
fn failed_fsync_poisons_the_writer() {
    // Sync #1 is the new segment's header; #2 is our first sync.
    let (disk, storage) = faulty(FaultPlan::none().fail_nth(Op::Sync, 2, Fault::Error));
    let (mut w, _) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    append(&mut w, 2).unwrap();
    let err = w.sync().unwrap_err();
    assert!(matches!(err, PersistError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&segment_name(1)), "{err}");
    assert_eq!(w.durable_ts(), 0);
    // Sync #3 would succeed, but the writer must not try.
    let err = w.sync().unwrap_err();
    assert!(matches!(err, PersistError::Poisoned { .. }), "{err:?}");
    assert!(err.to_string().contains("injected I/O error"), "{err}");
    let err = append(&mut w, 1).unwrap_err();
    assert!(matches!(err, PersistError::Poisoned { .. }), "{err:?}");
    assert_eq!(disk.count(Op::Sync), 2);
    assert!(w.poisoned().is_some());
}

#[test]
fn short_write_poisons_and_reopen_cuts_the_partial_batch() {
    let mut cuts = 0;
    for seed in 0..16 {
        // Write #1 is the header, #2–#3 two batches, #4 is torn.
        let plan = FaultPlan::seeded(seed).fail_nth(Op::Write, 4, Fault::ShortWrite);
        let (disk, storage) = faulty(plan);
        let (mut w, _) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
        let mut good = append(&mut w, 2).unwrap();
        good.extend(append(&mut w, 1).unwrap());
        let len_before = disk.file(&segment_name(1)).unwrap().len();
        let err = append(&mut w, 3).unwrap_err();
        assert!(matches!(err, PersistError::Io { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!("at byte {len_before}")),
            "{err}"
        );
        assert!(matches!(w.sync(), Err(PersistError::Poisoned { .. })));
        drop(w);

        disk.clear_faults();
        let (w, rec) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
        let partial = disk.injected()[0].clone();
        assert_eq!(partial.op, Op::Write);
        if let Some(t) = &rec.torn_tail {
            assert_eq!(t.offset, len_before as u64);
            cuts += 1;
        }
        assert_eq!(w.next_ts(), 4);
        assert_eq!(read_all(&*storage).unwrap(), good);
        assert_eq!(disk.file(&segment_name(1)).unwrap().len(), len_before);
    }
    // Most short writes leave a partial record (a zero-byte one leaves none).
    assert!(cuts >= 12, "{cuts} of 16");
}

#[test]
fn no_space_poisons_the_writer() {
    let (disk, storage) = faulty(FaultPlan::none());
    let (mut w, _) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    let good = append(&mut w, 1).unwrap();
    w.sync().unwrap();
    disk.set_capacity(Some(disk.file(&segment_name(1)).unwrap().len() as u64 + 10));
    let err = append(&mut w, 2).unwrap_err();
    match &err {
        PersistError::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::StorageFull)
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(matches!(
        append(&mut w, 1),
        Err(PersistError::Poisoned { .. })
    ));
    drop(w);
    disk.set_capacity(None);
    let (_, rec) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    assert_eq!(rec.torn_tail.map(|t| t.bytes), Some(10));
    assert_eq!(read_all(&*storage).unwrap(), good);
}

#[test]
fn crash_drops_unsynced_batches_and_reopen_sees_the_synced_prefix() {
    let (disk, storage) = faulty(FaultPlan::none());
    let (mut w, _) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    let mut synced = append(&mut w, 2).unwrap();
    synced.extend(append(&mut w, 3).unwrap());
    w.sync().unwrap();
    let durable = w.durable_ts();
    assert_eq!(durable, 5);
    append(&mut w, 4).unwrap();
    append(&mut w, 1).unwrap();
    disk.crash(CrashMode::DropUnsynced);
    // The old writer's handle is stale: it cannot write after the crash.
    assert!(append(&mut w, 1).is_err());
    drop(w);

    let (w, rec) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    assert_eq!(rec.next_ts, durable + 1);
    assert_eq!(rec.torn_tail, None);
    assert_eq!(w.durable_ts(), durable);
    assert_eq!(read_all(&*storage).unwrap(), synced);
}

#[test]
fn rotation_syncs_the_previous_segment() {
    let (disk, storage) = faulty(FaultPlan::none());
    let (mut w, _) = LogWriter::open(storage.clone(), opts(400)).unwrap();
    let mut first = Vec::new();
    while w.current_segment() == Some(segment_name(1).as_str()) || w.current_segment().is_none() {
        first.extend(append(&mut w, 1).unwrap());
    }
    // The batch that rotated is in the new segment, unsynced.
    let rotated_at = first.pop().unwrap().ts();
    assert_eq!(w.current_segment(), Some(segment_name(rotated_at).as_str()));
    assert_eq!(w.durable_ts(), rotated_at - 1);
    disk.crash(CrashMode::DropUnsynced);
    let (_, rec) = LogWriter::open(storage.clone(), opts(400)).unwrap();
    assert_eq!(rec.next_ts, rotated_at);
    assert_eq!(read_all(&*storage).unwrap(), first);
    // The new segment's header was synced: it survives, empty.
    assert_eq!(
        disk.file(&segment_name(rotated_at)).unwrap().len(),
        SEGMENT_HEADER_LEN
    );
}

#[test]
fn process_crash_keeps_written_batches_and_reopen_makes_them_durable() {
    let (disk, storage) = faulty(FaultPlan::none());
    let (mut w, _) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    let all = append(&mut w, 3).unwrap();
    disk.crash(CrashMode::KeepAll);
    drop(w);
    let (w, rec) = LogWriter::open(storage.clone(), opts(1 << 20)).unwrap();
    assert_eq!(rec.next_ts, 4);
    assert_eq!(w.durable_ts(), 3);
    // Recovered bytes were synced on open: a power loss now keeps them.
    disk.crash(CrashMode::DropUnsynced);
    assert_eq!(read_all(&*storage).unwrap(), all);
}

#[test]
fn failures_while_starting_a_segment_poison_and_recover() {
    // Fail the header write, the header sync, or the directory sync of create.
    let plans = [
        FaultPlan::seeded(3).fail_nth(Op::Write, 3, Fault::ShortWrite),
        FaultPlan::none().fail_nth(Op::Sync, 3, Fault::Error),
        FaultPlan::none().fail_nth(Op::Create, 2, Fault::Error),
    ];
    for plan in plans {
        let (disk, storage) = faulty(plan.clone());
        let (mut w, _) = LogWriter::open(storage.clone(), opts(200)).unwrap();
        // Batch 1 fills segment 1 (write #2); batch 2 needs a new segment.
        let kept = append(&mut w, 1).unwrap();
        assert!(append(&mut w, 1).is_err(), "{plan:?}");
        assert!(matches!(
            append(&mut w, 1),
            Err(PersistError::Poisoned { .. })
        ));
        drop(w);
        disk.crash(CrashMode::TornUnsynced);
        disk.clear_faults();
        let (mut w, rec) = LogWriter::open(storage.clone(), opts(200)).unwrap();
        assert_eq!(rec.next_ts, 2, "{plan:?}");
        assert_eq!(read_all(&*storage).unwrap(), kept);
        append(&mut w, 1).unwrap();
        w.sync().unwrap();
        assert_eq!(scan(&*storage).unwrap().next_ts, 3);
    }
}

/// Model-based: random appends, syncs and crashes with random faults. After
/// every crash, the log must hold a prefix of what was appended that
/// includes everything acknowledged as durable.
#[test]
fn random_faults_and_crashes_never_lose_synced_batches() {
    let (mut faults, mut torn_cuts, mut max_durable) = (0, 0, 0);
    for seed in 0..40u64 {
        let plan = FaultPlan::seeded(seed)
            .fail_randomly(Op::Write, 0.05, Fault::ShortWrite)
            .fail_randomly(Op::Sync, 0.05, Fault::Error)
            .fail_randomly(Op::Create, 0.05, Fault::Error);
        let (disk, storage) = faulty(plan.clone());
        let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut appended: Vec<LogEntry> = Vec::new();
        let mut durable = 0u64;
        let mut writer: Option<LogWriter> = None;
        for step in 0..120 {
            if writer.is_none() {
                match LogWriter::open(storage.clone(), opts(500)) {
                    Ok((w, rec)) => {
                        let log = read_all(&*storage).unwrap();
                        assert!(
                            rec.next_ts > durable,
                            "seed {seed} step {step}: lost durable data"
                        );
                        assert_eq!(log.as_slice(), &appended[..log.len()], "seed {seed}");
                        appended.truncate(log.len());
                        durable = durable.max(rec.next_ts - 1);
                        torn_cuts += usize::from(rec.torn_tail.is_some());
                        writer = Some(w);
                    }
                    // Opening does I/O too (syncs): faults can hit it.
                    Err(PersistError::Io { .. }) => continue,
                    Err(e) => panic!("seed {seed} step {step}: {e}"),
                }
            }
            let Some(w) = writer.as_mut() else {
                continue;
            };
            match next() % 10 {
                0..=5 => {
                    let count = 1 + (next() % 3) as u32;
                    let ts = w.next_ts();
                    let (entries, payload) = sample_batch(ts, count);
                    if w.append_batch(ts, count, &payload).is_ok() {
                        appended.extend(entries);
                    }
                }
                6..=8 => {
                    if w.sync().is_ok() {
                        durable = w.durable_ts();
                        assert_eq!(durable, appended.len() as u64);
                    }
                }
                _ => {
                    let mode = match next() % 3 {
                        0 => CrashMode::DropUnsynced,
                        1 => CrashMode::TornUnsynced,
                        _ => CrashMode::TornZeroFill,
                    };
                    disk.crash(mode);
                    writer = None;
                }
            }
            if writer.as_ref().is_some_and(|w| w.poisoned().is_some()) {
                // A poisoned writer is dropped; the runtime would restart.
                disk.crash(CrashMode::TornUnsynced);
                writer = None;
            }
        }
        disk.crash(CrashMode::DropUnsynced);
        disk.clear_faults();
        let (_, rec) = LogWriter::open(storage.clone(), opts(500)).unwrap();
        assert!(rec.next_ts > durable, "seed {seed}");
        let log = read_all(&*storage).unwrap();
        assert_eq!(log.as_slice(), &appended[..log.len()], "seed {seed}");
        faults += disk.injected().len();
        max_durable = max_durable.max(durable);
    }
    // The run exercised what it claims to.
    assert!(faults > 40, "only {faults} faults injected");
    assert!(torn_cuts > 5, "only {torn_cuts} torn tails cut");
    assert!(max_durable > 20, "logs stayed tiny: {max_durable}");
}

/// The worked example of docs/LOG_FORMAT.md §8, byte for byte.
#[test]
fn genesis_segment_matches_the_documented_example() {
    let (disk, storage) = faulty(FaultPlan::none());
    let (mut w, _) = LogWriter::open(storage, opts(1 << 20)).unwrap();
    let entry = LogEntry::Commit(crate::tests::support::documented_commit());
    let payload = encode_batch_payload(&[entry]);
    w.append_batch(1, 1, &payload).unwrap();
    w.sync().unwrap();
    let hex: String = disk
        .file("00000000000000000001.log")
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let expected = concat!(
        // Segment header.
        "494e545253544345", // "INTRSTCE"
        "01000000",         // version 1
        "00000000",         // reserved
        "0100000000000000", // first_ts 1
        "0000000000000000000000000000000000000000000000000000000000000000", // prev_hash
        "a3fc5a84cb589337", // checksum
        // Batch header.
        "43544142",                                                         // "CTAB"
        "34000000",                                                         // payload_len 52
        "0100000000000000",                                                 // first_ts 1
        "01000000",                                                         // count 1
        "020861320ac7cc593dfbbd298c116af664acd12fa8c5343cf2822844254f7dc2", // hash
        // Payload: one commit entry.
        "8b0101616d5820",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "61724180810080820041f68080",
    );
    assert_eq!(hex, expected);
}
