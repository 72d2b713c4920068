//! `interstice call`.

use crate::args::DataDirArgs;
use crate::commands::{close, open};
use crate::error::CliError;
use crate::output;

/// Parses each argument as JSON.
pub fn parse_args(args: &[String]) -> Result<Vec<serde_json::Value>, CliError> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            serde_json::from_str(a).map_err(|e| {
                CliError::Usage(format!(
                    "argument {} (`{a}`) is not JSON ({e}); strings need quotes, e.g. '\"alice\"'",
                    i + 1
                ))
            })
        })
        .collect()
}

/// Calls (or reads, by the reducer's mode) and prints the result as JSON.
pub async fn run(
    dir: &DataDirArgs,
    module: &str,
    reducer: &str,
    args: &[String],
) -> Result<(), CliError> {
    let args = parse_args(args)?;
    let rt = open(dir).await?;
    let res = rt
        .call_json(module, reducer, &args)
        .await
        .map_err(CliError::from);
    let out = close(&rt, res).await?;
    output::result(out.to_json());
    Ok(())
}
