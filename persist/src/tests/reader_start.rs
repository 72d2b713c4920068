//! Reading a log whose beginning a snapshot covers (`LogStart`).

use crate::record::{Hash, LogEntry};
use crate::record_ref::LogEntryRef;
use crate::segment::GENESIS_HASH;
use crate::storage::Storage;
use crate::PersistError;
use std::sync::Arc;

use crate::reader::*;
use crate::storage::FaultyStorage;
use crate::tests::support::{build_log, BatchLoc};
use crate::writer::{LogWriter, WriterOptions};

fn log() -> (Arc<dyn Storage>, Vec<LogEntry>, Vec<BatchLoc>) {
    let storage: Arc<dyn Storage> = Arc::new(FaultyStorage::new());
    let (entries, locs) = build_log(&storage, 400, &[2, 3, 1, 4, 2, 3, 2, 1, 3]);
    (storage, entries, locs)
}

/// The hash of the batch ending at `ts`.
fn hash_at(storage: &dyn Storage, ts: u64) -> Hash {
    let mut out = None;
    read_log(storage, &ReadOptions::default(), |b| {
        if b.first_ts + u64::from(b.count) - 1 == ts {
            out = Some(b.hash);
        }
        Ok::<(), PersistError>(())
    })
    .unwrap();
    out.expect("a batch ends at ts")
}

/// Where a snapshot taken right after batch `b` leaves off.
fn start_after(storage: &dyn Storage, b: &BatchLoc) -> LogStart {
    let ts = b.first_ts + u64::from(b.count) - 1;
    LogStart {
        ts,
        hash: hash_at(storage, ts),
    }
}

/// Options for a read from `start`.
fn from(start: LogStart) -> ReadOptions {
    ReadOptions {
        start: Some(start),
        ..ReadOptions::default()
    }
}

/// The timestamps passed on by a read with `opts`, and its report.
fn read_ts(
    storage: &dyn Storage,
    opts: &ReadOptions,
) -> Result<(Vec<u64>, ReadReport), PersistError> {
    let mut ts = Vec::new();
    let report = read_log(storage, opts, |b| {
        ts.extend(b.entries.iter().map(LogEntryRef::ts));
        Ok::<(), PersistError>(())
    })?;
    Ok((ts, report))
}

fn read_from(storage: &dyn Storage, start: LogStart) -> Result<Vec<u64>, PersistError> {
    read_ts(storage, &from(start)).map(|(ts, _)| ts)
}

/// A read with `opts` that must fail before passing anything on: its error.
fn refused(storage: &dyn Storage, opts: &ReadOptions) -> PersistError {
    let mut passed = 0;
    let err = read_log(storage, opts, |_| {
        passed += 1;
        Ok::<(), PersistError>(())
    })
    .unwrap_err();
    assert_eq!(passed, 0, "{err}");
    err
}

#[test]
fn only_the_suffix_is_passed_on_and_deleted_segments_are_accepted() {
    let (storage, entries, locs) = log();
    let segs = list_segments(&*storage).unwrap();
    assert!(segs.len() >= 3, "{segs:?}");
    let last = entries.len() as u64;
    // A snapshot at the end of the second segment's last batch.
    let second_end = segs[2].0 - 1;
    let start = LogStart {
        ts: second_end,
        hash: hash_at(&*storage, second_end),
    };
    let full: Vec<u64> = ((second_end + 1)..=last).collect();
    let mid = locs.iter().rev().nth(1).unwrap();
    let mid_end = mid.first_ts + u64::from(mid.count) - 1;
    let mid_hash = hash_at(&*storage, mid_end);
    assert_eq!(read_from(&*storage, start).unwrap(), full);
    // Retention deletes the covered segments; the read is unchanged.
    storage.remove(&segs[0].1).unwrap();
    storage.remove(&segs[1].1).unwrap();
    assert_eq!(read_from(&*storage, start).unwrap(), full);
    // Without the snapshot the log is refused, naming the missing start.
    let err = read_all(&*storage).unwrap_err();
    assert!(
        err.to_string().contains("earlier segments missing"),
        "{err}"
    );
    // A snapshot inside a kept segment, at a batch boundary, also works.
    let start = LogStart {
        ts: mid_end,
        hash: mid_hash,
    };
    assert_eq!(
        read_from(&*storage, start).unwrap(),
        ((mid_end + 1)..=last).collect::<Vec<_>>()
    );
    // The writer opens from it and appends after the log's end.
    let (w, rec) = LogWriter::open_replaying(
        storage.clone(),
        WriterOptions::default(),
        Some(start),
        |_| Ok::<(), PersistError>(()),
    )
    .unwrap();
    assert_eq!(rec.next_ts, last + 1);
    assert_eq!(w.next_ts(), last + 1);
}

fn read_all(storage: &dyn Storage) -> Result<Vec<LogEntry>, PersistError> {
    crate::tests::support::read_all(storage)
}

