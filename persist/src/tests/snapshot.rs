//! Snapshot files and retention decisions ([`crate::snapshot`]).

use crate::record::Cause;
use crate::snapshot::*;
use crate::PersistError;
use std::fs;

fn sample() -> Snapshot {
    Snapshot {
        ts: 42,
        log_hash: [7; 32],
        modules: vec![
            SnapshotModule {
                name: "bank".into(),
                version: "0.1.0".into(),
                install_ts: 1,
                schema: vec![0x80],
                schema_hash: [1; 32],
                wasm_hash: [2; 32],
                tables: vec![SnapshotTable {
                    index: 0,
                    next_auto_inc: 5,
                    rows: vec![(vec![1, 2], vec![0x82, 0x01, 0x02]), (vec![3], vec![0xf6])],
                }],
                unloaded: None,
            },
            SnapshotModule {
                name: "empty".into(),
                version: "1".into(),
                install_ts: 3,
                schema: vec![0x81, 0x00],
                schema_hash: [3; 32],
                wasm_hash: [4; 32],
                tables: vec![],
                unloaded: Some(41),
            },
        ],
        pending: vec![
            PendingDelivery {
                source_ts: 40,
                index: 0,
                target: "empty".into(),
                reducer: "on_call".into(),
                args: vec![0x80],
                cause: Cause::Call {
                    module: "bank".into(),
                    ts: 40,
                    index: 0,
                    reply: None,
                },
                depth: 1,
                root: Some(38),
                cut: false,
            },
            PendingDelivery {
                source_ts: 3,
                index: 0,
                target: "empty".into(),
                reducer: "init".into(),
                args: vec![0x80],
                cause: Cause::Init,
                depth: 0,
                root: None,
                cut: true,
            },
        ],
        fanout: vec![FanOutTree { root: 38, made: 7 }],
        engine: Some(crate::tests::support::sample_engine()),
    }
}

#[test]
fn roundtrip_preserves_everything() {
    let s = sample();
    let bytes = encode_snapshot(&s);
    assert_eq!(&bytes[..8], b"INTRSNAP");
    assert_eq!(&bytes[8..12], &[3, 0, 0, 0]);
    assert_eq!(decode_snapshot("x", &bytes).unwrap(), s);
    let empty = Snapshot {
        ts: 0,
        log_hash: [0; 32],
        modules: vec![],
        pending: vec![],
        fanout: vec![],
        engine: None,
    };
    assert_eq!(
        decode_snapshot("x", &encode_snapshot(&empty)).unwrap(),
        empty
    );
}

#[test]
fn documented_empty_snapshot_bytes() {
    // docs/SNAPSHOT_FORMAT.md §4 worked example.
    let empty = Snapshot {
        ts: 0,
        log_hash: [0; 32],
        modules: vec![],
        pending: vec![],
        fanout: vec![],
        engine: None,
    };
    let bytes = encode_snapshot(&empty);
    let mut want = b"INTRSNAP".to_vec();
    want.extend_from_slice(&[3, 0, 0, 0, 0x86, 0x00, 0x58, 0x20]);
    want.extend_from_slice(&[0; 32]);
    want.extend_from_slice(&[0x80, 0x80, 0x80, 0xf6]);
    let sum = blake3::hash(&want);
    want.extend_from_slice(sum.as_bytes());
    assert_eq!(bytes, want);
    assert_eq!(bytes.len(), 84);
}

