//! Property: flipping any single bit anywhere in a log of complete, synced
//! batches is refused as [`PersistError::Corrupt`]; it is never accepted,
//! and never cut as a torn tail (every batch in it was written whole, so
//! every one may hold acknowledged commits). For flips in the last
//! segment, `check-log --repair` ([`crate::repair`]) is the way out: it
//! keeps a strict, verifying prefix and the log opens again.

use std::sync::Arc;
use std::time::Instant;

use crate::reader::check;
use crate::record::LogEntry;
use crate::storage::FaultyStorage;
use crate::storage::Storage;
use crate::tests::support::{build_log, commit_ending_in_zeros, read_all};
use crate::writer::{LogWriter, WriterOptions};
use crate::PersistError;

#[derive(Debug, Default)]
struct Outcomes {
    corrupt: u64,
    repaired: u64,
}

/// Flips bit `bit` of `file` in a copy of `files`, asserts that opening
/// refuses it as corrupt (changing nothing) and, for `repair`, that the
/// repair keeps a strict, verifying prefix of `all` that opens cleanly.
fn flip_and_open(
    files: &[(String, Vec<u8>)],
    all: &[LogEntry],
    file: usize,
    bit: usize,
    repair: bool,
    out: &mut Outcomes,
) {
    let disk = FaultyStorage::new();
    for (name, bytes) in files {
        disk.put(name, bytes.clone());
    }
    let name = &files[file].0;
    disk.modify(name, |d| d[bit / 8] ^= 1 << (bit % 8));
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());
    let what = format!("bit {bit} (byte {}) of {name}", bit / 8);
    match LogWriter::open(storage.clone(), WriterOptions::default()) {
        Err(PersistError::Corrupt { segment, .. }) => {
            assert!(
                files.iter().any(|(n, _)| *n == segment),
                "{what}: Corrupt names an unknown segment {segment}"
            );
            out.corrupt += 1;
        }
        Err(other) => panic!("{what}: expected Corrupt, got {other:?}"),
        Ok((_, rec)) => match rec.torn_tail {
            Some(t) => panic!("{what}: a complete batch was cut as a torn tail: {t}"),
            None => panic!("{what}: the log opened with no problem: the flip was accepted"),
        },
    }
    assert_eq!(
        disk.file(name).map(|d| d.len()),
        Some(files[file].1.len()),
        "{what}: the refused open changed the segment"
    );
    if !repair {
        return;
    }
    let report = crate::repair(&*storage).unwrap_or_else(|e| panic!("{what}: repair: {e}"));
    assert!(!report.moved.is_empty(), "{what}: repair moved nothing");
    let (_, rec) = LogWriter::open(storage.clone(), WriterOptions::default())
        .unwrap_or_else(|e| panic!("{what}: after repair: {e}"));
    assert!(rec.torn_tail.is_none(), "{what}");
    let got = read_all(&*storage).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(got.len() < all.len(), "{what}: not a strict prefix");
    assert_eq!(
        got[..],
        all[..got.len()],
        "{what}: recovered different data"
    );
    assert!(
        check(&*storage, None).is_empty(),
        "{what}: after the repair"
    );
    out.repaired += 1;
}

fn files_of(disk: &FaultyStorage) -> Vec<(String, Vec<u8>)> {
    disk.names()
        .into_iter()
        .map(|n| {
            let b = disk.file(&n).unwrap();
            (n, b)
        })
        .collect()
}

fn sample_files(segment_size: u64, counts: &[u32]) -> (Vec<(String, Vec<u8>)>, Vec<LogEntry>) {
    let disk = FaultyStorage::new();
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());
    let (all, _) = build_log(&storage, segment_size, counts);
    (files_of(&disk), all)
}

/// Flips every bit of every file; repairs after the flips in the last
/// segment. Returns the number of flips.
fn flip_every_bit(files: &[(String, Vec<u8>)], all: &[LogEntry], out: &mut Outcomes) -> u64 {
    let mut bits = 0u64;
    for (i, (_, bytes)) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        for bit in 0..bytes.len() * 8 {
            flip_and_open(files, all, i, bit, last, out);
            bits += 1;
        }
    }
    bits
}

#[test]
fn every_single_bit_flip_is_refused_as_corrupt() {
    let (files, all) = sample_files(420, &[1, 2, 1, 3, 1, 2]);
    assert!(files.len() >= 3, "want 3+ segments, got {}", files.len());
    let started = Instant::now();
    let mut out = Outcomes::default();
    let bits = flip_every_bit(&files, &all, &mut out);
    eprintln!(
        "bit flips: {bits} over {} bytes in {} segments: {} refused as corrupt ({} of them \
         repaired); {:?}",
        bits / 8,
        files.len(),
        out.corrupt,
        out.repaired,
        started.elapsed()
    );
    assert_eq!(out.corrupt, bits);
    let last_bits = files.last().unwrap().1.len() as u64 * 8;
    assert_eq!(out.repaired, last_bits);
}

/// A final batch whose bytes end in zeros (a call argument `[0, 0]`) is
/// not mistaken for a zero-filled torn write when a bit elsewhere flips.
#[test]
fn a_final_batch_ending_in_zero_bytes_is_still_refused() {
    let disk = FaultyStorage::new();
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());
    let (mut all, _) = build_log(&storage, 1 << 20, &[2, 1]);
    let (mut w, _) = LogWriter::open(storage.clone(), WriterOptions::default()).unwrap();
    let ts = all.len() as u64 + 1;
    let entry = commit_ending_in_zeros(ts);
    let payload = crate::encode_batch_payload(std::slice::from_ref(&entry));
    assert_eq!(payload[payload.len() - 2..], [0, 0]);
    w.append_batch(ts, 1, &payload).unwrap();
    w.sync().unwrap();
    drop(w);
    all.push(entry);
    let files = files_of(&disk);
    assert_eq!(files.len(), 1);
    let mut out = Outcomes::default();
    let bits = flip_every_bit(&files, &all, &mut out);
    assert_eq!(out.corrupt, bits);
}
