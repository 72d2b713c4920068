//! The host calls a module may import (`docs/ABI.md` §4). Each validates its
//! pointers, lengths and CBOR and traps the guest with a [`HostTrap`] on bad
//! input; none can crash the host.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use interstice_abi::cbor::Reader;
use interstice_abi::host as abi;
use interstice_abi::ReducerMode;
use interstice_persist::{ErrorKind, Nondet, OutboundCall};
use wasmtime::{Caller, Linker};

use crate::wasm::env::{ModuleEnv, ReadAnswer, ReadCall, ReadCallError};
use crate::wasm::host_state::{HostState, HostTrap, Observation, Scan, TxMode, UNRECORDED_READ};
use crate::wasm::schema::params_type;
use interstice_tables::TableError;

type Res<T> = wasmtime::Result<T>;

fn trap<T>(t: HostTrap) -> Res<T> {
    Err(wasmtime::Error::new(t))
}

fn bad<T>(msg: impl Into<String>) -> Res<T> {
    trap(HostTrap::host(msg))
}

/// Bounds-checked view of guest memory.
fn slice(mem: &[u8], ptr: i32, len: i32, what: &str) -> Res<std::ops::Range<usize>> {
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    match p.checked_add(l) {
        Some(end) if end <= mem.len() => Ok(p..end),
        _ => bad(format!(
            "{what}: buffer {p:#x}+{l} is outside guest memory ({} bytes)",
            mem.len()
        )),
    }
}

/// Splits the caller into guest memory and host state.
fn parts<'a>(caller: &'a mut Caller<'_, HostState>) -> Res<(&'a mut [u8], &'a mut HostState)> {
    let Some(mem) = caller.data().memory else {
        return bad("host call before the module's memory was bound");
    };
    Ok(mem.data_and_store_mut(caller))
}

/// The logged timestamp of a write transaction being re-executed (`None`
/// live: a transaction gets its timestamp only once it has finished).
fn require_write(st: &HostState, what: &str) -> Res<Option<u64>> {
    match st.tx.mode {
        TxMode::Write { logged_ts } => Ok(logged_ts),
        TxMode::Read => bad(format!("{what} is not allowed in a read reducer")),
        TxMode::Idle => bad(format!("{what} called outside a reducer")),
    }
}

fn require_running(st: &HostState, what: &str) -> Res<()> {
    if st.tx.mode == TxMode::Idle {
        return bad(format!("{what} called outside a reducer"));
    }
    Ok(())
}

fn table_err<T>(st: &HostState, table: i32, op: &str, e: TableError) -> Res<T> {
    let name = st
        .tables
        .table(table as u32)
        .map(|t| t.name().to_owned())
        .unwrap_or_else(|| format!("#{table}"));
    match e {
        TableError::Constraint(m) => trap(HostTrap {
            kind: ErrorKind::Constraint,
            message: m,
        }),
        e => bad(format!("{op} on table `{name}`: {e}")),
    }
}

/// Counts a row write against the transaction's limits
/// (`Limits::tx_mutations`, `Limits::tx_mutation_bytes`); the write is
/// already made, and is rolled back with the rest when this fails.
fn count_mutation(st: &mut HostState) -> Res<()> {
    let Some(env) = &st.env else {
        return Ok(());
    };
    let limits = &env.limits;
    let usage = &mut st.tx.usage;
    usage.mutations += 1;
    usage.mutation_bytes += st.tables.last_change_bytes() as u64;
    if usage.mutations > limits.tx_mutations {
        return trap(HostTrap::limit(
            "tx_mutations",
            limits.tx_mutations,
            "row writes of this transaction",
        ));
    }
    if usage.mutation_bytes > limits.tx_mutation_bytes {
        return trap(HostTrap::limit(
            "tx_mutation_bytes",
            limits.tx_mutation_bytes,
            "bytes of row writes of this transaction",
        ));
    }
    Ok(())
}

fn set_ret(st: &mut HostState, bytes: &[u8]) -> i64 {
    st.tx.ret.clear();
    st.tx.ret.extend_from_slice(bytes);
    bytes.len() as i64
}

fn env(st: &HostState) -> Res<Arc<ModuleEnv>> {
    match &st.env {
        Some(e) => Ok(e.clone()),
        None => bad("host call while probing the module schema"),
    }
}

