//! `interstice call`: opens the data directory, or, when a serving
//! `run --listen` holds it, calls through that server
//! (`crate::server::client`).

use crate::args::{DataDirArgs, RemoteArgs};
use crate::commands::close;
use crate::error::CliError;
use crate::output;
use crate::server::client::{open_or_remote, Remote, Target};

/// Parses each argument as JSON. `params` are the reducer's parameter names
/// (empty if unknown): a message numbers arguments from 1 and names the
/// parameter, as the runtime's do (`docs/ABI.md` §7.3).
pub fn parse_args(args: &[String], params: &[String]) -> Result<Vec<serde_json::Value>, CliError> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            serde_json::from_str(a).map_err(|e| {
                let param = params
                    .get(i)
                    .map(|p| format!(" (`{p}`)"))
                    .unwrap_or_default();
                let shown = match a.char_indices().nth(40) {
                    Some((end, _)) => format!("{}…", &a[..end]),
                    None => a.clone(),
                };
                CliError::Usage(format!(
                    "argument {}{param} is not JSON: `{shown}` ({e}); strings need quotes, e.g. '\"alice\"'",
                    i + 1
                ))
            })
        })
        .collect()
}

/// The parameter names of `module.reducer`, if the runtime has it.
fn param_names(rt: &interstice_actors::Runtime, module: &str, reducer: &str) -> Vec<String> {
    rt.modules()
        .into_iter()
        .find(|m| m.name == module)
        .and_then(|m| {
            m.schema
                .reducer(reducer)
                .map(|(_, r)| r.params.iter().map(|p| p.name.clone()).collect())
        })
        .unwrap_or_default()
}

/// Calls (or reads, by the reducer's mode) and prints the result as JSON.
pub async fn run(
    dir: &DataDirArgs,
    remote: &RemoteArgs,
    module: &str,
    reducer: &str,
    args: &[String],
) -> Result<(), CliError> {
    let through = |server: Remote| async move {
        let result = server
            .call(module, reducer, &parse_args(args, &[])?)
            .await?;
        output::result(result);
        Ok(())
    };
    let rt = match open_or_remote(dir, remote).await? {
        Target::Local(rt) => rt,
        Target::Remote(server) => return through(server).await,
    };
    let res = async {
        let args = parse_args(args, &param_names(&rt, module, reducer))?;
        rt.call_json(module, reducer, &args)
            .await
            .map_err(CliError::from)
    }
    .await;
    let out = close(&rt, res).await?;
    output::result(out.to_json());
    Ok(())
}
