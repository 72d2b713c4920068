//! Strict reads and [`crate::check`]: clean logs, torn tails at every byte,
//! damage classified and located ([`crate::reader`]).

use crate::record::LogEntry;
use crate::segment::{parse_segment_name, SegmentHeader, SEGMENT_HEADER_LEN};
use crate::storage::Storage;
use crate::PersistError;
use std::sync::Arc;

use crate::reader::*;
use crate::segment::segment_name;
use crate::storage::FaultyStorage;
use crate::tests::support::{build_log, read_all, sample_batch, BatchLoc};
use crate::writer::{LogWriter, WriterOptions};

fn faulty() -> (FaultyStorage, Arc<dyn Storage>) {
    let disk = FaultyStorage::new();
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());
    (disk, storage)
}

fn corrupt_at(err: PersistError) -> (String, u64, Option<u64>, String) {
    match err {
        PersistError::Corrupt {
            segment,
            offset,
            ts,
            reason,
        } => (segment, offset, ts, reason),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

fn entries_before(all: &[LogEntry], ts: u64) -> Vec<LogEntry> {
    all.iter().filter(|e| e.ts() < ts).cloned().collect()
}

#[test]
fn empty_log_reads_as_empty() {
    let (_, storage) = faulty();
    let s = scan(&*storage).unwrap();
    assert_eq!(s, LogSummary::empty());
    assert!(check(&*storage, None).is_empty());
}

#[test]
fn clean_log_reads_back_and_checks_clean() {
    let (disk, storage) = faulty();
    let (all, locs) = build_log(&storage, 600, &[1, 3, 2, 5, 1, 4, 2]);
    assert!(
        disk.names().len() > 1,
        "expected rotation: {:?}",
        disk.names()
    );
    assert_eq!(read_all(&*storage).unwrap(), all);
    let s = scan(&*storage).unwrap();
    assert_eq!(s.next_ts, all.len() as u64 + 1);
    assert_eq!(s.batches, locs.len() as u64);
    assert_eq!(s.entries, all.len() as u64);
    assert_eq!(s.torn_tail, None);
    assert!(check(&*storage, None).is_empty());
    // Non-segment files are ignored.
    disk.put("notes.txt", b"hello".to_vec());
    assert_eq!(read_all(&*storage).unwrap(), all);
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record_is_cut() {
    let counts = [2, 3, 4];
    let (base, storage) = faulty();
    let (all, locs) = build_log(&storage, 1 << 20, &counts);
    let last = locs.last().unwrap().clone();
    let full = base.file(&last.segment).unwrap();
    assert_eq!(full.len() as u64, last.offset + last.len);

    for cut in last.offset + 1..last.offset + last.len {
        let (disk, storage) = faulty();
        disk.put(&last.segment, full[..cut as usize].to_vec());
        let s = scan(&*storage).unwrap();
        let torn = s.torn_tail.clone().expect("torn tail");
        assert_eq!(torn.segment, last.segment);
        assert_eq!(torn.offset, last.offset, "cut at {cut}");
        assert_eq!(torn.bytes, cut - last.offset);
        assert_eq!(s.next_ts, last.first_ts);

        let (w, rec) = LogWriter::open(storage.clone(), WriterOptions::default()).unwrap();
        assert_eq!(rec.torn_tail.as_ref(), Some(&torn));
        assert_eq!(w.next_ts(), last.first_ts);
        assert_eq!(
            disk.file(&last.segment).unwrap().len() as u64,
            last.offset,
            "cut at {cut}"
        );
        let after = scan(&*storage).unwrap();
        assert_eq!(after.torn_tail, None);
        assert_eq!(
            read_all(&*storage).unwrap(),
            entries_before(&all, last.first_ts)
        );
    }
}

#[test]
fn a_complete_final_batch_that_fails_verification_is_corrupt_not_torn() {
    let (base, storage) = faulty();
    let (all, locs) = build_log(&storage, 1 << 20, &[2, 2]);
    let last = locs.last().unwrap().clone();
    let original = base.file(&last.segment).unwrap();
    // A payload byte, the hash, first_ts, count (to 0 and to another
    // value), the marker, payload_len up (past the end) and down.
    let edits: [(u64, u8); 9] = [
        (last.len - 1, 0x01),
        (last.len - 20, 0x80),
        (30, 0x04),
        (8, 0x01),
        (16, last.count as u8),
        (16, 0x08),
        (0, 0x01),
        (5, 0x01),
        (4, 0x01),
    ];
    for (rel, mask) in edits {
        let (disk, storage) = faulty();
        let mut bytes = original.clone();
        bytes[(last.offset + rel) as usize] ^= mask;
        disk.put(&last.segment, bytes.clone());
        let err = scan(&*storage).unwrap_err();
        let msg = err.to_string();
        let (segment, offset, ts, reason) = corrupt_at(err);
        assert_eq!(
            (segment.as_str(), offset, ts),
            (last.segment.as_str(), last.offset, Some(last.first_ts)),
            "byte +{rel}: {msg}"
        );
        assert!(reason.contains("not a torn write"), "byte +{rel}: {msg}");
        // Opening for writing refuses and cuts nothing.
        let err = LogWriter::open(storage.clone(), WriterOptions::default()).unwrap_err();
        assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
        assert_eq!(disk.file(&last.segment).unwrap(), bytes);
        assert_eq!(
            check(&*storage, None)
                .iter()
                .map(|p| p.kind)
                .collect::<Vec<_>>(),
            vec![ProblemKind::Corrupt],
            "byte +{rel}"
        );
        // `check-log --repair` is the way out: it moves the batch aside.
        let report = crate::repair(&*storage).unwrap();
        assert_eq!(report.moved[0].offset, last.offset, "byte +{rel}");
        LogWriter::open(storage.clone(), WriterOptions::default()).unwrap();
        assert_eq!(
            read_all(&*storage).unwrap(),
            entries_before(&all, last.first_ts)
        );
    }
}

#[test]
fn bytes_without_a_marker_after_the_last_batch_are_torn() {
    // Where no record was written yet a crash can leave stale blocks.
    let (disk, storage) = faulty();
    let (all, _) = build_log(&storage, 1 << 20, &[2, 2]);
    let name = segment_name(1);
    let len = disk.file(&name).unwrap().len() as u64;
    disk.modify(&name, |d| {
        d.extend((0..100u8).map(|i| i.wrapping_mul(37) ^ 0xa5));
    });
    let torn = scan(&*storage).unwrap().torn_tail.unwrap();
    assert_eq!((torn.offset, torn.bytes), (len, 100));
    assert!(torn.reason.contains("bad batch marker"), "{}", torn.reason);
    LogWriter::open(storage.clone(), WriterOptions::default()).unwrap();
    assert_eq!(read_all(&*storage).unwrap(), all);
}

#[test]
fn a_zero_filled_tail_is_torn() {
    // Zeros after the valid records (the file grew, the data never landed).
    let (disk, storage) = faulty();
    let (all, _) = build_log(&storage, 1 << 20, &[2, 2]);
    let name = segment_name(1);
    let len = disk.file(&name).unwrap().len() as u64;
    disk.modify(&name, |d| d.extend_from_slice(&[0; 100]));
    let s = scan(&*storage).unwrap();
    let torn = s.torn_tail.unwrap();
    assert_eq!((torn.offset, torn.bytes), (len, 100));
    assert!(torn.reason.contains("bad batch marker"), "{}", torn.reason);
    assert_eq!(read_all(&*storage).unwrap(), all);

    // A final record whose header landed but whose payload reads as zeros
    // from a sector boundary on, or that is zeros from its first byte.
    let (base, storage) = faulty();
    let (all, locs) = build_log(&storage, 1 << 20, &[2, 12]);
    let last = locs.last().unwrap().clone();
    let end = last.offset + last.len;
    let sector = crate::storage::TORN_WRITE_SECTOR;
    let in_payload = (last.offset + 52).next_multiple_of(sector);
    assert!(
        in_payload < end,
        "the final batch should span a sector boundary"
    );
    for zeros_from in [in_payload, last.offset] {
        let (disk, storage) = faulty();
        let mut bytes = base.file(&last.segment).unwrap();
        bytes[zeros_from as usize..].fill(0);
        disk.put(&last.segment, bytes);
        let s = scan(&*storage).unwrap();
        let torn = s.torn_tail.clone().expect("torn");
        assert_eq!(
            (torn.offset, torn.bytes),
            (last.offset, last.len),
            "zeros from {zeros_from}"
        );
        let (_, rec) = LogWriter::open(storage.clone(), WriterOptions::default()).unwrap();
        assert_eq!(rec.torn_tail, Some(torn));
        assert_eq!(
            read_all(&*storage).unwrap(),
            entries_before(&all, last.first_ts)
        );
    }

    // Zeros that start mid-sector and do not reach a sector boundary (the
    // record's last bytes) are not what a torn write leaves: damage.
    let zeros_from = end - 3;
    assert!(zeros_from.next_multiple_of(sector) >= end);
    let (disk, storage) = faulty();
    let mut bytes = base.file(&last.segment).unwrap();
    bytes[zeros_from as usize..].fill(0);
    disk.put(&last.segment, bytes);
    let (_, offset, _, reason) = corrupt_at(scan(&*storage).unwrap_err());
    assert_eq!(offset, last.offset);
    assert!(reason.contains("not a torn write"), "{reason}");
}

#[test]
fn torn_header_of_the_last_segment_removes_it() {
    let (base, storage) = faulty();
    let (all, locs) = build_log(&storage, 300, &[3, 3, 3, 3]);
    let segs = base.names();
    assert!(segs.len() >= 2, "{segs:?}");
    let last_seg = segs.last().unwrap().clone();
    let header = base.file(&last_seg).unwrap()[..SEGMENT_HEADER_LEN].to_vec();
    let first_in_last = locs
        .iter()
        .find(|l| l.segment == last_seg)
        .unwrap()
        .first_ts;

    for cut in 0..SEGMENT_HEADER_LEN {
        let (disk, storage) = faulty();
        for name in &segs[..segs.len() - 1] {
            disk.put(name, base.file(name).unwrap());
        }
        disk.put(&last_seg, header[..cut].to_vec());
        let s = scan(&*storage).unwrap();
        let torn = s.torn_tail.clone().unwrap();
        assert_eq!((torn.segment.as_str(), torn.offset), (last_seg.as_str(), 0));
        assert_eq!(s.next_ts, first_in_last);

        let (mut w, rec) = LogWriter::open(storage.clone(), WriterOptions::default()).unwrap();
        assert!(rec.torn_tail.is_some());
        assert!(!disk.names().contains(&last_seg), "cut at {cut}");
        assert_eq!(
            read_all(&*storage).unwrap(),
            entries_before(&all, first_in_last)
        );
        // The writer carries on, recreating the segment.
        let (_, payload) = sample_batch(first_in_last, 1);
        w.append_batch(first_in_last, 1, &payload).unwrap();
        w.sync().unwrap();
        assert_eq!(scan(&*storage).unwrap().next_ts, first_in_last + 1);
    }
}

/// Flips bit 0 of byte `at` of `segment`.
fn flip(disk: &FaultyStorage, segment: &str, at: u64) {
    assert!(disk.modify(segment, |d| d[at as usize] ^= 1));
}

#[test]
fn flipped_bit_in_a_non_last_segment_is_corrupt_with_its_location() {
    let (base, storage) = faulty();
    let (_, locs) = build_log(&storage, 400, &[2, 2, 2, 2, 2, 2]);
    let segs = base.names();
    assert!(segs.len() >= 3, "{segs:?}");
    // The last batch of the first segment, and a batch in the middle one.
    let targets: Vec<BatchLoc> = [&segs[0], &segs[1]]
        .iter()
        .map(|s| locs.iter().rfind(|l| &&l.segment == s).unwrap().clone())
        .collect();
    for target in targets {
        for rel in [0, 5, 9, 17, 30, 51, 52, target.len - 1] {
            let (disk, storage) = faulty();
            for name in &segs {
                disk.put(name, base.file(name).unwrap());
            }
            flip(&disk, &target.segment, target.offset + rel);
            let err = scan(&*storage).unwrap_err();
            let msg = err.to_string();
            let (segment, offset, ts, _) = corrupt_at(err);
            assert_eq!(segment, target.segment, "flip at +{rel}: {msg}");
            assert_eq!(offset, target.offset, "flip at +{rel}: {msg}");
            assert_eq!(ts, Some(target.first_ts), "flip at +{rel}: {msg}");
            assert!(msg.contains(&target.segment), "{msg}");
            assert!(msg.contains(&format!("byte {}", target.offset)), "{msg}");
            // And opening for writing refuses.
            let err = LogWriter::open(storage.clone(), WriterOptions::default()).unwrap_err();
            assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
            assert_eq!(
                disk.file(&target.segment).unwrap().len(),
                base.file(&target.segment).unwrap().len()
            );
        }
    }
}

#[test]
fn damaged_record_followed_by_valid_data_in_the_last_segment_is_corrupt() {
    let (disk, storage) = faulty();
    let (_, locs) = build_log(&storage, 1 << 20, &[2, 2, 2]);
    let mid = locs[1].clone();
    // Payload damage, header damage (payload_len) and marker damage.
    for rel in [60, 5, 0] {
        let before = disk.file(&mid.segment).unwrap();
        flip(&disk, &mid.segment, mid.offset + rel);
        let err = scan(&*storage).unwrap_err();
        let msg = err.to_string();
        let (segment, offset, ts, reason) = corrupt_at(err);
        assert_eq!(
            (segment.as_str(), offset, ts),
            (mid.segment.as_str(), mid.offset, Some(mid.first_ts))
        );
        assert!(
            reason.contains(&format!("a valid batch follows at byte {}", locs[2].offset)),
            "{msg}"
        );
        disk.put(&mid.segment, before);
    }
}

#[test]
fn header_damage_gap_and_broken_chain_are_corrupt() {
    let (base, storage) = faulty();
    build_log(&storage, 300, &[3, 3, 3, 3, 3]);
    let segs = base.names();
    assert!(segs.len() >= 3, "{segs:?}");
    let stage = |skip: Option<&str>| {
        let (disk, storage) = faulty();
        for name in &segs {
            if Some(name.as_str()) != skip {
                disk.put(name, base.file(name).unwrap());
            }
        }
        (disk, storage)
    };

    // A flipped bit in a non-last segment header.
    let (disk, storage) = stage(None);
    flip(&disk, &segs[1], 30);
    let (segment, offset, _, reason) = corrupt_at(scan(&*storage).unwrap_err());
    assert_eq!((segment.as_str(), offset), (segs[1].as_str(), 0));
    assert!(reason.contains("checksum"), "{reason}");

    // A missing middle segment: a timestamp gap.
    let (_, storage) = stage(Some(&segs[1]));
    let (segment, _, ts, reason) = corrupt_at(scan(&*storage).unwrap_err());
    assert_eq!(segment, segs[2]);
    assert_eq!(ts, parse_segment_name(&segs[1]));
    assert!(
        reason.contains("timestamp gap between segments"),
        "{reason}"
    );

    // A missing first segment.
    let (_, storage) = stage(Some(&segs[0]));
    let (segment, _, _, reason) = corrupt_at(scan(&*storage).unwrap_err());
    assert_eq!(segment, segs[1]);
    assert!(reason.contains("earlier segments missing"), "{reason}");

    // A header whose prev_hash is rewritten (with a valid checksum).
    let (disk, storage) = stage(None);
    let ts = parse_segment_name(&segs[2]).unwrap();
    disk.modify(&segs[2], |d| {
        d[..SEGMENT_HEADER_LEN].copy_from_slice(&SegmentHeader::new(ts, [5; 32]).encode())
    });
    let (segment, offset, _, reason) = corrupt_at(scan(&*storage).unwrap_err());
    assert_eq!((segment.as_str(), offset), (segs[2].as_str(), 24));
    assert!(reason.contains("broken hash chain"), "{reason}");

    // A file name that disagrees with its header.
    let last = segs.last().unwrap();
    let (disk, storage) = stage(Some(last));
    let last_ts = parse_segment_name(last).unwrap();
    disk.put(&segment_name(last_ts + 1000), base.file(last).unwrap());
    let (_, offset, _, reason) = corrupt_at(scan(&*storage).unwrap_err());
    assert_eq!(offset, 16);
    assert!(reason.contains("the file name says"), "{reason}");
}

#[test]
fn unknown_version_is_a_clear_error() {
    let (disk, storage) = faulty();
    build_log(&storage, 1 << 20, &[1]);
    let name = segment_name(1);
    disk.modify(&name, |d| {
        d[8] = 2;
        let c = blake3::hash(&d[..56]);
        d[56..64].copy_from_slice(&c.as_bytes()[..8]);
    });
    let err = scan(&*storage).unwrap_err();
    assert!(
        matches!(&err, PersistError::UnsupportedVersion { segment, version: 2 } if *segment == name),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("this build reads version 1"),
        "{err}"
    );
    let problems = check(&*storage, None);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].kind, ProblemKind::UnsupportedVersion);
}

#[test]
fn a_verified_batch_with_bad_entries_is_corrupt_even_at_the_end() {
    let (disk, storage) = faulty();
    let opts = WriterOptions {
        segment_size: 1 << 20,
        verify_batches: false,
    };
    let (mut w, _) = LogWriter::open(storage.clone(), opts).unwrap();
    let (_, good) = sample_batch(1, 2);
    w.append_batch(1, 2, &good).unwrap();
    // Claims to start at 3 but its entries say 7, 8.
    let (_, wrong) = sample_batch(7, 2);
    w.append_batch(3, 2, &wrong).unwrap();
    w.sync().unwrap();
    let err = scan(&*storage).unwrap_err();
    let msg = err.to_string();
    let (_, _, ts, reason) = corrupt_at(err);
    assert_eq!(ts, Some(3));
    assert!(reason.contains("has timestamp 7, expected 3"), "{msg}");
    assert_eq!(disk.names().len(), 1);
}

#[test]
fn check_reports_every_problem_and_keeps_going() {
    let (base, storage) = faulty();
    let (_, locs) = build_log(&storage, 400, &[2, 2, 2, 2, 2, 2, 2]);
    let segs = base.names();
    assert!(segs.len() >= 3, "{segs:?}");
    let in_first = locs.iter().find(|l| l.segment == segs[0]).unwrap().clone();
    let in_second = locs.iter().rfind(|l| l.segment == segs[1]).unwrap().clone();
    flip(&base, &in_first.segment, in_first.offset + 60);
    flip(&base, &in_second.segment, in_second.offset + 1);
    let last = segs.last().unwrap();
    base.modify(last, |d| d.extend_from_slice(&[0xff; 10]));

    let problems = check(&*storage, None);
    let summary: Vec<(ProblemKind, Option<&str>, u64)> = problems
        .iter()
        .map(|p| (p.kind, p.segment.as_deref(), p.offset))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                ProblemKind::Corrupt,
                Some(segs[0].as_str()),
                in_first.offset
            ),
            (
                ProblemKind::Corrupt,
                Some(segs[1].as_str()),
                in_second.offset
            ),
            (
                ProblemKind::TornTail,
                Some(last.as_str()),
                base.file(last).unwrap().len() as u64 - 10
            ),
        ],
        "{problems:#?}"
    );
    assert!(problems[0].to_string().starts_with("corrupt: log segment"));
    // The strict reader stops at the first.
    let (segment, offset, _, _) = corrupt_at(scan(&*storage).unwrap_err());
    assert_eq!(
        (segment.as_str(), offset),
        (segs[0].as_str(), in_first.offset)
    );
}

