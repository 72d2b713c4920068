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

/// Engine divergences the text report lists (the JSON lists up to 100).
const ENGINE_LINES: usize = 10;

fn print_text(report: &ReplayCheckReport) {
    let by_engine: u64 = report.modules.values().map(|m| m.engine_divergences).sum();
    match &report.divergence {
        None if by_engine == 0 => output::result(format!(
            "ok: {} transactions re-executed exactly as logged (log up to ts {})",
            report.checked, report.last_ts
        )),
        None => output::result(format!(
            "ok: no module diverged: {} transactions re-executed (log up to ts {}), {by_engine} \
             of them differed only as the engine change explains",
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
    if report.engine_changed() {
        output::result(format!("engine: this build is {}", report.engine));
        if report.logged_engines.is_empty() {
            output::result(
                "  the log does not record the engine that wrote it (written before engines \
                 were recorded)",
            );
        }
        for l in &report.logged_engines {
            let same = if l.engine == report.engine {
                " (this build's)"
            } else {
                ""
            };
            output::result(format!(
                "  from ts {}, the log was written by {}{same}",
                l.from_ts, l.engine
            ));
        }
        if report.divergence.is_some() {
            output::result(
                "  the divergence above is the module's: an engine change explains only fuel \
                 or stack exhaustion",
            );
        }
    }
    if by_engine > 0 {
        output::result(format!(
            "{by_engine} divergence(s) explained by the engine change (the logged mutations \
             were adopted and the check went on):"
        ));
        for d in report.engine_divergences.iter().take(ENGINE_LINES) {
            output::result(format!("  {d}"));
        }
        if by_engine > ENGINE_LINES as u64 {
            output::result(format!("  … and {} more", by_engine - ENGINE_LINES as u64));
        }
    }
    for (name, m) in &report.modules {
        let mut line = format!("  {name}: {} of {} checked", m.checked, m.commits);
        if m.failed > 0 {
            line.push_str(&format!(", {} failed again as logged", m.failed));
        }
        if m.engine_divergences > 0 {
            line.push_str(&format!(
                ", {} explained by the engine change",
                m.engine_divergences
            ));
        }
        if let Some(ts) = m.divergence_ts {
            line.push_str(&format!(", diverged at ts {ts}"));
        }
        output::result(line);
    }
}
