//! Arbitrary bytes as log segments, through the reader, `check` and the
//! writer's recovery. Must never panic, and:
//! - the strict reader and `check` agree on whether the log is sound;
//! - after `LogWriter::open` cuts a torn tail, the log reads back clean at the
//!   same position, and appending to it works.
#![no_main]

use std::sync::Arc;

use interstice_persist::segment::{segment_name, SEGMENT_HEADER_LEN};
use interstice_persist::{
    check, encode_batch_payload, scan, Cause, CommitRecord, FaultyStorage, LogEntry, LogWriter,
    Outcome, ProblemKind, Storage, WriterOptions,
};
use libfuzzer_sys::fuzz_target;

/// Splits the input into 1–3 segment files. A chunk that starts with a
/// header is named by the header's first timestamp, so well-formed inputs
/// reach the batch parser.
fn stage(data: &[u8]) -> Option<FaultyStorage> {
    let (&n, rest) = data.split_first()?;
    let n = 1 + usize::from(n % 3);
    let disk = FaultyStorage::new();
    let chunk = rest.len().div_ceil(n).max(1);
    for (i, part) in rest.chunks(chunk).enumerate() {
        let ts = part
            .get(16..24)
            .filter(|_| part.len() >= SEGMENT_HEADER_LEN)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .unwrap_or(i as u64 + 1);
        disk.put(&segment_name(ts), part.to_vec());
    }
    Some(disk)
}

fn one_entry(ts: u64) -> Vec<u8> {
    encode_batch_payload(&[LogEntry::Commit(CommitRecord {
        ts,
        module: "m".into(),
        schema_hash: [0; 32],
        reducer: "r".into(),
        args: vec![0x80],
        cause: Cause::External,
        nondet: vec![],
        outcome: Outcome::Ok(vec![0xf6]),
        mutations: vec![],
        calls: vec![],
        wall_micros: None,
    })])
}

fuzz_target!(|data: &[u8]| {
    let Some(disk) = stage(data) else { return };
    let storage: Arc<dyn Storage> = Arc::new(disk.clone());

    let strict = scan(&*storage);
    let problems = check(&*storage, None);
    match &strict {
        Ok(s) if s.torn_tail.is_none() => assert!(problems.is_empty(), "{problems:?}"),
        Ok(_) => assert_eq!(
            problems.iter().map(|p| p.kind).collect::<Vec<_>>(),
            vec![ProblemKind::TornTail]
        ),
        Err(_) => assert!(problems.iter().any(|p| p.kind != ProblemKind::TornTail)),
    }

    let Ok(before) = strict else { return };
    let opts = WriterOptions::default()
        .with_segment_size(4096)
        .with_verify_batches(true);
    let (mut w, rec) = LogWriter::open(storage.clone(), opts).expect("a readable log opens");
    assert_eq!(rec.next_ts, before.next_ts);
    assert_eq!(rec.last_hash, before.last_hash);
    let after = scan(&*storage).expect("a recovered log reads back");
    assert!(after.torn_tail.is_none());
    assert_eq!(after.next_ts, before.next_ts);

    let ts = w.next_ts();
    if ts < u64::MAX - 1 {
        w.append_batch(ts, 1, &one_entry(ts)).expect("append");
        w.sync().expect("sync");
        assert_eq!(scan(&*storage).expect("reads back").next_ts, ts + 1);
    }
});