/// Registers every host call in `linker`.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;
    linker.func_wrap(
        m,
        abi::TABLE_INSERT,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i64> {
            let (mem, st) = parts(&mut c)?;
            require_write(st, "table_insert")?;
            let r = slice(mem, ptr, len, "table_insert")?;
            match st.tables.insert(table as u32, &mem[r]) {
                Ok(row) => {
                    let len = row.len() as i64;
                    st.tx.ret.clear();
                    st.tx.ret.extend_from_slice(row);
                    count_mutation(st)?;
                    Ok(len)
                }
                Err(e) => table_err(st, table, "insert", e),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::TABLE_UPDATE,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i32> {
            let (mem, st) = parts(&mut c)?;
            require_write(st, "table_update")?;
            let r = slice(mem, ptr, len, "table_update")?;
            match st.tables.update(table as u32, &mem[r]) {
                Ok(found) => {
                    if found {
                        count_mutation(st)?;
                    }
                    Ok(found as i32)
                }
                Err(e) => table_err(st, table, "update", e),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::TABLE_DELETE,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i32> {
            let (mem, st) = parts(&mut c)?;
            require_write(st, "table_delete")?;
            let r = slice(mem, ptr, len, "table_delete")?;
            match st.tables.delete(table as u32, &mem[r]) {
                Ok(found) => {
                    if found {
                        count_mutation(st)?;
                    }
                    Ok(found as i32)
                }
                Err(e) => table_err(st, table, "delete", e),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::TABLE_GET,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i64> {
            let (mem, st) = parts(&mut c)?;
            require_running(st, "table_get")?;
            let r = slice(mem, ptr, len, "table_get")?;
            match st.tables.get(table as u32, &mem[r]) {
                Ok(Some(row)) => {
                    let len = row.len() as i64;
                    st.tx.ret.clear();
                    st.tx.ret.extend_from_slice(row);
                    Ok(len)
                }
                Ok(None) => Ok(abi::NOT_FOUND),
                Err(e) => table_err(st, table, "get", e),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::TABLE_COUNT,
        |c: Caller<'_, HostState>, table: i32| -> Res<i64> {
            let st = c.data();
            require_running(st, "table_count")?;
            match st.tables.table(table as u32) {
                Some(t) => Ok(t.len() as i64),
                None => bad(format!("table_count: no table #{table}")),
            }
        },
    )?;
    link_scans(linker)?;
    link_misc(linker)?;
    link_calls(linker)?;
    Ok(())
}

/// Most scans one call may hold open at once.
const MAX_SCANS: usize = 1024;

fn link_scans(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;
    linker.func_wrap(
        m,
        abi::SCAN_OPEN,
        |mut c: Caller<'_, HostState>, table: i32| -> Res<i32> {
            let st = c.data_mut();
            require_running(st, "scan_open")?;
            if st.tables.table(table as u32).is_none() {
                return bad(format!("scan_open: no table #{table}"));
            }
            let scan = Some(Scan {
                table: table as u32,
                after: None,
            });
            if let Some(i) = st.tx.scans.iter().position(Option::is_none) {
                st.tx.scans[i] = scan;
                return Ok(i as i32);
            }
            if st.tx.scans.len() >= MAX_SCANS {
                return bad(format!("more than {MAX_SCANS} scans open at once"));
            }
            st.tx.scans.push(scan);
            Ok(st.tx.scans.len() as i32 - 1)
        },
    )?;
    linker.func_wrap(
        m,
        abi::SCAN_NEXT,
        |mut c: Caller<'_, HostState>, handle: i32| -> Res<i64> {
            let st = c.data_mut();
            let Some(Some(scan)) = st.tx.scans.get(handle as u32 as usize) else {
                return bad(format!("scan_next: no open scan #{handle}"));
            };
            let table = st.tables.table(scan.table).expect("checked at open");
            match table.next_after(scan.after.as_deref()) {
                Some((k, row)) => {
                    let (k, row): (Box<[u8]>, Vec<u8>) = (k.into(), row.to_vec());
                    st.tx.scans[handle as usize]
                        .as_mut()
                        .expect("checked above")
                        .after = Some(k);
                    Ok(set_ret(st, &row))
                }
                None => Ok(abi::NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::SCAN_CLOSE,
        |mut c: Caller<'_, HostState>, handle: i32| -> Res<()> {
            let st = c.data_mut();
            match st.tx.scans.get_mut(handle as u32 as usize) {
                Some(slot @ Some(_)) => {
                    *slot = None;
                    Ok(())
                }
                _ => bad(format!("scan_close: no open scan #{handle}")),
            }
        },
    )?;
    Ok(())
}

fn link_misc(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;
    linker.func_wrap(
        m,
        abi::RETURN_READ,
        |mut c: Caller<'_, HostState>, ptr: i32, len: i32| -> Res<()> {
            let (mem, st) = parts(&mut c)?;
            if len as u32 as usize != st.tx.ret.len() {
                return bad(format!(
                    "return_read: length {} does not match the return buffer ({} bytes)",
                    len as u32,
                    st.tx.ret.len()
                ));
            }
            let r = slice(mem, ptr, len, "return_read")?;
            mem[r].copy_from_slice(&st.tx.ret);
            Ok(())
        },
    )?;
    linker.func_wrap(
        m,
        abi::LOG,
        |mut c: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| -> Res<()> {
            let (mem, st) = parts(&mut c)?;
            let r = slice(mem, ptr, len, "log")?;
            let env = env(st)?;
            let mut rate = env.log_rate.lock().expect("log rate lock");
            crate::wasm::guest_log::write(
                level,
                &mem[r],
                &env.name,
                &env.limits,
                &mut st.tx.usage.log_bytes,
                &mut rate,
            )
            .or_else(trap)
        },
    )?;
    linker.func_wrap(
        m,
        abi::TIMESTAMP,
        |mut c: Caller<'_, HostState>| -> Res<i64> {
            let st = c.data_mut();
            let logged_ts = match st.tx.mode {
                TxMode::Write { logged_ts } => logged_ts,
                TxMode::Read => return Ok(0),
                TxMode::Idle => return bad("timestamp called outside a reducer"),
            };
            if let Some(ts) = st.tx.timestamp {
                return Ok(ts as i64);
            }
            let ts = match st.tx.recorded.as_mut() {
                Some(rec) => match rec.inputs.front() {
                    Some(Nondet::Timestamp(ts)) => {
                        let ts = *ts;
                        rec.inputs.pop_front();
                        ts
                    }
                    // Logged before `ctx.timestamp()` was recorded: it was
                    // the commit's own timestamp then.
                    _ => logged_ts.unwrap_or(0),
                },
                None => {
                    // The latest timestamp taken, after numbering this
                    // module's own finished commits: everything the
                    // transaction saw so far is at or before it, and its own
                    // commit will be after it.
                    let env = env(st)?;
                    match env.peers.latest_timestamp() {
                        Some(ts) => ts,
                        None => return bad("ctx.timestamp(): no timestamp was recorded for it"),
                    }
                }
            };
            st.tx.timestamp = Some(ts);
            st.tx.nondet.push(Nondet::Timestamp(ts));
            Ok(ts as i64)
        },
    )?;
    linker.func_wrap(
        m,
        abi::NOW_MICROS,
        |mut c: Caller<'_, HostState>| -> Res<i64> {
            let st = c.data_mut();
            require_running(st, "now_micros")?;
            if let Some(now) = st.tx.now {
                return Ok(now);
            }
            let now = match st.tx.recorded.as_mut() {
                Some(rec) => match rec.inputs.pop_front() {
                    Some(Nondet::Now(v)) => v,
                    other => {
                        return bad(format!(
                            "re-execution diverged: the reducer asked for the time, the log recorded {other:?}"
                        ))
                    }
                },
                None => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_micros() as i64)
                    .unwrap_or(0),
            };
            st.tx.now = Some(now);
            if matches!(st.tx.mode, TxMode::Write { .. }) {
                st.tx.nondet.push(Nondet::Now(now));
            }
            Ok(now)
        },
    )?;
    linker.func_wrap(
        m,
        abi::RNG_SEED,
        |mut c: Caller<'_, HostState>, ptr: i32| -> Res<()> {
            let (mem, st) = parts(&mut c)?;
            require_running(st, "rng_seed")?;
            let r = slice(mem, ptr, 32, "rng_seed")?;
            let seed = match st.tx.seed {
                Some(s) => s,
                None => {
                    let seed = match st.tx.recorded.as_mut() {
                        Some(rec) => match rec.inputs.pop_front() {
                            Some(Nondet::RngSeed(s)) => s,
                            other => {
                                return bad(format!(
                                    "re-execution diverged: the reducer asked for an rng seed, the log recorded {other:?}"
                                ))
                            }
                        },
                        None => derive_seed(st),
                    };
                    st.tx.seed = Some(seed);
                    if matches!(st.tx.mode, TxMode::Write { .. }) {
                        st.tx.nondet.push(Nondet::RngSeed(seed));
                    }
                    seed
                }
            };
            mem[r].copy_from_slice(&seed);
            Ok(())
        },
    )?;
    linker.func_wrap(
        m,
        abi::PANIC,
        |mut c: Caller<'_, HostState>, ptr: i32, len: i32| -> Res<()> {
            let (mem, st) = parts(&mut c)?;
            let r = slice(mem, ptr, len.min(64 * 1024), "panic")?;
            st.tx.panic_message = Some(String::from_utf8_lossy(&mem[r]).into_owned());
            Ok(())
        },
    )?;
    Ok(())
}

