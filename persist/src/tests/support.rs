//! Helpers shared by this crate's unit tests: sample entries and proptest
//! strategies.

use proptest::prelude::*;

use crate::record::*;

/// An engine record's contents, as a build of wasmtime 48 on x86-64 Linux
/// would write them.
pub(crate) fn sample_engine() -> EngineInfo {
    EngineInfo {
        runtime: "0.1.0".into(),
        wasmtime: "48.0.8".into(),
        target: "x86_64-linux".into(),
        fuel_schedule: 1,
        max_wasm_stack: 1 << 20,
        code: [0xab; 32],
    }
}

/// A deterministic entry at `ts`; `variant` picks among several shapes.
pub(crate) fn sample_entry(ts: u64, variant: usize) -> LogEntry {
    if variant.is_multiple_of(7) {
        return LogEntry::Install(ModuleInstall {
            ts,
            name: format!("mod{variant}"),
            version: "0.1.0".into(),
            schema: vec![0x80; variant % 5],
            schema_hash: [variant as u8; 32],
            wasm_hash: [ts as u8; 32],
            engine: (variant % 2 == 1).then(sample_engine),
        });
    }
    let cause = match variant % 4 {
        0 => Cause::External,
        1 => Cause::Init,
        2 => Cause::Call {
            module: "caller".into(),
            ts: ts.saturating_sub(1),
            index: variant as u32,
            reply: None,
        },
        _ => Cause::Trigger {
            module: "source".into(),
            ts: ts.saturating_sub(2),
            index: 0,
        },
    };
    let outcome = if variant.is_multiple_of(3) {
        Outcome::Err {
            kind: ErrorKind::ALL[variant % ErrorKind::ALL.len()],
            message: format!("error at {ts}"),
            value: None,
        }
    } else {
        Outcome::Ok(vec![0x18, (variant % 200 + 24) as u8])
    };
    LogEntry::Commit(CommitRecord {
        ts,
        module: "bank".into(),
        schema_hash: [0xab; 32],
        reducer: "transfer".into(),
        args: vec![0x82, 0x01, (variant % 20) as u8],
        cause,
        nondet: vec![Nondet::Now(ts as i64 * 1000), Nondet::RngSeed([3; 32])],
        outcome,
        mutations: (0..variant % 4)
            .map(|i| Mutation {
                table: i as u32,
                op: MutationOp::Insert(vec![0x81, i as u8]),
            })
            .collect(),
        calls: vec![],
        wall_micros: None,
    })
}

/// A commit at `ts` whose encoding ends in two zero bytes (its one
/// outbound call's arguments are `[0, 0]`).
pub(crate) fn commit_ending_in_zeros(ts: u64) -> LogEntry {
    LogEntry::Commit(CommitRecord {
        ts,
        module: "bank".into(),
        schema_hash: [0xab; 32],
        reducer: "pay".into(),
        args: vec![0x80],
        cause: Cause::External,
        nondet: vec![],
        outcome: Outcome::Ok(vec![0xf6]),
        mutations: vec![],
        calls: vec![OutboundCall {
            module: "ledger".into(),
            reducer: "note".into(),
            args: vec![0x82, 0x00, 0x00],
            reply: None,
        }],
        wall_micros: None,
    })
}

/// `count` sample entries starting at `first_ts`, and their batch payload.
pub(crate) fn sample_batch(first_ts: u64, count: u32) -> (Vec<LogEntry>, Vec<u8>) {
    let entries: Vec<LogEntry> = (0..u64::from(count))
        .map(|i| sample_entry(first_ts + i, (first_ts + i) as usize))
        .collect();
    let payload = encode_batch_payload(&entries);
    (entries, payload)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..24)
}

fn text() -> impl Strategy<Value = String> {
    "[a-zé_0-9]{0,12}"
}

fn arb_cause() -> impl Strategy<Value = Cause> {
    prop_oneof![
        Just(Cause::External),
        Just(Cause::Init),
        (
            text(),
            any::<u64>(),
            any::<u32>(),
            proptest::option::of(text())
        )
            .prop_map(|(module, ts, index, reply)| Cause::Call {
                module,
                ts,
                index,
                reply
            }),
        (text(), any::<u64>(), any::<u32>()).prop_map(|(module, ts, index)| Cause::Reply {
            module,
            ts,
            index
        }),
        (text(), any::<u64>(), any::<u32>()).prop_map(|(module, ts, index)| Cause::Trigger {
            module,
            ts,
            index
        }),
        (text(), any::<u32>(), any::<u32>()).prop_map(|(table, from_version, to_version)| {
            Cause::Migration {
                table,
                from_version,
                to_version,
            }
        }),
    ]
}

fn arb_nondet() -> impl Strategy<Value = Nondet> {
    prop_oneof![
        any::<i64>().prop_map(Nondet::Now),
        any::<[u8; 32]>().prop_map(Nondet::RngSeed),
        (text(), text(), bytes(), bytes(), any::<Option<u64>>()).prop_map(
            |(module, reducer, args, result, fuel)| Nondet::ReadCall {
                module,
                reducer,
                args,
                result,
                fuel,
            }
        ),
        any::<u64>().prop_map(Nondet::Timestamp),
    ]
}

