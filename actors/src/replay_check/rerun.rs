//! Re-executing one logged commit on its own, for `interstice replay-debug`'s
//! `rerun`: the caller supplies the module's tables as they were just
//! before the commit (rebuilt from the log) and the modules installed by
//! then; the commit runs through the same path as in [`replay_check()`]
//! (its recorded time, rng seeds and read-call results fed back) and is
//! compared with its record the same way.
//!
//! Unlike the full check, the instance is fresh for this one commit: a
//! module whose result depends on guest `static`s left by earlier
//! transactions shows that as a difference here (the full check keeps one
//! instance for the whole log). A migration commit is not re-executed on
//! its own: it needs the rows its upgrade set aside, which only the full
//! check has.
//!
//! [`replay_check()`]: crate::replay_check()

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use interstice_abi::ModuleSchema;
use interstice_persist::{Cause, CommitRecord, ModuleInstall};
use interstice_tables::Tables;

use super::{
    check_commit, load_slot, CommitCheck, Ctx, Difference, OfflinePeers, ReplayCheckOptions,
};
use crate::config::Limits;
use crate::error::RuntimeError;
use crate::wasm::engine::WasmHost;

/// A module installed before the commit, as the commit's host calls see it.
#[derive(Debug, Clone)]
pub struct InstalledModule {
    /// Its name.
    pub name: String,
    /// The timestamp of its first install.
    pub install_ts: u64,
    /// Its schema as of the commit.
    pub schema: ModuleSchema,
}

/// Re-executes the logged commit `commit` of the module `install` installed
/// (its latest install before the commit; its binary is read from
/// `dir/modules/`) over `tables`, the module's tables just before the
/// commit, and returns how the result differs from the record (empty: it
/// matches byte for byte). `installed`: every module installed before the
/// commit. `tables` ends as the re-execution left it.
///
/// Read-only like [`replay_check()`](crate::replay_check()): nothing is
/// written into `dir`. `Err`: the binary is missing or does not compile, or
/// the commit is a migration (see the module docs).
pub fn rerun_commit(
    dir: &Path,
    limits: Limits,
    install: &ModuleInstall,
    installed: &[InstalledModule],
    tables: &mut Tables,
    commit: &CommitRecord,
) -> Result<Vec<Difference>, RuntimeError> {
    if let Cause::Migration { table, .. } = &commit.cause {
        let reason = format!(
            "a migration commit (table {table}) is not re-executed on its own: it needs the \
             rows its upgrade set aside; replay-check re-executes it"
        );
        return Err(RuntimeError::replay(commit.ts, &commit.module, reason));
    }
    // As in the full check: no wall-clock limit.
    let limits = Limits {
        tx_time: std::time::Duration::from_secs(24 * 3600),
        ..limits
    };
    let peers = Arc::new(OfflinePeers::default());
    for m in installed {
        peers
            .installs
            .insert(m.name.clone(), (m.install_ts, Arc::new(m.schema.clone())));
    }
    let opts = ReplayCheckOptions::default();
    let ctx = Ctx {
        dir,
        host: Arc::new(WasmHost::new(limits)?),
        limits,
        metrics: Arc::default(),
        peers,
        opts: &opts,
        checked: AtomicU64::new(0),
        abort: AtomicBool::new(false),
        compiled: Default::default(),
    };
    let mut slot = load_slot(&ctx, install)?;
    // Every difference is shown as it is: the debugger does not attribute
    // any to an engine change (`replay-check` does).
    let engine = &ctx.host.engine_info;
    Ok(
        match check_commit(
            &mut slot,
            tables,
            &ctx.peers,
            commit,
            (Some(engine), engine),
        ) {
            CommitCheck::Module(differences) => differences,
            CommitCheck::Engine(d) => d.divergence.differences,
        },
    )
}
