//! `interstice dev CRATE_DIR… -d DIR`: hot reload from source. Builds each
//! module crate (`guest_build`), opens the data directory, loads or
//! upgrades each module, serves the runtime over HTTP and WebSocket exactly
//! as `run --listen` does (`crate::server`, `docs/SERVER.md`; `DIR/SERVER`
//! is written, so `call` and `load` on `DIR` go through it), and watches the
//! crates' sources (`watch.rs`). After a burst of changes has settled it
//! rebuilds each crate that changed and upgrades its running module
//! through the runtime (`Runtime::load_module_detailed`, atomic between two
//! of the module's transactions, so no call is lost):
//!
//! - a build that fails: the compiler's messages (cargo's stderr) and one
//!   `error:` line on stderr; the old module keeps serving;
//! - an upgrade the runtime refuses (an incompatible schema, a bad
//!   subscription…): its error and the upgrade plan `load --dry-run` prints
//!   (`inspect::plan`), on stderr; the old module keeps serving;
//! - an upgrade applied: one `reloaded` line on stdout (module, versions,
//!   schema hashes, the install's timestamp); the same binary again: one
//!   `unchanged` line.
//!
//! It stops at SIGINT or SIGTERM, or at end of input on stdin (unless
//! `--no-stdin`): the server drains its requests and the runtime shuts
//! down as `run`'s does. `docs/SERVER.md` §11 documents it.

mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use interstice_abi::ModuleSchema;
use interstice_actors::{Loaded, ModuleInfo, Runtime};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::args::DataDirArgs;
use crate::commands::close;
use crate::commands::run::watch_signals;
use crate::commands::schema_diff::installed;
use crate::error::{read_file, CliError};
use crate::guest_build::{build_module_with_sources, PackageSources};
use crate::inspect::plan::Plan;
use crate::output;
use crate::server::ServerOptions;

/// What `interstice dev` was asked for.
#[derive(Debug)]
pub struct DevArgs<'a> {
    /// The data directory and durability.
    pub dir: &'a DataDirArgs,
    /// Where to serve.
    pub server: ServerOptions,
    /// How long the sources must stay unchanged before a rebuild.
    pub debounce: Duration,
    /// Whether end of input on stdin stops it.
    pub stdin: bool,
    /// The module crates, in load order.
    pub crates: &'a [PathBuf],
}

/// One module crate being developed.
#[derive(Debug)]
struct Crate {
    /// The directory as given (for messages).
    dir: PathBuf,
    /// The module it builds (its name does not change while `dev` runs).
    module: String,
    /// The local packages its last successful build used.
    sources: Vec<PackageSources>,
}

/// A build's result: the sources it used, the binary and what it declares.
struct Build {
    sources: Vec<PackageSources>,
    wasm: Vec<u8>,
    info: ModuleInfo,
}

/// Runs the command.
pub async fn run(args: &DevArgs<'_>) -> Result<(), CliError> {
    // Every crate is checked and built before the data directory is opened:
    // a crate that does not exist, is not a module or does not build ends
    // the command with nothing changed.
    let mut crates = Vec::new();
    let mut first = Vec::new();
    for dir in args.crates {
        check_crate_dir(dir)?;
        let built = build(dir).await?;
        if let Some(other) = crates.iter().find(|c: &&Crate| c.module == built.info.name) {
            return Err(CliError::Usage(format!(
                "{} and {} both build module `{}`",
                other.dir.display(),
                dir.display(),
                built.info.name
            )));
        }
        crates.push(Crate {
            dir: dir.clone(),
            module: built.info.name.clone(),
            sources: built.sources,
        });
        first.push((built.wasm, built.info.schema));
    }
    let rt = Runtime::builder()
        .data_dir(&args.dir.data_dir)
        .durability(args.dir.durability)
        .open()
        .await?;
    let res = serve(&rt, args, crates, first).await;
    close(&rt, res).await
}

/// Refuses a crate directory that does not exist or has no `Cargo.toml`
/// before anything is built.
fn check_crate_dir(dir: &Path) -> Result<(), CliError> {
    match std::fs::metadata(dir) {
        Err(e) => Err(CliError::Usage(format!(
            "{}: no such module crate ({e})",
            dir.display()
        ))),
        Ok(m) if !m.is_dir() => Err(CliError::Usage(format!(
            "{} is not a directory: give a module crate's directory",
            dir.display()
        ))),
        Ok(_) if !dir.join("Cargo.toml").is_file() => Err(CliError::Usage(format!(
            "{} is not a module crate: no Cargo.toml there",
            dir.display()
        ))),
        Ok(_) => Ok(()),
    }
}

/// Builds the crate at `dir` (on a blocking thread: cargo runs for
/// seconds) and checks that its `.wasm` is a module.
async fn build(dir: &Path) -> Result<Build, CliError> {
    let owned = dir.to_path_buf();
    let built = tokio::task::spawn_blocking(move || build_module_with_sources(&owned))
        .await
        .map_err(|e| CliError::Build(format!("the build task failed: {e}")))??;
    let wasm = read_file(&built.wasm)?;
    let info = interstice_actors::inspect_module(&wasm).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a module crate: {} is not a valid module: {e}",
            dir.display(),
            built.wasm.display()
        ))
    })?;
    Ok(Build {
        sources: built.sources,
        wasm,
        info,
    })
}

