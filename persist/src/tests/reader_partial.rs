//! Partial reads: `stop_at` and `resume_at` ([`crate::read_log`]), and
//! `valid_prefix`.

use crate::record::LogEntry;
use crate::storage::Storage;
use crate::PersistError;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::reader::*;
use crate::storage::FaultyStorage;
use crate::tests::support::{build_log, BatchLoc};

fn faulty() -> (FaultyStorage, Arc<dyn Storage>) {
    let disk = FaultyStorage::new();
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());
    (disk, storage)
}

fn sample(storage: &Arc<dyn Storage>) -> (Vec<LogEntry>, Vec<BatchLoc>) {
    build_log(storage, 700, &[2, 3, 1, 4, 2, 3, 2, 1, 3])
}

fn snapshot(disk: &FaultyStorage) -> BTreeMap<String, Vec<u8>> {
    disk.names()
        .into_iter()
        .map(|n| {
            let b = disk.file(&n).unwrap();
            (n, b)
        })
        .collect()
}

fn read_with(
    storage: &dyn Storage,
    opts: &ReadOptions,
) -> Result<(Vec<LogEntry>, ReadReport), PersistError> {
    let mut out = Vec::new();
    let report = read_log(
        storage,
        opts,
        for_each_entry(|e| {
            out.push(e);
            Ok::<(), PersistError>(())
        }),
    )?;
    Ok((out, report))
}

/// Options for a read that skips the damage before `p`.
fn resuming_at(p: LogPosition) -> ReadOptions {
    ReadOptions {
        resume_at: Some(p),
        ..ReadOptions::default()
    }
}

/// Options for a read up to `ts`.
fn stopping_at(ts: u64) -> ReadOptions {
    ReadOptions {
        stop_at: Some(ts),
        ..ReadOptions::default()
    }
}

fn pos(segment: &str, offset: u64) -> LogPosition {
    LogPosition {
        segment: segment.to_owned(),
        offset,
    }
}

fn invalid_reason(e: PersistError) -> String {
    match e {
        PersistError::InvalidPosition { reason, .. } => reason,
        other => panic!("expected InvalidPosition, got {other:?}"),
    }
}