/// docs/SNAPSHOT_FORMAT.md §4's second worked example: a module unloaded
/// at ts 5 keeping its one table of one row (the 8-item module form).
#[test]
fn documented_unloaded_module_snapshot_bytes() {
    let s = Snapshot {
        ts: 5,
        log_hash: [0x33; 32],
        modules: vec![SnapshotModule {
            name: "m".into(),
            version: "1".into(),
            install_ts: 1,
            schema: vec![0x80],
            schema_hash: [0x11; 32],
            wasm_hash: [0x22; 32],
            tables: vec![SnapshotTable {
                index: 0,
                next_auto_inc: 2,
                rows: vec![(vec![0x07], vec![0x81, 0x07])],
            }],
            unloaded: Some(5),
        }],
        pending: vec![],
        fanout: vec![],
        engine: None,
    };
    let mut want = b"INTRSNAP".to_vec();
    want.extend_from_slice(&[3, 0, 0, 0, 0x86, 0x05, 0x58, 0x20]);
    want.extend_from_slice(&[0x33; 32]);
    want.extend_from_slice(&[
        0x81, 0x88, 0x61, b'm', 0x61, b'1', 0x01, 0x41, 0x80, 0x58, 0x20,
    ]);
    want.extend_from_slice(&[0x11; 32]);
    want.extend_from_slice(&[0x58, 0x20]);
    want.extend_from_slice(&[0x22; 32]);
    // tables [[0, 2, [[h'07', h'8107']]]], unloaded 5
    want.extend_from_slice(&[
        0x81, 0x83, 0x00, 0x02, 0x81, 0x82, 0x41, 0x07, 0x42, 0x81, 0x07,
    ]);
    want.push(0x05);
    want.extend_from_slice(&[0x80, 0x80, 0xf6]);
    let sum = blake3::hash(&want);
    want.extend_from_slice(sum.as_bytes());
    assert_eq!(encode_snapshot(&s), want);
    assert_eq!(want.len(), 172);
    assert_eq!(decode_snapshot("x", &want).unwrap(), s);
}

/// A version-2 snapshot (written before engines were recorded) still
/// reads, with no engine: the empty runtime's, as version 2 wrote it.
#[test]
fn version_2_snapshots_still_read() {
    let mut v2 = b"INTRSNAP".to_vec();
    v2.extend_from_slice(&[2, 0, 0, 0, 0x85, 0x00, 0x58, 0x20]);
    v2.extend_from_slice(&[0; 32]);
    v2.extend_from_slice(&[0x80, 0x80, 0x80]);
    let sum = blake3::hash(&v2);
    v2.extend_from_slice(sum.as_bytes());
    let s = decode_snapshot("old.snap", &v2).unwrap();
    assert_eq!((s.ts, s.modules.len(), s.engine), (0, 0, None));
}

/// A version-1 snapshot (written before the fan-out budget) still reads:
/// its pending deliveries have no root and are not cut, and there are no
/// trees. The bytes are those version 1 wrote for `sample()`'s first
/// pending delivery.
#[test]
fn version_1_snapshots_still_read() {
    let mut v1 = b"INTRSNAP".to_vec();
    v1.extend_from_slice(&[1, 0, 0, 0, 0x84, 0x18, 0x2a, 0x58, 0x20]);
    v1.extend_from_slice(&[7; 32]);
    v1.push(0x80); // no modules
    v1.extend_from_slice(&[0x81, 0x87, 0x18, 0x28, 0x00]); // [[40, 0,
    v1.extend_from_slice(&[0x65, b'e', b'm', b'p', b't', b'y']); // "empty",
    v1.extend_from_slice(&[0x67, b'o', b'n', b'_', b'c', b'a', b'l', b'l']); // "on_call",
    v1.extend_from_slice(&[0x41, 0x80]); // h'80',
    v1.extend_from_slice(&[0x84, 0x02, 0x64, b'b', b'a', b'n', b'k', 0x18, 0x28, 0x00]); // cause,
    v1.push(0x01); // depth 1]]
    let sum = blake3::hash(&v1);
    v1.extend_from_slice(sum.as_bytes());
    let s = decode_snapshot("old.snap", &v1).unwrap();
    assert_eq!(s.ts, 42);
    assert_eq!(s.pending.len(), 1);
    let d = &s.pending[0];
    assert_eq!((d.source_ts, d.depth, d.root, d.cut), (40, 1, None, false));
    assert_eq!(d.reducer, "on_call");
    assert!(s.fanout.is_empty());
}

#[test]
fn every_flipped_bit_is_detected() {
    let bytes = encode_snapshot(&sample());
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            let err = decode_snapshot("s.snap", &b).unwrap_err();
            assert!(
                matches!(err, PersistError::SnapshotInvalid { ref file, .. } if file == "s.snap"),
                "byte {i} bit {bit}: {err}"
            );
        }
    }
}

