//! Log entries and their canonical CBOR ([`crate::record`]).

use interstice_abi::cbor::{Reader, Writer};
use proptest::prelude::*;

use crate::record::*;
use crate::tests::support::{arb_entry, documented_commit, sample_engine, sample_entry};

fn roundtrip(e: &LogEntry) {
    let bytes = entry_to_vec(e);
    let back = entry_from_slice(&bytes).expect("decodes");
    assert_eq!(&back, e);
    // Canonical: re-encoding gives the same bytes.
    assert_eq!(entry_to_vec(&back), bytes);
}

fn bank_install(engine: Option<EngineInfo>) -> LogEntry {
    LogEntry::Install(ModuleInstall {
        ts: 1,
        name: "bank".into(),
        version: "1.2.0".into(),
        schema: vec![0x80],
        schema_hash: [7; 32],
        wasm_hash: [9; 32],
        engine,
    })
}

#[test]
fn install_roundtrips() {
    roundtrip(&bank_install(None));
}

#[test]
fn an_install_with_its_engine_and_an_engine_entry_roundtrip() {
    let install = bank_install(Some(sample_engine()));
    roundtrip(&install);
    // The install without an engine is the 7-item array logs written before
    // engines were recorded hold; with one, an 8th item.
    assert_eq!(entry_to_vec(&install)[0], 0x88);
    roundtrip(&LogEntry::Engine(EngineRecord {
        ts: 12,
        engine: sample_engine(),
    }));
}

/// docs/LOG_FORMAT.md §8.2, byte for byte.
#[test]
fn documented_engine_entry_bytes() {
    let e = LogEntry::Engine(EngineRecord {
        ts: 12,
        engine: sample_engine(),
    });
    let mut want = vec![0x83, 0x02, 0x0c, 0x86];
    want.extend_from_slice(&[0x65, b'0', b'.', b'1', b'.', b'0']);
    want.extend_from_slice(&[0x66, b'4', b'8', b'.', b'0', b'.', b'8']);
    want.push(0x6c);
    want.extend_from_slice(b"x86_64-linux");
    want.extend_from_slice(&[0x01, 0x1a, 0x00, 0x10, 0x00, 0x00, 0x58, 0x20]);
    want.extend_from_slice(&[0xab; 32]);
    assert_eq!(entry_to_vec(&e), want);
    assert_eq!(want.len(), 70);
}

/// docs/LOG_FORMAT.md §8.4, byte for byte.
#[test]
fn log_format_md_unload_example() {
    let e = LogEntry::Unload(UnloadRecord {
        ts: 9,
        name: "bank".into(),
        tables: UnloadTables::Drop,
    });
    let want = [0x84, 0x03, 0x09, 0x64, b'b', b'a', b'n', b'k', 0x01];
    assert_eq!(entry_to_vec(&e), want);
    roundtrip(&e);
    // Keeping the tables is the same entry ending in 0.
    let keep = LogEntry::Unload(UnloadRecord {
        ts: 9,
        name: "bank".into(),
        tables: UnloadTables::Keep,
    });
    assert_eq!(entry_to_vec(&keep)[..8], want[..8]);
    assert_eq!(entry_to_vec(&keep)[8], 0x00);
    // Any other mode, or another length, is refused.
    let mut bad = want;
    bad[8] = 0x02;
    let err = entry_from_slice(&bad).expect_err("mode 2 is unknown");
    assert!(
        err.to_string().contains("unknown unload tables mode 2"),
        "{err}"
    );
    let mut short = want[..8].to_vec();
    short[0] = 0x83;
    let err = entry_from_slice(&short).expect_err("3 items");
    assert!(
        err.to_string().contains("must be an array of 4 items"),
        "{err}"
    );
}

#[test]
fn engine_fields_that_differ_are_named() {
    let old = sample_engine();
    let mut new = sample_engine();
    assert!(old.changes_to(&new).is_empty());
    new.wasmtime = "49.0.0".into();
    new.fuel_schedule = 2;
    let changes = old.changes_to(&new);
    let named: Vec<_> = changes
        .iter()
        .map(|c| (c.field, c.before.as_str(), c.after.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            ("wasmtime", "48.0.8", "49.0.0"),
            ("fuel_schedule", "1", "2")
        ]
    );
}