/// A seed no client can predict (it mixes the data directory's secret) but
/// that is recorded in the log, so re-execution reproduces it.
fn derive_seed(st: &HostState) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    if let Some(env) = &st.env {
        h.update(&env.secret);
        h.update(env.name.as_bytes());
    }
    h.update(match st.tx.mode {
        TxMode::Write { .. } => b"write",
        _ => b"read",
    });
    // Unique per call in this process (the counter), and across restarts
    // (the time): the transaction has no timestamp yet to mix in.
    if let Some(env) = &st.env {
        let n = env.seeds.fetch_add(1, Ordering::Relaxed);
        h.update(&n.to_le_bytes());
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(&nanos.to_le_bytes());
    *h.finalize().as_bytes()
}

/// Decodes `[module, reducer, args]` and checks it against the modules
/// loaded when the transaction at `ts` runs.
fn decode_call<'a>(
    env: &ModuleEnv,
    bytes: &'a [u8],
    want: ReducerMode,
    ts: Option<u64>,
) -> Res<(String, String, u32, &'a [u8])> {
    let mut r = Reader::new(bytes);
    let parsed = (|| {
        r.array_of(3)?;
        let module = r.str()?;
        let reducer = r.str()?;
        let args = r.skip()?;
        r.finish()?;
        Ok::<_, interstice_abi::AbiError>((module, reducer, args))
    })();
    let (module, reducer, args) = match parsed {
        Ok(p) => p,
        Err(e) => return bad(format!("call target is not [module, reducer, args]: {e}")),
    };
    let Some(target) = env.peers.schema(module, ts) else {
        return bad(format!("call to unknown module `{module}`"));
    };
    let Some((idx, rs)) = target.reducer(reducer) else {
        return bad(format!("module `{module}` has no reducer `{reducer}`"));
    };
    if rs.mode != want {
        let hint = match want {
            ReducerMode::Write => "ctx.call needs a write reducer; use read_call for reads",
            ReducerMode::Read => "read_call needs a read reducer; use ctx.call for writes",
        };
        return bad(format!("{module}.{reducer}: {hint}"));
    }
    if let Err(e) = params_type(rs).validate_exact(args) {
        return bad(format!(
            "arguments for {module}.{reducer} do not match its parameters: {e}"
        ));
    }
    Ok((module.to_owned(), reducer.to_owned(), idx, args))
}