#[test]
fn a_snapshot_that_does_not_fit_the_log_is_refused_before_anything_is_passed_on() {
    let (storage, entries, locs) = log();
    let last = entries.len() as u64;
    let b = &locs[3];
    let end = b.first_ts + u64::from(b.count) - 1;
    let good = hash_at(&*storage, end);
    let cases = [
        // Wrong hash at a batch boundary.
        (
            LogStart {
                ts: end,
                hash: [9; 32],
            },
            "hash",
        ),
        // Not at a batch boundary (inside a 4-entry batch).
        (
            LogStart {
                ts: end - 1,
                hash: good,
            },
            "spans",
        ),
        // Newer than the log.
        (
            LogStart {
                ts: last + 5,
                hash: good,
            },
            "the log ends at timestamp",
        ),
    ];
    for (start, want) in cases {
        let err = refused(&*storage, &from(start));
        assert!(
            matches!(err, PersistError::LogStartMismatch { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
    // A segment starting after ts + 1 leaves a gap.
    let segs = list_segments(&*storage).unwrap();
    assert!(segs[1].0 > 2, "{segs:?}");
    storage.remove(&segs[0].1).unwrap();
    let start = LogStart {
        ts: 1,
        hash: GENESIS_HASH,
    };
    let err = read_from(&*storage, start).unwrap_err();
    assert!(err.to_string().contains("are missing"), "{err}");
    // check reports it too.
    assert!(!check(&*storage, Some(start)).is_empty());
}

#[test]
fn a_header_only_last_segment_right_after_the_snapshot_opens_at_its_timestamp() {
    let (storage, entries, _) = log();
    let last = entries.len() as u64;
    let hash = hash_at(&*storage, last);
    let segs = list_segments(&*storage).unwrap();
    for (_, name) in &segs {
        storage.remove(name).unwrap();
    }
    // What a crash between creating a segment and writing its batch leaves.
    let header = crate::segment::SegmentHeader::new(last + 1, hash);
    let name = crate::segment::segment_name(last + 1);
    let mut f = storage.create(&name).unwrap();
    f.append(&header.encode()).unwrap();
    f.sync().unwrap();
    drop(f);
    let start = LogStart { ts: last, hash };
    assert!(read_from(&*storage, start).unwrap().is_empty());
    let (_, rec) = LogWriter::open_replaying(
        storage.clone(),
        WriterOptions::default(),
        Some(start),
        |_| Ok::<(), PersistError>(()),
    )
    .unwrap();
    assert_eq!(rec.next_ts, last + 1);
    assert_eq!(rec.last_hash, hash);
    assert!(check(&*storage, Some(start)).is_empty());
}

#[test]
fn repair_refuses_a_log_whose_start_was_deleted() {
    let (storage, _, _) = log();
    let segs = list_segments(&*storage).unwrap();
    storage.remove(&segs[0].1).unwrap();
    let before = storage.list().unwrap().len();
    let err = crate::repair(&*storage).unwrap_err();
    assert!(matches!(err, PersistError::Unrepairable(_)), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(storage.list().unwrap().len(), before);
}

#[test]
fn check_from_a_snapshot_reports_a_mismatch_once() {
    let (storage, _, locs) = log();
    let b = &locs[3];
    let end = b.first_ts + u64::from(b.count) - 1;
    let problems = check(
        &*storage,
        Some(LogStart {
            ts: end,
            hash: [9; 32],
        }),
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].to_string().contains("hash"), "{}", problems[0]);
}

#[test]
fn a_read_from_a_snapshot_stops_at_a_timestamp() {
    let (storage, _, locs) = log();
    let start = start_after(&*storage, &locs[3]);
    let end = start.ts;
    for (stop, want) in [
        (end + 3, (end + 1..=end + 3).collect::<Vec<_>>()),
        (end, vec![]),
    ] {
        let opts = ReadOptions {
            stop_at: Some(stop),
            ..from(start)
        };
        let (ts, report) = read_ts(&*storage, &opts).unwrap();
        assert_eq!(ts, want, "stop at {stop}");
        assert_eq!(report.last_ts, want.last().copied().unwrap_or(0));
        assert!(report.stopped_at_limit, "stop at {stop}");
    }
}

#[test]
fn options_that_cannot_go_together_are_refused_before_reading() {
    let (storage, _, locs) = log();
    let start = start_after(&*storage, &locs[3]);
    let end = start.ts;
    let segs = list_segments(&*storage).unwrap();
    let cases = [
        (
            ReadOptions {
                stop_at: Some(end - 1),
                ..from(start)
            },
            "before the snapshot",
        ),
        (
            ReadOptions {
                resume_at: Some(LogPosition {
                    segment: segs[1].1.clone(),
                    offset: 0,
                }),
                ..from(start)
            },
            "cannot start where a snapshot leaves off",
        ),
    ];
    for (opts, want) in cases {
        let err = refused(&*storage, &opts);
        assert!(
            matches!(
                err,
                PersistError::LogStartMismatch { .. } | PersistError::InvalidPosition { .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
}