#[test]
fn positions_parse_and_print() {
    let p: LogPosition = "00000000000000000042.log:1234".parse().unwrap();
    assert_eq!(p, pos("00000000000000000042.log", 1234));
    assert_eq!(p.to_string(), "00000000000000000042.log:1234");
    let q: LogPosition = "42:0".parse().unwrap();
    assert_eq!(q, pos("00000000000000000042.log", 0));
    for bad in ["", "42", "x:1", "42:-1", "42:y", ":5"] {
        assert!(bad.parse::<LogPosition>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn stop_at_passes_exactly_the_entries_up_to_it() {
    let (_, storage) = faulty();
    let (all, _) = sample(&storage);
    let n = all.len() as u64;
    for limit in 0..=n + 2 {
        let opts = stopping_at(limit);
        let (got, report) = read_with(&*storage, &opts).unwrap();
        let want: Vec<LogEntry> = all.iter().filter(|e| e.ts() <= limit).cloned().collect();
        assert_eq!(got, want, "stop at {limit}");
        assert_eq!(report.last_ts, limit.min(n), "stop at {limit}");
        assert_eq!(report.stopped_at_limit, limit < n, "stop at {limit}");
        assert!(report.skipped.is_none());
    }
}

#[test]
fn stop_at_never_looks_past_the_limit_and_changes_nothing() {
    let (disk, storage) = faulty();
    let (all, locs) = sample(&storage);
    // Corrupt a batch in the middle and tear the tail.
    let victim = locs[5].clone();
    disk.modify(&victim.segment, |d| d[victim.offset as usize + 70] ^= 2);
    let last = locs.last().unwrap().clone();
    disk.modify(&last.segment, |d| d.truncate(d.len() - 1));
    let before = snapshot(&disk);

    let limit = victim.first_ts - 1;
    let (got, report) = read_with(&*storage, &stopping_at(limit)).unwrap();
    assert_eq!(got.len() as u64, limit);
    assert_eq!(got[..], all[..limit as usize]);
    assert!(report.stopped_at_limit);

    // A limit past the damage meets it.
    let err = read_with(&*storage, &stopping_at(victim.first_ts)).unwrap_err();
    assert!(matches!(err, PersistError::Corrupt { offset, .. } if offset == victim.offset));
    assert_eq!(snapshot(&disk), before, "a read changed the log");
}

#[test]
fn resume_mid_segment_skips_the_damaged_batch() {
    let (disk, storage) = faulty();
    let (all, locs) = sample(&storage);
    let segs: Vec<&str> = {
        let mut v: Vec<&str> = locs.iter().map(|l| l.segment.as_str()).collect();
        v.dedup();
        v
    };
    // A segment with at least two batches, not the last one.
    let (i, victim) = locs
        .iter()
        .enumerate()
        .find(|(i, l)| {
            locs.get(i + 1).is_some_and(|n| n.segment == l.segment)
                && l.segment != *segs.last().unwrap()
        })
        .map(|(i, l)| (i, l.clone()))
        .expect("a segment with two batches");
    let next = locs[i + 1].clone();
    disk.modify(&victim.segment, |d| d[victim.offset as usize + 60] ^= 0x10);
    let before = snapshot(&disk);

    let (got, report) =
        read_with(&*storage, &resuming_at(pos(&next.segment, next.offset))).unwrap();
    let want: Vec<LogEntry> = all
        .iter()
        .filter(|e| e.ts() < victim.first_ts || e.ts() >= next.first_ts)
        .cloned()
        .collect();
    assert_eq!(got, want);
    let skipped = report.skipped.expect("skipped");
    assert_eq!(skipped.damage.kind, ProblemKind::Corrupt);
    assert_eq!(
        skipped.damage.segment.as_deref(),
        Some(victim.segment.as_str())
    );
    assert_eq!(skipped.damage.offset, victim.offset);
    assert_eq!(skipped.last_ts_before, victim.first_ts - 1);
    assert_eq!(skipped.first_ts_after, Some(next.first_ts));
    assert_eq!(report.last_ts, all.len() as u64);
    assert_eq!(snapshot(&disk), before, "a read changed the log");

    // Damage after the resume point is still found: the chain is verified
    // again from the resumed batch on.
    let later = locs
        .iter()
        .find(|l| l.first_ts > next.first_ts && l.segment != *segs.last().unwrap())
        .unwrap()
        .clone();
    disk.modify(&later.segment, |d| d[later.offset as usize + 58] ^= 0x01);
    let err = read_with(&*storage, &resuming_at(pos(&next.segment, next.offset))).unwrap_err();
    assert!(
        matches!(&err, PersistError::Corrupt { segment, offset, .. }
            if *segment == later.segment && *offset == later.offset),
        "{err}"
    );
}

#[test]
fn resume_at_a_later_segment_start() {
    let (disk, storage) = faulty();
    let (all, locs) = sample(&storage);
    let segs: Vec<String> = disk.names();
    assert!(segs.len() >= 4);
    // Damage segment 1's header; resume at segment 3.
    disk.modify(&segs[1], |d| d[20] ^= 1);
    let resume_ts = crate::segment::parse_segment_name(&segs[3]).unwrap();
    let first_of_1 = crate::segment::parse_segment_name(&segs[1]).unwrap();
    for given in [0u64, 64, 10] {
        let (got, report) = read_with(&*storage, &resuming_at(pos(&segs[3], given))).unwrap();
        let want: Vec<LogEntry> = all
            .iter()
            .filter(|e| e.ts() < first_of_1 || e.ts() >= resume_ts)
            .cloned()
            .collect();
        assert_eq!(got, want, "offset {given}");
        let s = report.skipped.unwrap();
        assert_eq!(s.last_ts_before, first_of_1 - 1);
        assert_eq!(s.first_ts_after, Some(resume_ts));
        assert_eq!(s.damage.offset, 0);
    }
    // With stop_at as well.
    let (got, report) = read_with(
        &*storage,
        &ReadOptions {
            stop_at: Some(resume_ts + 1),
            resume_at: Some(pos(&segs[3], 0)),
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(got.last().unwrap().ts(), resume_ts + 1);
    assert!(report.stopped_at_limit);
    let _ = locs;
}

#[test]
fn resume_positions_that_cannot_work_are_refused() {
    let (disk, storage) = faulty();
    let (_, locs) = sample(&storage);
    let victim = locs[4].clone();
    let next = locs[5].clone();
    disk.modify(&victim.segment, |d| d[victim.offset as usize + 60] ^= 0x10);
    let try_at = |p: LogPosition| {
        read_with(&*storage, &resuming_at(p))
            .map(|_| ())
            .unwrap_err()
    };
    let r = invalid_reason(try_at(pos("00000000000000099999.log", 0)));
    assert!(r.contains("no segment"), "{r}");
    let r = invalid_reason(try_at(pos(&next.segment, next.offset + 1)));
    assert!(r.contains("no complete batch"), "{r}");
    // Before the damage: nothing to skip.
    let r = invalid_reason(try_at(pos(&locs[1].segment, locs[1].offset)));
    assert!(r.contains("no damage before"), "{r}");
    // Past the end of the segment.
    let r = invalid_reason(try_at(pos(&next.segment, 1 << 30)));
    assert!(r.contains("bytes long"), "{r}");
}

#[test]
fn resume_reports_a_torn_tail_without_cutting_it() {
    let (disk, storage) = faulty();
    let (all, locs) = sample(&storage);
    let victim = locs[2].clone();
    let segs = disk.names();
    let resume = segs[segs.len() - 1].clone();
    disk.modify(&victim.segment, |d| d[victim.offset as usize + 60] ^= 0x10);
    disk.modify(&resume, |d| d.truncate(d.len() - 2));
    let before = snapshot(&disk);
    let (got, report) = read_with(&*storage, &resuming_at(pos(&resume, 0))).unwrap();
    let resume_ts = crate::segment::parse_segment_name(&resume).unwrap();
    let last = locs.last().unwrap();
    let want: Vec<LogEntry> = all
        .iter()
        .filter(|e| e.ts() < victim.first_ts || (e.ts() >= resume_ts && e.ts() < last.first_ts))
        .cloned()
        .collect();
    assert_eq!(got, want);
    assert!(report.summary.torn_tail.is_some());
    assert_eq!(snapshot(&disk), before);
}

#[test]
fn valid_prefix_locates_the_cut() {
    let (disk, storage) = faulty();
    let (_, locs) = sample(&storage);
    let clean = valid_prefix(&*storage).unwrap();
    assert!(clean.damage.is_none() && clean.cut.is_none());
    let victim = locs[4].clone();
    disk.modify(&victim.segment, |d| d[victim.offset as usize + 60] ^= 0x10);
    let p = valid_prefix(&*storage).unwrap();
    assert_eq!(p.cut, Some(pos(&victim.segment, victim.offset)));
    assert_eq!(p.summary.next_ts, victim.first_ts);
    let names = disk.names();
    let later: Vec<String> = names
        .iter()
        .filter(|n| n.as_str() > victim.segment.as_str())
        .cloned()
        .collect();
    assert_eq!(p.later_segments, later);
    assert_eq!(p.damage.unwrap().kind, ProblemKind::Corrupt);
}