#[test]
fn every_truncation_and_extension_is_detected() {
    let bytes = encode_snapshot(&sample());
    for len in 0..bytes.len() {
        assert!(decode_snapshot("s", &bytes[..len]).is_err(), "len {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode_snapshot("s", &longer).is_err());
}

#[test]
fn a_valid_checksum_over_a_bad_body_is_refused() {
    let mut body = b"INTRSNAP".to_vec();
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&[0x83, 0x00, 0x00, 0x00]);
    let sum = blake3::hash(&body);
    body.extend_from_slice(sum.as_bytes());
    let err = decode_snapshot("s", &body).unwrap_err();
    assert!(err.to_string().contains("snapshot s is unusable"), "{err}");
    let mut v4 = b"INTRSNAP".to_vec();
    v4.extend_from_slice(&4u32.to_le_bytes());
    let sum = blake3::hash(&v4);
    v4.extend_from_slice(sum.as_bytes());
    let err = decode_snapshot("s", &v4).unwrap_err();
    assert!(err.to_string().contains("format version 4"), "{err}");
}

#[test]
fn names_parse_back() {
    assert_eq!(snapshot_file_name(42), "00000000000000000042.snap");
    assert_eq!(parse_snapshot_name("00000000000000000042.snap"), Some(42));
    assert_eq!(parse_snapshot_name("42.snap"), None);
    assert_eq!(parse_snapshot_name(".00000000000000000042.snap.tmp"), None);
    assert_eq!(parse_snapshot_name("00000000000000000042.log"), None);
}

#[test]
fn write_list_read_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join(SNAPSHOTS_DIR);
    assert!(list_snapshots(&snaps).unwrap().is_empty());
    let mut s = sample();
    write_snapshot(&snaps, &s).unwrap();
    s.ts = 100;
    let p100 = write_snapshot(&snaps, &s).unwrap();
    fs::write(snaps.join(".00000000000000000200.snap.tmp"), b"junk").unwrap();
    let listed = list_snapshots(&snaps).unwrap();
    assert_eq!(
        listed.iter().map(|(ts, _)| *ts).collect::<Vec<_>>(),
        vec![100, 42]
    );
    assert_eq!(read_snapshot(&p100).unwrap(), s);
    // A file whose name disagrees with its contents is refused.
    fs::copy(&p100, snaps.join(snapshot_file_name(7))).unwrap();
    assert!(read_snapshot(&snaps.join(snapshot_file_name(7))).is_err());
    remove_snapshot(&snaps, 100).unwrap();
    let listed = list_snapshots(&snaps).unwrap();
    assert_eq!(
        listed.iter().map(|(ts, _)| *ts).collect::<Vec<_>>(),
        vec![42, 7]
    );
}

#[test]
fn retention_keeps_newest_snapshots_and_the_segments_they_need() {
    // Segments hold 1..=9, 10..=19, 20..=29, 30.. (the last, being written).
    let segs = [1, 10, 20, 30];
    let p = plan_retention(&[25, 5, 15], 2, &segs);
    assert_eq!(p.delete_snapshots, vec![5]);
    // Oldest kept is 15: only 1..=9 is fully covered.
    assert_eq!(p.delete_segments, vec![1]);
    // A snapshot exactly at a segment's last entry covers it.
    let p = plan_retention(&[19, 29], 2, &segs);
    assert_eq!(p.delete_segments, vec![1, 10]);
    assert!(p.delete_snapshots.is_empty());
    // The last segment is never deleted, even when a snapshot covers it all.
    let p = plan_retention(&[1000], 1, &segs);
    assert_eq!(p.delete_segments, vec![1, 10, 20]);
    // No snapshot: nothing is deleted.
    assert_eq!(plan_retention(&[], 2, &segs), RetentionPlan::default());
    // keep = 0 is treated as 1.
    let p = plan_retention(&[3, 9], 0, &segs);
    assert_eq!(p.delete_snapshots, vec![3]);
    assert_eq!(p.delete_segments, vec![1]);
    let p = plan_retention(&[8], 1, &segs);
    assert!(p.delete_segments.is_empty());
}
