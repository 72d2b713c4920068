//! The rest of the host calls: results, guest logs, `ctx.timestamp()`, the
//! time, rng seeds and panics.

use super::*;

pub(super) fn link_misc(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
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
            let at = crate::wasm::guest_log::At {
                module: &env.name,
                reducer: env
                    .schema
                    .reducers
                    .get(st.tx.reducer as usize)
                    .map_or("", |r| r.name.as_str()),
                ts: st.tx.timestamp,
            };
            crate::wasm::guest_log::write(
                level,
                &mem[r],
                at,
                &env.limits,
                &mut st.tx.usage.log_bytes,
                &mut rate,
                &mut st.tx.lines,
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
