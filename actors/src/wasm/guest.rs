//! One live instance of a module and the code that calls a reducer in it and
//! classifies how the call ended.

use std::sync::Arc;

use interstice_abi::cbor::Reader;
use interstice_abi::host as abi;
use interstice_abi::ReducerSchema;
use interstice_persist::ErrorKind;
use wasmtime::{Memory, Store, Trap, TypedFunc};

use crate::wasm::engine::{CompiledModule, WasmHost};
use crate::wasm::env::ModuleEnv;
use crate::wasm::host_state::{HostState, HostTrap, TxStart, TxState};
use crate::wasm::transaction::Failure;
use interstice_tables::Tables;

/// The message of a transaction whose wasm stack ran out
/// (`Limits`-independent: `max_wasm_stack` is the engine's, recorded in the
/// log as part of its engine).
pub(crate) const STACK_OVERFLOW: &str = "stack overflow";

/// A module instance with its store.
pub(crate) struct Guest {
    store: Store<HostState>,
    alloc: TypedFunc<i32, i32>,
    call: TypedFunc<(i32, i32, i32), i64>,
    memory: Memory,
}

/// What a call left behind besides its result.
pub(crate) struct CallEffects {
    pub tx: TxState,
    /// Fuel the call burnt, its read calls included.
    pub fuel: u64,
}

impl Guest {
    /// Instantiates the module (the only place wasm instances are created).
    pub(crate) fn instantiate(
        host: &WasmHost,
        compiled: &CompiledModule,
        env: Arc<ModuleEnv>,
    ) -> Result<Guest, Failure> {
        let metrics = &env.metrics;
        metrics
            .instantiations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut store = host.store(HostState::new(Some(env.clone()), host.limits.memory_bytes));
        store
            .set_fuel(host.limits.fuel)
            .map_err(|e| Failure::new(ErrorKind::Host, format!("{e:#}")))?;
        let instance = compiled
            .pre
            .instantiate(&mut store)
            .map_err(|e| Failure::new(ErrorKind::Trap, format!("instantiation failed: {e:#}")))?;
        let memory = instance
            .get_memory(&mut store, abi::EXPORT_MEMORY)
            .ok_or_else(|| Failure::new(ErrorKind::Host, "module has no memory export"))?;
        let alloc = instance
            .get_typed_func(&mut store, abi::EXPORT_ALLOC)
            .map_err(|e| Failure::new(ErrorKind::Host, format!("{e:#}")))?;
        let call = instance
            .get_typed_func(&mut store, abi::EXPORT_CALL)
            .map_err(|e| Failure::new(ErrorKind::Host, format!("{e:#}")))?;
        store.data_mut().memory = Some(memory);
        Ok(Guest {
            store,
            alloc,
            call,
            memory,
        })
    }

