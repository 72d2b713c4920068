//! `interstice check-log DIR [--repair]`: verifies the log of a data
//! directory and reports every problem with its location
//! (`docs/LOG_FORMAT.md` §6).
//!
//! - Without `--repair` it only reads: no lock is taken and nothing is
//!   written. It prints every problem (kind, segment, byte offset,
//!   timestamp where known, reason) and what a repair would move, and exits
//!   1; or, for a sound log, a summary (segments, batches, entries,
//!   timestamp range) and exits 0.
//! - With `--repair` it takes the data directory's lock, keeps the valid
//!   prefix and moves the rest into `<segment>.broken` files
//!   ([`interstice_persist::repair()`]), then prints what it moved. It exits 0
//!   once the log is sound.

use std::path::Path;

use interstice_persist::{
    check, list_snapshots, read_log, read_snapshot, repair, valid_prefix, DataDir, FileStorage,
    LogStart, LogSummary, PersistError, Problem, ProblemKind, ReadOptions, SNAPSHOTS_DIR,
};

use crate::error::CliError;
use crate::output;

/// When retention has deleted the start of the log (its first segment does
/// not start at timestamp 1), says so and returns where the newest snapshot
/// that verifies and reaches the first segment leaves off, so the rest is
/// checked from there. `None` for a log that starts at 1, or when no
/// snapshot covers the gap (the check then reports the missing start).
fn retained_start(dir: &Path, storage: &FileStorage) -> Result<Option<LogStart>, CliError> {
    let segs = interstice_persist::reader::list_segments(storage)?;
    let Some(&(first, _)) = segs.first() else {
        return Ok(None);
    };
    if first <= 1 {
        return Ok(None);
    }
    for (ts, path) in list_snapshots(&dir.join(SNAPSHOTS_DIR))? {
        if ts.saturating_add(1) < first {
            continue;
        }
        match read_snapshot(&path) {
            Ok(s) => {
                output::result(format!(
                    "the log starts at timestamp {first}: retention deleted the entries before \
                     it, which snapshot {} (timestamp {ts}) covers; checking from there",
                    path.display()
                ));
                return Ok(Some(LogStart {
                    ts: s.ts,
                    hash: s.log_hash,
                }));
            }
            Err(e) => output::result(format!("ignoring snapshot {}: {e}", path.display())),
        }
    }
    output::result(format!(
        "the log starts at timestamp {first}, not 1, and no valid snapshot covers the entries \
         before it"
    ));
    Ok(None)
}

/// Runs the command.
pub fn run(dir: &Path, do_repair: bool) -> Result<(), CliError> {
    if do_repair {
        return run_repair(dir);
    }
    let log_dir = dir.join(interstice_persist::datadir::LOG_DIR);
    if !log_dir.is_dir() {
        return Err(CliError::Persist(PersistError::NotADataDir {
            path: dir.to_path_buf(),
            reason: "it has no log/ directory".into(),
        }));
    }
    let storage = FileStorage::new(log_dir);
    let start = retained_start(dir, &storage)?;
    let problems = check(&storage, start);
    if problems.is_empty() {
        let opts = ReadOptions::default().with_start(start);
        let summary = read_log(&storage, &opts, |_| Ok::<(), PersistError>(()))?.summary;
        print_summary("log OK", &summary);
        return Ok(());
    }
    print_problems(&problems);
    match valid_prefix(&storage) {
        Ok(prefix) => {
            output::result(format!("valid prefix: {}", describe_range(&prefix.summary)));
            if let Some(cut) = &prefix.cut {
                let what = if cut.offset == 0 {
                    format!("segment {} (all of it)", cut.segment)
                } else {
                    format!("segment {} from byte {}", cut.segment, cut.offset)
                };
                let mut moved = vec![what];
                moved.extend(prefix.later_segments.iter().map(|s| format!("segment {s}")));
                output::result(format!(
                    "`interstice check-log {} --repair` would keep that prefix and move to \
                     .broken files: {}",
                    dir.display(),
                    moved.join(", ")
                ));
            }
        }
        Err(e) => output::result(format!("no repair is possible: {e}")),
    }
    Err(CliError::CheckFailed(format!(
        "the log has {} problem(s)",
        problems.len()
    )))
}

fn run_repair(dir: &Path) -> Result<(), CliError> {
    let data = DataDir::open(dir, false)?;
    let storage = data.log_storage();
    let report = repair(&*storage)?;
    if report.problems.is_empty() {
        print_summary("log OK, nothing to repair", &report.kept);
        return Ok(());
    }
    print_problems(&report.problems);
    for m in &report.moved {
        if m.offset == 0 {
            output::result(format!(
                "moved segment {} ({} bytes) to {}",
                m.segment, m.bytes, m.to
            ));
        } else {
            output::result(format!(
                "moved bytes {}.. ({} bytes) of segment {} to {}",
                m.offset, m.bytes, m.segment, m.to
            ));
        }
    }
    print_summary("repaired: the log opens again; it now holds", &report.kept);
    Ok(())
}

fn kind_name(k: ProblemKind) -> &'static str {
    match k {
        ProblemKind::TornTail => "torn tail",
        ProblemKind::Corrupt => "corrupt",
        ProblemKind::UnsupportedVersion => "unsupported version",
        ProblemKind::Io => "I/O error",
    }
}

fn print_problems(problems: &[Problem]) {
    for (i, p) in problems.iter().enumerate() {
        let mut at = match &p.segment {
            Some(s) => format!("segment {s}, byte {}", p.offset),
            None => "the log directory".to_owned(),
        };
        if let Some(ts) = p.ts {
            at.push_str(&format!(", timestamp {ts}"));
        }
        output::result(format!(
            "problem {}: {} at {at}: {}",
            i + 1,
            kind_name(p.kind),
            p.message
        ));
    }
    let torn_only = problems.iter().all(|p| p.kind == ProblemKind::TornTail);
    if torn_only {
        output::result(
            "(a torn tail is what a crash in the middle of a write leaves; \
             opening the log cuts it automatically)",
        );
    }
}

fn describe_range(s: &LogSummary) -> String {
    if s.entries == 0 {
        format!("{} segment(s), no entries", s.segments.len())
    } else {
        format!(
            "{} segment(s), {} batch(es), {} entries, timestamps 1..={}",
            s.segments.len(),
            s.batches,
            s.entries,
            s.next_ts - 1
        )
    }
}

fn print_summary(headline: &str, s: &LogSummary) {
    output::result(format!("{headline}: {}", describe_range(s)));
    for (i, seg) in s.segments.iter().enumerate() {
        let end = s
            .segments
            .get(i + 1)
            .map_or(s.next_ts, |next| next.first_ts);
        let range = if end > seg.first_ts {
            format!("timestamps {}..={}", seg.first_ts, end - 1)
        } else {
            "no entries".to_owned()
        };
        output::result(format!(
            "  {}: {} bytes, {} batch(es), {range}",
            seg.name, seg.valid_len, seg.batches
        ));
    }
}