fn arb_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        bytes().prop_map(Outcome::Ok),
        (
            0usize..ErrorKind::ALL.len(),
            text(),
            proptest::option::of(bytes())
        )
            .prop_map(|(k, message, value)| Outcome::Err {
                kind: ErrorKind::ALL[k],
                message,
                value
            }),
    ]
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    (any::<u32>(), 0u8..3, bytes()).prop_map(|(table, op, b)| Mutation {
        table,
        op: match op {
            0 => MutationOp::Insert(b),
            1 => MutationOp::Update(b),
            _ => MutationOp::Delete(b),
        },
    })
}

fn arb_call() -> impl Strategy<Value = OutboundCall> {
    (text(), text(), bytes(), proptest::option::of(text())).prop_map(
        |(module, reducer, args, reply)| OutboundCall {
            module,
            reducer,
            args,
            reply,
        },
    )
}

/// Any entry.
pub(crate) fn arb_entry() -> impl Strategy<Value = LogEntry> {
    let install = (
        any::<u64>(),
        text(),
        text(),
        bytes(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        proptest::option::of(arb_engine()),
    )
        .prop_map(
            |(ts, name, version, schema, schema_hash, wasm_hash, engine)| {
                LogEntry::Install(ModuleInstall {
                    ts,
                    name,
                    version,
                    schema,
                    schema_hash,
                    wasm_hash,
                    engine,
                })
            },
        );
    let engine = (any::<u64>(), arb_engine())
        .prop_map(|(ts, engine)| LogEntry::Engine(EngineRecord { ts, engine }));
    let commit = (
        (any::<u64>(), text(), any::<[u8; 32]>(), text(), bytes()),
        arb_cause(),
        proptest::collection::vec(arb_nondet(), 0..4),
        arb_outcome(),
        proptest::collection::vec(arb_mutation(), 0..4),
        (
            proptest::collection::vec(arb_call(), 0..3),
            proptest::option::of(any::<u64>()),
        ),
    )
        .prop_map(
            |(
                (ts, module, schema_hash, reducer, args),
                cause,
                nondet,
                outcome,
                mutations,
                (calls, wall_micros),
            )| {
                LogEntry::Commit(CommitRecord {
                    ts,
                    module,
                    schema_hash,
                    reducer,
                    args,
                    cause,
                    nondet,
                    outcome,
                    mutations,
                    calls,
                    wall_micros,
                })
            },
        );
    let unload = (any::<u64>(), text(), any::<bool>()).prop_map(|(ts, name, drop)| {
        LogEntry::Unload(UnloadRecord {
            ts,
            name,
            tables: if drop {
                UnloadTables::Drop
            } else {
                UnloadTables::Keep
            },
        })
    });
    prop_oneof![install, commit, engine, unload]
}

/// Any engine record's contents.
pub(crate) fn arb_engine() -> impl Strategy<Value = EngineInfo> {
    (
        text(),
        text(),
        text(),
        any::<u32>(),
        any::<u64>(),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(runtime, wasmtime, target, fuel_schedule, max_wasm_stack, code)| EngineInfo {
                runtime,
                wasmtime,
                target,
                fuel_schedule,
                max_wasm_stack,
                code,
            },
        )
}

/// Where a batch of a test log lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchLoc {
    pub segment: String,
    pub offset: u64,
    pub len: u64,
    pub first_ts: u64,
    pub count: u32,
}

/// Writes batches of `counts` entries into `storage` (synced), and returns
/// every entry written and where each batch landed.
pub(crate) fn build_log(
    storage: &std::sync::Arc<dyn crate::Storage>,
    segment_size: u64,
    counts: &[u32],
) -> (Vec<LogEntry>, Vec<BatchLoc>) {
    let opts = crate::WriterOptions {
        segment_size,
        verify_batches: true,
    };
    let (mut w, rec) = crate::LogWriter::open(storage.clone(), opts).unwrap();
    let mut all = Vec::new();
    let mut ts = rec.next_ts;
    for &count in counts {
        let (entries, payload) = sample_batch(ts, count);
        w.append_batch(ts, count, &payload).unwrap();
        ts += u64::from(count);
        all.extend(entries);
    }
    w.sync().unwrap();
    let mut locs = Vec::new();
    crate::read_log(&**storage, &crate::ReadOptions::default(), |b| {
        locs.push(BatchLoc {
            segment: b.segment.to_owned(),
            offset: b.offset,
            len: (crate::segment::BATCH_HEADER_LEN + b.payload.len()) as u64,
            first_ts: b.first_ts,
            count: b.count,
        });
        Ok::<(), crate::PersistError>(())
    })
    .unwrap();
    (all, locs)
}

/// Every entry of the log, read strictly.
pub(crate) fn read_all(storage: &dyn crate::Storage) -> Result<Vec<LogEntry>, crate::PersistError> {
    let mut out = Vec::new();
    crate::read_log(
        storage,
        &crate::ReadOptions::default(),
        crate::for_each_entry(|e| {
            out.push(e);
            Ok::<(), crate::PersistError>(())
        }),
    )?;
    Ok(out)
}

/// The commit of `docs/LOG_FORMAT.md` §8's worked example: `r` of module
/// `m` at ts 1, external, no arguments, `Ok(null)`, nothing changed, no
/// wall-clock time (the 11-item form).
pub(crate) fn documented_commit() -> CommitRecord {
    CommitRecord {
        ts: 1,
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
    }
}