#[test]
fn read_errors_are_reported_with_the_segment() {
    use crate::storage::{Fault, FaultPlan, Op};
    let (disk, storage) = faulty();
    build_log(&storage, 1 << 20, &[1]);
    disk.set_plan(FaultPlan::none().fail_nth(Op::Read, disk.count(Op::Read) + 1, Fault::Error));
    let err = scan(&*storage).unwrap_err();
    assert!(matches!(err, PersistError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&segment_name(1)), "{err}");
}

#[test]
fn callback_errors_stop_the_read() {
    let (_, storage) = faulty();
    build_log(&storage, 1 << 20, &[2, 2]);
    let mut seen = 0;
    let err = read_log(
        &*storage,
        &ReadOptions::default(),
        for_each_entry(|e| {
            seen += 1;
            if e.ts() == 3 {
                Err(PersistError::InvalidBatch {
                    first_ts: 3,
                    reason: "stop".into(),
                })
            } else {
                Ok(())
            }
        }),
    )
    .unwrap_err();
    assert_eq!(seen, 3);
    assert!(err.to_string().contains("stop"));
}

/// The invariants the `decode_log` fuzz target checks, on a damaged log.
/// Returns the recovered entries, or `None` if the log was refused.
fn assert_consistent_recovery(
    disk: &FaultyStorage,
    storage: &Arc<dyn Storage>,
) -> Option<Vec<LogEntry>> {
    let strict = scan(&**storage);
    let problems = check(&**storage, None);
    match &strict {
        Ok(s) if s.torn_tail.is_none() => assert!(problems.is_empty(), "{problems:?}"),
        Ok(_) => assert_eq!(
            problems.iter().map(|p| p.kind).collect::<Vec<_>>(),
            vec![ProblemKind::TornTail]
        ),
        Err(e) => {
            assert!(matches!(e, PersistError::Corrupt { .. }), "{e:?}");
            assert_eq!(problems[0].message, e.to_string());
        }
    }
    let Ok(before) = strict else {
        // Refused: opening for writing refuses too, and changes nothing.
        let files: Vec<_> = disk.names().iter().map(|n| disk.file(n)).collect();
        assert!(LogWriter::open(storage.clone(), WriterOptions::default()).is_err());
        let after: Vec<_> = disk.names().iter().map(|n| disk.file(n)).collect();
        assert_eq!(files, after);
        return None;
    };
    let (mut w, rec) = LogWriter::open(storage.clone(), WriterOptions::default()).unwrap();
    assert_eq!(
        (rec.next_ts, rec.last_hash),
        (before.next_ts, before.last_hash)
    );
    let after = scan(&**storage).unwrap();
    assert_eq!(after.torn_tail, None);
    assert_eq!(
        (after.next_ts, after.entries),
        (before.next_ts, before.entries)
    );
    let recovered = read_all(&**storage).unwrap();
    let ts = w.next_ts();
    let (_, payload) = sample_batch(ts, 1);
    w.append_batch(ts, 1, &payload).unwrap();
    w.sync().unwrap();
    assert_eq!(scan(&**storage).unwrap().next_ts, ts + 1);
    Some(recovered)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    #[test]
    fn damaged_logs_are_classified_consistently(
        counts in proptest::collection::vec(1u32..4, 1..8),
        edits in proptest::collection::vec(
            (proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>(), 0u8..4),
            0..3,
        ),
    ) {
        let (disk, storage) = faulty();
        let (all, _) = build_log(&storage, 500, &counts);
        let names = disk.names();
        for (pos, byte, kind) in edits {
            let name = &names[pos % names.len()];
            disk.modify(name, |d| {
                let at = pos % d.len().max(1);
                match kind {
                    0 if !d.is_empty() => d[at] ^= byte.max(1),
                    1 => d.truncate(at),
                    2 => d.extend(std::iter::repeat_n(byte, pos % 64 + 1)),
                    _ => d[at..].fill(0),
                }
            });
        }
        // Whatever survives is a prefix of what was written.
        if let Some(log) = assert_consistent_recovery(&disk, &storage) {
            proptest::prop_assert!(all.starts_with(&log));
        }
    }
}