fn link_calls(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;
    linker.func_wrap(
        m,
        abi::CALL_ASYNC,
        |mut c: Caller<'_, HostState>, ptr: i32, len: i32| -> Res<()> {
            let (mem, st) = parts(&mut c)?;
            let ts = require_write(st, "call_async")?;
            let r = slice(mem, ptr, len, "call_async")?;
            let env = env(st)?;
            let (module, reducer, _, args) = decode_call(&env, &mem[r], ReducerMode::Write, ts)?;
            let limits = &env.limits;
            if st.tx.calls.len() >= limits.tx_calls as usize {
                return trap(HostTrap::limit(
                    "tx_calls",
                    limits.tx_calls,
                    "async calls of this transaction",
                ));
            }
            st.tx.usage.call_bytes += args.len() as u64;
            if st.tx.usage.call_bytes > limits.tx_call_bytes {
                return trap(HostTrap::limit(
                    "tx_call_bytes",
                    limits.tx_call_bytes,
                    "bytes of async-call arguments of this transaction",
                ));
            }
            st.tx.calls.push(OutboundCall {
                module,
                reducer,
                args: args.to_vec(),
            });
            Ok(())
        },
    )?;
    linker.func_wrap(
        m,
        abi::CALL_READ,
        |mut c: Caller<'_, HostState>, ptr: i32, len: i32| -> Res<i64> {
            let (env, module, reducer, idx, args, recorded) = {
                let (mem, st) = parts(&mut c)?;
                require_running(st, "call_read")?;
                let r = slice(mem, ptr, len, "call_read")?;
                let env = env(st)?;
                let ts = match st.tx.mode {
                    TxMode::Write { logged_ts } => logged_ts,
                    _ => None,
                };
                let (module, reducer, idx, args) =
                    decode_call(&env, &mem[r], ReducerMode::Read, ts)?;
                if !env.schema.dependencies.iter().any(|d| d == &module) {
                    return bad(format!(
                        "read call to `{module}`, which `{}` does not declare as a dependency",
                        env.name
                    ));
                }
                let args = args.to_vec();
                let recorded = match st.tx.recorded.as_mut() {
                    None => None,
                    Some(rec) => match rec.inputs.pop_front() {
                        Some(Nondet::ReadCall {
                            module: m2,
                            reducer: r2,
                            args: a2,
                            result,
                            fuel,
                        }) if m2 == module && r2 == reducer && a2 == args => Some((result, fuel)),
                        None => {
                            return bad(format!(
                                "read call to {module}.{reducer}: {UNRECORDED_READ}"
                            ))
                        }
                        other => {
                            return bad(format!(
                                "re-execution diverged: read call to {module}.{reducer}, the \
                                 log recorded {other:?}"
                            ))
                        }
                    },
                };
                (env, module, reducer, idx, args, recorded)
            };
            let (result, fuel) = match recorded {
                Some(r) => r,
                None => {
                    // The read runs on what this transaction has left, and
                    // what it burns is charged here.
                    let left = c.get_fuel().unwrap_or(0);
                    let st = c.data();
                    let call = ReadCall {
                        module: &module,
                        reducer: &reducer,
                        idx,
                        args: args.clone(),
                        fuel: left,
                        deadline: st.tx.deadline,
                        observer: st.tx.observer,
                    };
                    let answer = run_read_call(&env, call)?;
                    c.data_mut().tx.observed.extend(answer.observed);
                    (answer.result, Some(answer.fuel))
                }
            };
            if let Some(burnt) = fuel {
                let left = c.get_fuel().unwrap_or(0);
                if burnt >= left {
                    return trap(HostTrap {
                        kind: ErrorKind::Budget,
                        message: format!(
                            "execution budget exhausted in read call to {module}.{reducer}: \
                             limit reached (Limits::fuel = {})",
                            env.limits.fuel
                        ),
                    });
                }
                c.set_fuel(left - burnt)?;
            }
            let st = c.data_mut();
            let limits = &env.limits;
            st.tx.usage.read_bytes += result.len() as u64;
            if st.tx.usage.read_bytes > limits.tx_read_bytes {
                return trap(HostTrap::limit(
                    "tx_read_bytes",
                    limits.tx_read_bytes,
                    "bytes of read-call results of this transaction",
                ));
            }
            if matches!(st.tx.mode, TxMode::Write { .. }) {
                st.tx.nondet.push(Nondet::ReadCall {
                    module,
                    reducer,
                    args,
                    result: result.clone(),
                    fuel,
                });
            }
            Ok(set_ret(st, &result))
        },
    )?;
    Ok(())
}