    /// Calls reducer `idx` with encoded `args`, with `tables` swapped into the
    /// store for the duration. Returns the encoded `Ok` value, or the failure
    /// (the caller rolls back), and whether the instance must be discarded.
    pub(crate) fn invoke(
        &mut self,
        tables: &mut Tables,
        reducer: (u32, &ReducerSchema),
        args: &[u8],
        start: TxStart,
    ) -> (Result<Vec<u8>, Failure>, CallEffects, bool) {
        let fuel = start.fuel;
        let st = self.store.data_mut();
        std::mem::swap(&mut st.tables, tables);
        st.tx.begin(start);
        st.tx.reducer = reducer.0;
        if let (Some(writes), Some(env)) = (&reducer.1.writes, &st.env) {
            // Checked at load: each names a table of the schema.
            let ids = writes
                .iter()
                .filter_map(|w| env.schema.table(w).map(|(i, _)| i))
                .collect();
            st.tx.writes = Some((ids, Arc::from(reducer.1.name.as_str())));
        }
        st.limiter.denied = false;
        // A panic in host code is a bug; contain it so the tables are swapped
        // back (and rolled back by the caller) and the timestamp this call
        // holds is still completed, so the sequencer never stalls.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run(reducer, args, fuel)
        }))
        .unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let module = self.store.data().env.as_ref().map(|e| e.name.clone());
            crate::event_in!(ERROR, module.as_deref(), Some(&reducer.1.name), None;
                "host panic during a reducer call: {msg}");
            Err(Failure::new(
                ErrorKind::Host,
                format!("internal host error: {msg}"),
            ))
        });
        let used = fuel.saturating_sub(self.store.get_fuel().unwrap_or(0));
        let st = self.store.data_mut();
        std::mem::swap(&mut st.tables, tables);
        let tx = std::mem::replace(&mut st.tx, TxState::new());
        let discard = match &result {
            Ok(_) => false,
            // A trap may leave the guest's own memory inconsistent (a panic
            // mid-allocation, say): start the next call from a fresh instance.
            Err(f) => f.kind != ErrorKind::UserError,
        };
        (result, CallEffects { tx, fuel: used }, discard)
    }

    fn run(
        &mut self,
        (idx, rs): (u32, &ReducerSchema),
        args: &[u8],
        fuel: u64,
    ) -> Result<Vec<u8>, Failure> {
        let env = self
            .store
            .data()
            .env
            .clone()
            .expect("live guests have an env");
        let _in_wasm = env.metrics.enter_wasm();
        if let Err(e) = self.store.set_fuel(fuel) {
            return Err(Failure::new(ErrorKind::Host, format!("{e:#}")));
        }
        // The wall-clock limit: checked at every epoch tick from here on
        // (`WasmHost::store`'s callback).
        self.store.set_epoch_deadline(1);
        let len = i32::try_from(args.len())
            .map_err(|_| Failure::new(ErrorKind::Host, "arguments larger than 2 GiB"))?;
        let ptr = self
            .alloc
            .call(&mut self.store, len)
            .map_err(|e| self.classify(e))?;
        let mem = self.memory.data_mut(&mut self.store);
        let dst = (ptr as u32 as usize)
            .checked_add(args.len())
            .and_then(|end| mem.get_mut(ptr as u32 as usize..end))
            .ok_or_else(|| {
                Failure::new(
                    ErrorKind::Trap,
                    "__interstice_alloc returned a buffer outside memory",
                )
            })?;
        dst.copy_from_slice(args);
        let packed = self
            .call
            .call(&mut self.store, (idx as i32, ptr, len))
            .map_err(|e| self.classify(e))?;
        let (rptr, rlen) = abi::unpack(packed);
        let mem = self.memory.data(&self.store);
        let bytes = (rptr as usize)
            .checked_add(rlen as usize)
            .and_then(|end| mem.get(rptr as usize..end))
            .ok_or_else(|| {
                Failure::new(ErrorKind::Trap, "reducer result is outside guest memory")
            })?;
        decode_result(rs, bytes)
    }

    /// Turns a wasmtime error into a typed failure.
    fn classify(&mut self, err: wasmtime::Error) -> Failure {
        let st = self.store.data();
        if let Some(t) = err.downcast_ref::<HostTrap>() {
            return Failure::new(t.kind, t.message.clone());
        }
        if let Some(msg) = &st.tx.panic_message {
            return Failure::new(ErrorKind::Panic, msg.clone());
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Failure::new(
                ErrorKind::Budget,
                format!(
                    "execution budget exhausted: limit reached (Limits::fuel = {})",
                    st.env.as_ref().map_or(0, |e| e.limits.fuel)
                ),
            ),
            Some(_) if st.limiter.denied => Failure::new(
                ErrorKind::Memory,
                format!("memory cap of {} bytes reached ({err})", st.limiter.cap),
            ),
            Some(Trap::StackOverflow) => Failure::new(ErrorKind::Trap, STACK_OVERFLOW),
            Some(t) => Failure::new(ErrorKind::Trap, t.to_string()),
            None if st.limiter.denied => Failure::new(
                ErrorKind::Memory,
                format!("memory cap of {} bytes reached: {err:#}", st.limiter.cap),
            ),
            None => Failure::new(ErrorKind::Trap, format!("{err:#}")),
        }
    }
}

/// Checks the `[tag, value]` result against the reducer's declared types.
fn decode_result(rs: &ReducerSchema, bytes: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut r = Reader::new(bytes);
    let parsed = (|| {
        let tag = abi::read_result_head(&mut r)?;
        let value = r.skip()?;
        r.finish()?;
        Ok::<_, interstice_abi::AbiError>((tag, value))
    })();
    let (tag, value) = parsed.map_err(|e| {
        Failure::new(
            ErrorKind::Host,
            format!("reducer result is not [tag, value]: {e}"),
        )
    })?;
    match tag {
        abi::ResultTag::Ok => {
            rs.returns.validate_exact(value).map_err(|e| {
                Failure::new(
                    ErrorKind::Host,
                    format!(
                        "return value does not match {}: {e}",
                        rs.returns.display_name()
                    ),
                )
            })?;
            Ok(value.to_vec())
        }
        abi::ResultTag::Err => {
            let message = match &rs.error {
                Some(ty) => match interstice_abi::Value::decode_exact(ty, value) {
                    Ok(v) => match v.to_json(ty) {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    },
                    Err(e) => {
                        return Err(Failure::new(
                            ErrorKind::Host,
                            format!("error value does not match {}: {e}", ty.display_name()),
                        ))
                    }
                },
                None => "error".to_string(),
            };
            Err(Failure::user_error(message, value.to_vec()))
        }
    }
}