#[test]
fn malformed_engine_records_are_refused_with_their_reason() {
    let engine = |items: &[u8]| {
        let mut b = vec![0x83, 0x02, 0x0c];
        b.extend_from_slice(items);
        entry_from_slice(&b).unwrap_err().to_string()
    };
    assert!(engine(&[0x80]).contains("an engine must be an array of 6 items, found 0"));
    let err = entry_from_slice(&[0x82, 0x02, 0x0c])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("must be an array of 3 items, found 2"),
        "{err}"
    );
    let mut nine = entry_to_vec(&sample_entry(3, 0));
    nine[0] = 0x89;
    let err = entry_from_slice(&nine).unwrap_err().to_string();
    assert!(
        err.contains("must be an array of 7 or 8 items, found 9"),
        "{err}"
    );
}

#[test]
fn every_cause_nondet_outcome_and_op_roundtrips() {
    let causes = [
        Cause::External,
        Cause::Init,
        Cause::Call {
            module: "a".into(),
            ts: 41,
            index: 3,
            reply: None,
        },
        Cause::Call {
            module: "a".into(),
            ts: 42,
            index: 0,
            reply: Some("on_reply".into()),
        },
        Cause::Reply {
            module: "c".into(),
            ts: 43,
            index: 2,
        },
        Cause::Trigger {
            module: "b".into(),
            ts: u64::MAX,
            index: u32::MAX,
        },
        Cause::Migration {
            table: "items".into(),
            from_version: 1,
            to_version: u32::MAX,
        },
    ];
    let mut outcomes = vec![Outcome::Ok(vec![0xf6])];
    for kind in ErrorKind::ALL {
        outcomes.push(Outcome::Err {
            kind,
            message: format!("failed: {kind:?}"),
            value: None,
        });
        outcomes.push(Outcome::Err {
            kind,
            message: format!("failed: {kind:?}"),
            value: Some(vec![0x62, b'n', b'o']),
        });
    }
    for (i, cause) in causes.iter().enumerate() {
        for outcome in &outcomes {
            roundtrip(&LogEntry::Commit(CommitRecord {
                ts: 100 + i as u64,
                module: "bank".into(),
                schema_hash: [1; 32],
                reducer: "transfer".into(),
                args: vec![0x82, 0x01, 0x02],
                cause: cause.clone(),
                nondet: vec![
                    Nondet::Now(-5),
                    Nondet::Now(i64::MIN),
                    Nondet::RngSeed([3; 32]),
                    Nondet::ReadCall {
                        module: "ledger".into(),
                        reducer: "balance".into(),
                        args: vec![0x81, 0x00],
                        result: vec![0x18, 0x64],
                        fuel: None,
                    },
                    Nondet::ReadCall {
                        module: "ledger".into(),
                        reducer: "balance".into(),
                        args: vec![0x81, 0x00],
                        result: vec![0x18, 0x64],
                        fuel: Some(u64::MAX),
                    },
                    Nondet::Timestamp(0),
                    Nondet::Timestamp(u64::MAX),
                ],
                outcome: outcome.clone(),
                mutations: vec![
                    Mutation {
                        table: 0,
                        op: MutationOp::Insert(vec![0x80]),
                    },
                    Mutation {
                        table: 1,
                        op: MutationOp::Update(vec![0x81, 0x01]),
                    },
                    Mutation {
                        table: u32::MAX,
                        op: MutationOp::Delete(vec![0x05]),
                    },
                ],
                calls: vec![
                    OutboundCall {
                        module: "mail".into(),
                        reducer: "send".into(),
                        args: vec![0x80],
                        reply: None,
                    },
                    OutboundCall {
                        module: "mail".into(),
                        reducer: "send".into(),
                        args: vec![0x80],
                        reply: Some("on_sent".into()),
                    },
                ],
                wall_micros: [None, Some(0), Some(1_764_740_000_000_000), Some(u64::MAX)][i % 4],
            }));
        }
    }
}