async fn serve(
    rt: &Runtime,
    args: &DevArgs<'_>,
    mut crates: Vec<Crate>,
    first: Vec<(Vec<u8>, Arc<ModuleSchema>)>,
) -> Result<(), CliError> {
    for (c, (wasm, schema)) in crates.iter().zip(first) {
        match rt.load_module_detailed(wasm).await {
            Ok(loaded) => report(c, &loaded),
            // The data directory holds a version this build cannot take
            // over: that one serves, as after a refused reload.
            Err(e) if rt.modules().iter().any(|m| m.name == c.module) => {
                refused(rt, c, &schema, &e.into()).await
            }
            Err(e) => return Err(e.into()),
        }
    }
    // The watches are in place before the ready line, so an edit made as
    // soon as it is printed is seen.
    let mut watcher = watch::Watcher::new(crates.iter().map(|c| c.sources.as_slice()))?;
    output::result(format!(
        "watching {} (edit a source to rebuild; Ctrl+C to stop)",
        watcher.describe()
    ));
    let server = crate::server::start(rt, &args.server).await?;
    let stop = CancellationToken::new();
    watch_signals(stop.clone());
    if args.stdin {
        watch_stdin(stop.clone());
    }
    output::result(format!(
        "serving http://{} on {} (tokens in its TOKEN and READ_TOKEN files)",
        server.addr(),
        args.dir.data_dir.display()
    ));
    'serve: loop {
        let changed = tokio::select! {
            c = watcher.next_change(args.debounce) => c,
            () = stop.cancelled() => break,
        };
        let Some(changed) = changed else {
            tracing::warn!("the file watcher stopped: shutting down");
            break;
        };
        for (idx, path) in changed {
            let c = &mut crates[idx];
            output::result(format!(
                "{} changed: rebuilding {}",
                path.display(),
                c.module
            ));
            // A build is abandoned at shutdown; a load is not (it is short,
            // and an upgrade must finish once it started).
            let built = tokio::select! {
                b = build(&c.dir) => b,
                () = stop.cancelled() => break 'serve,
            };
            match built {
                Ok(b) => {
                    c.sources = b.sources.clone();
                    watcher.update(idx, &c.sources);
                    reload(rt, c, b).await;
                }
                Err(e) => output::error(format!(
                    "rebuilding {}: {e}; the running {} keeps serving",
                    c.dir.display(),
                    serving(rt, &c.module)
                )),
            }
        }
    }
    server.stop().await;
    Ok(())
}

/// Upgrades `c`'s module to the new build, or reports why not.
async fn reload(rt: &Runtime, c: &Crate, b: Build) {
    if b.info.name != c.module {
        output::error(format!(
            "{} now builds module `{}`, not `{}`: loading it would install a second module \
             (restart `interstice dev` for that); the running {} keeps serving",
            c.dir.display(),
            b.info.name,
            c.module,
            serving(rt, &c.module)
        ));
        return;
    }
    match rt.load_module_detailed(b.wasm).await {
        Ok(loaded) => report(c, &loaded),
        Err(e) => refused(rt, c, &b.info.schema, &e.into()).await,
    }
}

/// The one stdout line of a load that succeeded.
fn report(c: &Crate, loaded: &Loaded) {
    let short = |m: &ModuleInfo| output::hex(&m.schema_hash[..8]);
    match loaded {
        Loaded::Upgraded { from, to, ts } if from.schema_hash == to.schema_hash => {
            output::result(format!(
                "reloaded {} {} -> {} (schema {} unchanged: new code) at ts {ts}",
                to.name,
                from.version,
                to.version,
                short(to)
            ))
        }
        Loaded::Upgraded { from, to, ts } => output::result(format!(
            "reloaded {} {} -> {} (schema {} -> {}) at ts {ts}",
            to.name,
            from.version,
            to.version,
            short(from),
            short(to)
        )),
        Loaded::Installed { info, ts } => output::result(format!(
            "loaded {} {} (schema {}) at ts {ts} from {}",
            info.name,
            info.version,
            short(info),
            c.dir.display()
        )),
        other => {
            let info = other.info();
            output::result(format!(
                "unchanged {} {} (schema {}): the build is the binary already serving",
                info.name,
                info.version,
                short(info)
            ))
        }
    }
}

/// Reports a refused load of `c`'s module on stderr: the error, and the
/// upgrade plan from the serving version to `new` (the refused build's
/// schema) with the rows as the data directory holds them.
async fn refused(rt: &Runtime, c: &Crate, new: &ModuleSchema, e: &CliError) {
    output::error(format!(
        "upgrade of {} refused: {e}; the running {} keeps serving",
        c.module,
        serving(rt, &c.module)
    ));
    let Some(old) = rt.modules().into_iter().find(|m| m.name == c.module) else {
        return;
    };
    // The rows decide some rules (a removed table must be empty): read
    // them from the log, read-only, as `load --dry-run` does.
    let rows = match rt.data_dir() {
        Some(dir) => {
            let module = c.module.clone();
            tokio::task::spawn_blocking(move || installed(&dir, &module))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|(_, tables)| tables)
        }
        None => None,
    };
    output::note("the upgrade plan (as `interstice load --dry-run` prints it):");
    for line in Plan::between(&old.schema, new, rows.as_ref()).to_lines() {
        output::note(format!("  {line}"));
    }
}

/// `NAME VERSION` of the module serving under `module`, for messages.
fn serving(rt: &Runtime, module: &str) -> String {
    match rt.modules().into_iter().find(|m| m.name == module) {
        Some(m) => format!("{} {}", m.name, m.version),
        None => format!("{module} (not loaded)"),
    }
}

/// Cancels `stop` at end of input on stdin (what is read is ignored).
fn watch_stdin(stop: CancellationToken) {
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 4096];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) => {
                    tracing::info!("end of input: shutting down");
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("reading stdin failed ({e}): shutting down as at end of input");
                    break;
                }
            }
        }
        stop.cancel();
    });
}

#[cfg(test)]
mod tests;
