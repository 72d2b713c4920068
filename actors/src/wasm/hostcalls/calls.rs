//! Calls to other modules: async calls, queued with the commit, and read
//! calls, run now through [`Peers`](crate::wasm::env::Peers).

use super::*;

/// A checked call: target module and reducer, the reducer's index, the
/// arguments, and the reply reducer (`call_async_reply`).
struct CheckedCall<'a> {
    module: String,
    reducer: String,
    idx: u32,
    args: &'a [u8],
    reply: Option<String>,
}

/// Decodes `[module, reducer, args]` (with `reply`: `[module, reducer,
/// args, reply]`) and checks it against the modules loaded when the
/// transaction at `ts` runs.
fn decode_call<'a>(
    env: &ModuleEnv,
    bytes: &'a [u8],
    want: ReducerMode,
    ts: Option<u64>,
    reply: bool,
) -> Res<CheckedCall<'a>> {
    let mut r = Reader::new(bytes);
    let parsed = (|| {
        r.array_of(if reply { 4 } else { 3 })?;
        let module = r.str()?;
        let reducer = r.str()?;
        let args = r.skip()?;
        let to = if reply { Some(r.str()?) } else { None };
        r.finish()?;
        Ok::<_, interstice_abi::AbiError>((module, reducer, args, to))
    })();
    let (module, reducer, args, reply_to) = match parsed {
        Ok(p) => p,
        Err(e) if reply => {
            return bad(format!(
                "call target is not [module, reducer, args, reply]: {e}"
            ))
        }
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
    if let Some(to) = reply_to {
        check_reply_reducer(&env.schema, to, (module, reducer), rs)?;
    }
    Ok(CheckedCall {
        module: module.to_owned(),
        reducer: reducer.to_owned(),
        idx,
        args,
        reply: reply_to.map(str::to_owned),
    })
}

/// A reply reducer is a write reducer of the calling module (`own`), not a
/// trigger, init or migration, with one parameter that reads the replies of
/// `module.reducer` (`callee`): `Result<T, CallError<E>>` of its `Ok` and
/// `Err` types (`interstice_abi::reply::reply_type`).
fn check_reply_reducer(
    own: &interstice_abi::ModuleSchema,
    name: &str,
    (module, reducer): (&str, &str),
    callee: &interstice_abi::ReducerSchema,
) -> Res<()> {
    let what = format!("reply reducer `{name}` of {module}.{reducer}");
    let Some((_, rs)) = own.reducer(name) else {
        return bad(format!(
            "{what}: module `{}` has no reducer `{name}`",
            own.name
        ));
    };
    if rs.mode != ReducerMode::Write {
        return bad(format!(
            "{what}: it is a read reducer; a reply runs as a transaction"
        ));
    }
    if rs.trigger.is_some() {
        return bad(format!(
            "{what}: it is an init, trigger or migration reducer, which the runtime runs itself"
        ));
    }
    let want = interstice_abi::reply::reply_type(&callee.returns, callee.error.as_ref());
    let [param] = rs.params.as_slice() else {
        return bad(format!(
            "{what}: it takes {} parameters; a reply reducer takes one, the reply: {}",
            rs.params.len(),
            want.display_name()
        ));
    };
    if let Some(d) = interstice_abi::schema_diff::type_change(&want, &param.ty) {
        return bad(format!(
            "{what}: its parameter is {}, but {module}.{reducer} replies {} ({d})",
            param.ty.display_name(),
            want.display_name()
        ));
    }
    Ok(())
}

/// `call_async` and `call_async_reply`: queues the call (with its reply
/// reducer) after checking it and this transaction's limits.
fn queue_call(c: &mut Caller<'_, HostState>, ptr: i32, len: i32, reply: bool) -> Res<()> {
    let name = if reply {
        abi::CALL_ASYNC_REPLY
    } else {
        abi::CALL_ASYNC
    };
    {
        let (mem, st) = parts(c)?;
        let ts = require_write(st, name)?;
        let r = slice(mem, ptr, len, name)?;
        let env = env(st)?;
        let call = decode_call(&env, &mem[r], ReducerMode::Write, ts, reply)?;
        let (module, reducer, args, reply) = (call.module, call.reducer, call.args, call.reply);
        {
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
                reply,
            });
        }
    }
    Ok(())
}

pub(super) fn link_calls(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;
    linker.func_wrap(
        m,
        abi::CALL_ASYNC,
        |mut c: Caller<'_, HostState>, ptr: i32, len: i32| -> Res<()> {
            queue_call(&mut c, ptr, len, false)
        },
    )?;
    linker.func_wrap(
        m,
        abi::CALL_ASYNC_REPLY,
        |mut c: Caller<'_, HostState>, ptr: i32, len: i32| -> Res<()> {
            queue_call(&mut c, ptr, len, true)
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
                let call = decode_call(&env, &mem[r], ReducerMode::Read, ts, false)?;
                let (module, reducer, idx, args) = (call.module, call.reducer, call.idx, call.args);
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