/// Runs a read reducer of another module now, blocking this module's thread
/// until it answers or the calling transaction's wall-clock limit runs out.
/// Deadlock-free because dependencies are acyclic, each module has its own
/// thread, and a module holding back its writes for a reader (a pin) still
/// answers reads.
fn run_read_call(env: &ModuleEnv, call: ReadCall<'_>) -> Res<ReadAnswer> {
    let (module, reducer) = (call.module, call.reducer);
    match env.peers.read_call(call) {
        Ok(answer) => Ok(answer),
        Err(ReadCallError::UnknownModule) => bad(format!("call to unknown module `{module}`")),
        Err(ReadCallError::Failed(f)) => trap(HostTrap {
            // Running out of fuel or time in the read call is this
            // transaction running out; anything else is a failed host call.
            kind: match f.kind {
                ErrorKind::Budget | ErrorKind::Timeout => f.kind,
                _ => ErrorKind::Host,
            },
            message: format!("read call to {module}.{reducer} failed: {}", f.message),
        }),
        Err(ReadCallError::TimedOut) => trap(HostTrap {
            kind: ErrorKind::Timeout,
            message: format!(
                "read call to {module}.{reducer} failed: wall-clock limit reached \
                 (Limits::tx_time = {:?}) waiting for its answer",
                env.limits.tx_time
            ),
        }),
        Err(ReadCallError::Stopped) => {
            bad(format!("read call to {module}.{reducer}: module stopped"))
        }
        Err(ReadCallError::Offline) => bad(format!(
            "read call to {module}.{reducer}: {UNRECORDED_READ}"
        )),
    }
}

/// The observations a read call's answer carries: the answering module's
/// own state, then what its own read calls saw.
pub(crate) fn observations(
    name: &Arc<str>,
    clock: &Arc<interstice_sync::ModuleClock>,
    nested: Vec<Observation>,
) -> Vec<Observation> {
    let mut out = Vec::with_capacity(1 + nested.len());
    out.push(Observation {
        module: name.clone(),
        clock: clock.clone(),
        last: clock.last(),
    });
    out.extend(nested);
    out
}