#[test]
fn error_kind_codes_are_stable() {
    let codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
    assert_eq!(codes, vec![0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(ErrorKind::from_code(5), Some(ErrorKind::Constraint));
    assert_eq!(ErrorKind::from_code(7), Some(ErrorKind::Timeout));
    assert_eq!(ErrorKind::from_code(8), Some(ErrorKind::FanOut));
    assert_eq!(ErrorKind::from_code(9), None);
    assert_eq!(ErrorKind::from_code(u64::MAX), None);
}

#[test]
fn byte_layout_of_a_small_commit_is_as_documented() {
    let e = LogEntry::Commit(CommitRecord {
        ts: 2,
        module: "m".into(),
        schema_hash: [0; 32],
        reducer: "r".into(),
        args: vec![0x80],
        cause: Cause::External,
        nondet: vec![],
        outcome: Outcome::Err {
            kind: ErrorKind::Budget,
            message: String::new(),
            value: None,
        },
        mutations: vec![],
        calls: vec![],
        wall_micros: None,
    });
    let b = entry_to_vec(&e);
    let mut want = vec![0x8b, 0x01, 0x02, 0x61, b'm', 0x58, 0x20];
    want.extend_from_slice(&[0; 32]);
    want.extend_from_slice(&[0x61, b'r', 0x41, 0x80, 0x81, 0x00, 0x80]);
    want.extend_from_slice(&[0x83, 0x01, 0x03, 0x60, 0x80, 0x80]);
    assert_eq!(b, want);
}

fn decode_err(bytes: &[u8]) -> String {
    match entry_from_slice(bytes) {
        Ok(e) => panic!("decoded {e:?} from bad input"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn strict_decoding_refuses_bad_shapes() {
    // Unknown entry kind.
    let mut w = Writer::new();
    w.array(1);
    w.u64(9);
    assert!(decode_err(w.as_slice()).contains("unknown log entry kind 9"));

    // Install with a missing field.
    let mut w = Writer::new();
    w.array(6);
    w.u64(KIND_INSTALL);
    for _ in 0..5 {
        w.u64(0);
    }
    assert!(decode_err(w.as_slice()).contains("array of 7 or 8 items, found 6"));

    // A 31-byte hash.
    let mut w = Writer::new();
    w.array(7);
    w.u64(KIND_INSTALL);
    w.u64(1);
    w.str("n");
    w.str("v");
    w.bytes(&[]);
    w.bytes(&[0; 31]);
    w.bytes(&[0; 32]);
    assert!(decode_err(w.as_slice()).contains("expected 32 bytes"));

    // Unknown error-kind code.
    let ok = LogEntry::Commit(CommitRecord {
        ts: 3,
        module: String::new(),
        schema_hash: [0; 32],
        reducer: String::new(),
        args: vec![],
        cause: Cause::Init,
        nondet: vec![],
        outcome: Outcome::Err {
            kind: ErrorKind::Host,
            message: String::new(),
            value: None,
        },
        mutations: vec![],
        calls: vec![],
        wall_micros: None,
    });
    let mut bytes = entry_to_vec(&ok);
    let pos = bytes
        .windows(3)
        .position(|w| w == [0x83, 0x01, 0x06])
        .unwrap();
    bytes[pos + 2] = 0x09;
    assert!(decode_err(&bytes).contains("unknown error kind code 9"));

    // Trailing bytes after one entry.
    let mut bytes = entry_to_vec(&ok);
    bytes.push(0x00);
    assert!(decode_err(&bytes).contains("trailing"));

    // Non-canonical integer (ts 3 as a one-byte argument).
    let mut bytes = entry_to_vec(&ok);
    assert_eq!(bytes[2], 0x03);
    bytes.splice(2..3, [0x18, 0x03]);
    assert!(decode_err(&bytes).contains("non-canonical"));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let bytes = entry_to_vec(&sample_entry(77, 5));
    for cut in 0..bytes.len() {
        let mut r = Reader::new(&bytes[..cut]);
        assert!(
            decode_entry(&mut r).is_err(),
            "prefix of {cut} bytes decoded"
        );
    }
}

#[test]
fn batch_payload_is_concatenated_entries() {
    let entries: Vec<LogEntry> = (10..14).map(|ts| sample_entry(ts, ts as usize)).collect();
    let payload = encode_batch_payload(&entries);
    let mut r = Reader::new(&payload);
    for e in &entries {
        assert_eq!(&decode_entry(&mut r).unwrap(), e);
    }
    assert!(r.is_at_end());
}

proptest! {
    #[test]
    fn arbitrary_entries_roundtrip(e in arb_entry()) {
        let bytes = entry_to_vec(&e);
        prop_assert_eq!(entry_from_slice(&bytes).unwrap(), e);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = entry_from_slice(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(e in arb_entry(), idx in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = entry_to_vec(&e);
        let i = idx % bytes.len();
        bytes[i] = byte;
        if let Ok(back) = entry_from_slice(&bytes) {
            // Whatever decodes must re-encode to the same bytes (canonical).
            prop_assert_eq!(entry_to_vec(&back), bytes);
        }
    }
}

/// `e` with timestamp `ts`.
fn at(mut e: LogEntry, ts: u64) -> LogEntry {
    match &mut e {
        LogEntry::Commit(c) => c.ts = ts,
        LogEntry::Install(i) => i.ts = ts,
        LogEntry::Engine(e) => e.ts = ts,
        LogEntry::Unload(u) => u.ts = ts,
    }
    e
}

#[test]
fn an_unnumbered_entry_numbered_is_the_numbered_encoding_at_every_head_width() {
    // Variant 0 is an install, the others commits of every shape.
    for e in (0..14).map(|variant| sample_entry(5, variant)) {
        for ts in [
            0,
            1,
            23,
            24,
            255,
            256,
            65_535,
            65_536,
            u32::MAX as u64,
            1 << 32,
            u64::MAX,
        ] {
            let late = UnnumberedEntry::encode(&e).numbered(ts);
            assert_eq!(late, entry_to_vec(&at(e.clone(), ts)), "ts {ts}");
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_entries_numbered_late_encode_as_numbered(e in arb_entry(), ts in any::<u64>()) {
        let late = UnnumberedEntry::encode(&e).numbered(ts);
        let numbered = at(e, ts);
        prop_assert_eq!(&late, &entry_to_vec(&numbered));
        prop_assert_eq!(entry_from_slice(&late).unwrap(), numbered);
    }

    /// The module actor's encoder, from borrowed parts, writes the same
    /// bytes as the owned record's.
    #[test]
    fn commits_encoded_from_parts_encode_as_records(e in arb_entry(), ts in any::<u64>()) {
        let LogEntry::Commit(c) = &e else {
            return Ok(());
        };
        let from_parts =
            UnnumberedEntry::encode_commit(&c.parts(), c.mutations.iter().map(Mutation::as_ref));
        prop_assert_eq!(&from_parts, &UnnumberedEntry::encode(&e));
        prop_assert_eq!(from_parts.numbered(ts), entry_to_vec(&at(e.clone(), ts)));
    }
}

/// The worked example of `docs/LOG_FORMAT.md` §8.1, byte for byte: a
/// migration's commit (cause tag 4).
#[test]
fn log_format_md_migration_example() {
    let e = LogEntry::Commit(CommitRecord {
        ts: 5,
        module: "m".into(),
        schema_hash: [0; 32],
        reducer: "mig".into(),
        args: vec![0x81, 0x01],
        cause: Cause::Migration {
            table: "items".into(),
            from_version: 1,
            to_version: 2,
        },
        nondet: vec![],
        outcome: Outcome::Ok(vec![0xf6]),
        mutations: vec![Mutation {
            table: 0,
            op: MutationOp::Insert(vec![0x82, 0x01, 0x03]),
        }],
        calls: vec![],
        wall_micros: None,
    });
    let bytes = entry_to_vec(&e);
    let mut want = vec![0x8b, 0x01, 0x05, 0x61, b'm', 0x58, 0x20];
    want.extend([0u8; 32]);
    want.extend([0x63, b'm', b'i', b'g', 0x42, 0x81, 0x01]);
    want.extend([0x84, 0x04, 0x65, b'i', b't', b'e', b'm', b's', 0x01, 0x02]);
    want.extend([0x80, 0x82, 0x00, 0x41, 0xf6]);
    want.extend([0x81, 0x83, 0x00, 0x00, 0x43, 0x82, 0x01, 0x03, 0x80]);
    assert_eq!(bytes, want);
    roundtrip(&e);
    // A cause with a version past u32 is refused, not truncated.
    let mut bad = bytes.clone();
    let at = bad.iter().position(|&b| b == 0x84).unwrap();
    bad.splice(at + 8..at + 9, [0x1b, 1, 0, 0, 0, 0, 0, 0, 0]);
    assert!(entry_from_slice(&bad).is_err());
}

/// The worked example of `docs/LOG_FORMAT.md` §8.3, byte for byte: §8's
/// commit with its wall-clock time, the 12-item form; and the 11-item form
/// of logs written before wall-clock times still decodes, as `None`.
#[test]
fn log_format_md_wall_clock_example() {
    let mut e = documented_commit();
    let old = entry_to_vec(&LogEntry::Commit(e.clone()));
    let mut body = vec![0x01, 0x01, 0x61, b'm', 0x58, 0x20];
    body.extend([0u8; 32]);
    body.extend([
        0x61, b'r', 0x41, 0x80, 0x81, 0x00, 0x80, 0x82, 0x00, 0x41, 0xf6, 0x80, 0x80,
    ]);
    assert_eq!(old, [&[0x8b][..], &body].concat(), "§8's 11 items");
    assert_eq!(
        entry_from_slice(&old).unwrap(),
        LogEntry::Commit(e.clone()),
        "an 11-item commit has no wall-clock time"
    );

    e.wall_micros = Some(1_764_740_000_000_000);
    let bytes = entry_to_vec(&LogEntry::Commit(e.clone()));
    let want = [
        &[0x8c][..],
        &body,
        &[0x1b, 0x00, 0x06, 0x45, 0x05, 0x8c, 0xd2, 0x28, 0x00],
    ]
    .concat();
    assert_eq!(bytes, want);
    roundtrip(&LogEntry::Commit(e));

    // 13 items, or 12 whose last is not an unsigned integer, are refused.
    let mut thirteen = bytes.clone();
    thirteen[0] = 0x8d;
    thirteen.push(0x00);
    let err = entry_from_slice(&thirteen).unwrap_err().to_string();
    assert!(err.contains("11 or 12 items, found 13"), "{err}");
    let mut text_last = [&[0x8c][..], &body].concat();
    text_last.extend([0x61, b'x']);
    assert!(entry_from_slice(&text_last).is_err());
}

/// A commit `m.r` caused by call #0 of `c` at ts 1, that failed (Budget,
/// "x") and made one call `n.f()`, with or without the reply fields.
fn replied_commit(reply: Option<&str>, value: Option<Vec<u8>>) -> LogEntry {
    LogEntry::Commit(CommitRecord {
        ts: 2,
        module: "m".into(),
        schema_hash: [0; 32],
        reducer: "r".into(),
        args: vec![0x80],
        cause: Cause::Call {
            module: "c".into(),
            ts: 1,
            index: 0,
            reply: reply.map(str::to_owned),
        },
        nondet: vec![],
        outcome: Outcome::Err {
            kind: ErrorKind::Budget,
            message: "x".into(),
            value,
        },
        mutations: vec![],
        calls: vec![OutboundCall {
            module: "n".into(),
            reducer: "f".into(),
            args: vec![0x80],
            reply: reply.map(str::to_owned),
        }],
        wall_micros: None,
    })
}

/// The bytes of [`replied_commit`]: `cause`, `outcome` and `call` are
/// spliced in after the common prefix.
fn replied_bytes(cause: &[u8], outcome: &[u8], call: &[u8]) -> Vec<u8> {
    let mut b = vec![0x8b, 0x01, 0x02, 0x61, b'm', 0x58, 0x20];
    b.extend_from_slice(&[0; 32]);
    b.extend_from_slice(&[0x61, b'r', 0x41, 0x80]);
    b.extend_from_slice(cause);
    b.push(0x80); // nondet
    b.extend_from_slice(outcome);
    b.push(0x80); // mutations
    b.push(0x81); // one call
    b.extend_from_slice(call);
    b
}

#[test]
fn a_record_written_before_replies_still_decodes_and_the_reply_fields_are_as_documented() {
    // Before replies: a 4-item call cause, a 3-item error outcome, a 3-item
    // outbound call. It decodes with every reply field absent, and a record
    // without them encodes to the same bytes.
    let old = replied_bytes(
        &[0x84, 0x02, 0x61, b'c', 0x01, 0x00],
        &[0x83, 0x01, 0x03, 0x61, b'x'],
        &[0x83, 0x61, b'n', 0x61, b'f', 0x41, 0x80],
    );
    assert_eq!(entry_from_slice(&old).unwrap(), replied_commit(None, None));
    assert_eq!(entry_to_vec(&replied_commit(None, None)), old);

    // With them (docs/LOG_FORMAT.md): the reply reducer "ok" ends the
    // cause and the call, the error value (bytes 0x00) ends the outcome.
    let new = replied_bytes(
        &[0x85, 0x02, 0x61, b'c', 0x01, 0x00, 0x62, b'o', b'k'],
        &[0x84, 0x01, 0x03, 0x61, b'x', 0x41, 0x00],
        &[0x84, 0x61, b'n', 0x61, b'f', 0x41, 0x80, 0x62, b'o', b'k'],
    );
    let e = replied_commit(Some("ok"), Some(vec![0x00]));
    assert_eq!(entry_to_vec(&e), new);
    assert_eq!(entry_from_slice(&new).unwrap(), e);

    // A reply's cause: tag 5, like a trigger's.
    let mut w = Writer::new();
    crate::record::encode_cause(
        &Cause::Reply {
            module: "c".into(),
            ts: 1,
            index: 2,
        },
        &mut w,
    );
    assert_eq!(w.as_slice(), &[0x84, 0x05, 0x61, b'c', 0x01, 0x02]);
}
