//! The host calls a module may import (`docs/ABI.md` §4), by topic: table
//! reads and writes (`hostcalls/tables.rs`), scans (`hostcalls/scans.rs`),
//! calls to other modules (`hostcalls/calls.rs`) and the rest — results,
//! logs, time, randomness, panics (`hostcalls/misc.rs`). Each validates its
//! pointers, lengths and CBOR and traps the guest with a [`HostTrap`] on bad
//! input; none can crash the host. The helpers below are what they share.

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
    tables::link_tables(linker)?;
    scans::link_scans(linker)?;
    scans::link_queries(linker)?;
    misc::link_misc(linker)?;
    calls::link_calls(linker)?;
    Ok(())
}

mod calls;
mod misc;
mod scans;
mod tables;

pub(crate) use calls::observations;
