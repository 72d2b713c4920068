//! Property: flipping any single bit anywhere in a log is detected, never
//! silently accepted. For every bit of a small log of several segments and
//! batches, opening it either fails with [`PersistError::Corrupt`], or cuts
//! a torn tail (with the warning) and recovers a strict prefix of the
//! original entries whose hash chain verifies.

use std::sync::Arc;
use std::time::Instant;

use crate::reader::check;
use crate::record::LogEntry;
use crate::storage::Storage;
use crate::storage_faulty::FaultyStorage;
use crate::test_support::{build_log, read_all};
use crate::writer::{LogWriter, WriterOptions};
use crate::PersistError;

#[derive(Debug, Default)]
struct Outcomes {
    corrupt: u64,
    torn_cut: u64,
}

/// Flips bit `bit` of `file` in a copy of `files` and classifies the result,
/// panicking if the flip went unnoticed or the recovered log is not a strict,
/// verifying prefix of `all`.
fn flip_and_open(
    files: &[(String, Vec<u8>)],
    all: &[LogEntry],
    file: usize,
    bit: usize,
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
        Err(other) => panic!("{what}: expected Corrupt or a torn-tail cut, got {other:?}"),
        Ok((_, rec)) => {
            let torn = rec.torn_tail.as_ref().unwrap_or_else(|| {
                panic!("{what}: the log opened with no problem reported: the flip was accepted")
            });
            assert_eq!(&torn.segment, name, "{what}: torn tail in another segment");
            let got = read_all(&*storage).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                got.len() < all.len(),
                "{what}: recovered {} of {} entries: not a strict prefix",
                got.len(),
                all.len()
            );
            assert_eq!(
                got[..],
                all[..got.len()],
                "{what}: recovered different data"
            );
            assert_eq!(rec.next_ts, got.len() as u64 + 1, "{what}");
            let problems = check(&*storage);
            assert!(problems.is_empty(), "{what}: after the cut: {problems:?}");
            out.torn_cut += 1;
        }
    }
}

fn sample_files(segment_size: u64, counts: &[u32]) -> (Vec<(String, Vec<u8>)>, Vec<LogEntry>) {
    let disk = FaultyStorage::new();
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());
    let (all, _) = build_log(&storage, segment_size, counts);
    let files = disk
        .names()
        .into_iter()
        .map(|n| {
            let b = disk.file(&n).unwrap();
            (n, b)
        })
        .collect();
    (files, all)
}

#[test]
fn every_single_bit_flip_is_detected() {
    let (files, all) = sample_files(420, &[1, 2, 1, 3, 1, 2]);
    assert!(files.len() >= 3, "want 3+ segments, got {}", files.len());
    let started = Instant::now();
    let mut out = Outcomes::default();
    let mut bits = 0u64;
    for (i, (_, bytes)) in files.iter().enumerate() {
        for bit in 0..bytes.len() * 8 {
            flip_and_open(&files, &all, i, bit, &mut out);
            bits += 1;
        }
    }
    eprintln!(
        "bit flips: {bits} over {} bytes in {} segments: {} refused as corrupt, {} cut as a \
         torn tail; {:?}",
        bits / 8,
        files.len(),
        out.corrupt,
        out.torn_cut,
        started.elapsed()
    );
    assert_eq!(out.corrupt + out.torn_cut, bits);
    // Only flips in the last segment's last batch can pass for a torn write.
    assert!(out.corrupt > out.torn_cut, "{out:?}");
    assert!(out.torn_cut > 0, "{out:?}");
}
