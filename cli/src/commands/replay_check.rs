//! `interstice replay-check DIR`: the determinism check. The engine is
//! `interstice_actors::replay_check`; this prints its report.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use interstice_actors::{Limits, ReplayCheckOptions, ReplayCheckReport};

use crate::args::ReportFormat;
use crate::error::CliError;
use crate::output;

/// What `replay-check` was asked for.
#[derive(Debug, Clone)]
pub struct ReplayCheckArgs<'a> {
    /// The data directory.
    pub dir: &'a Path,
    /// Text or JSON.
    pub format: ReportFormat,
    /// The fuel budget the log was written with, if not the default.
    pub fuel: Option<u64>,
    /// The memory cap the log was written with, if not the default.
    pub memory_bytes: Option<usize>,
}

/// Runs the check and prints the report on stdout; a divergence is an error
/// (exit code 1) after the report.
pub fn run(args: &ReplayCheckArgs<'_>) -> Result<(), CliError> {
    let defaults = Limits::default();
    let mut opts = ReplayCheckOptions::default().with_limits(
        defaults
            .with_fuel(args.fuel.unwrap_or(defaults.fuel))
            .with_memory_bytes(args.memory_bytes.unwrap_or(defaults.memory_bytes)),
    );
    if std::io::stderr().is_terminal() {
        opts.progress = Some(Arc::new(|n| {
            output::progress(format!("replay-check: {n} transactions checked"))
        }));
    }
    let report = interstice_actors::replay_check(args.dir, &opts)?;
    match args.format {
        ReportFormat::Json => output::result(report.to_json()),
        ReportFormat::Text => print_text(&report),
    }
    match &report.divergence {
        None => Ok(()),
        Some(d) => Err(CliError::CheckFailed(format!(
            "replay-check: re-execution diverged from the log at ts {} ({}.{})",
            d.ts, d.module, d.reducer
        ))),
    }
}

fn print_text(report: &ReplayCheckReport) {
    match &report.divergence {
        None => output::result(format!(
            "ok: {} transactions re-executed exactly as logged (log up to ts {})",
            report.checked, report.last_ts
        )),
        Some(d) => {
            output::result(format!(
                "DIVERGENCE at ts {} in {}.{}:",
                d.ts, d.module, d.reducer
            ));
            for diff in &d.differences {
                output::result(format!("  {diff}"));
            }
            output::result(format!(
                "{} transactions re-executed (log up to ts {})",
                report.checked, report.last_ts
            ));
        }
    }
    for (name, m) in &report.modules {
        let mut line = format!("  {name}: {} of {} checked", m.checked, m.commits);
        if m.failed > 0 {
            line.push_str(&format!(", {} failed again as logged", m.failed));
        }
        if let Some(ts) = m.divergence_ts {
            line.push_str(&format!(", diverged at ts {ts}"));
        }
        output::result(line);
    }
}
