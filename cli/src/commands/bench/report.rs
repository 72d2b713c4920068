//! The report: measured rows, baselines, ratios and targets; the table
//! printed at the end and the JSON written with `--out`.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::machine::Machine;

/// Whether a row measures Interstice or a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Role {
    /// The runtime.
    Interstice,
    /// Something to compare it with.
    Baseline,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Row {
    /// What was measured.
    pub name: String,
    /// Interstice or baseline.
    pub role: Role,
    /// The median over the rounds.
    pub median: f64,
    /// Its unit (`calls/s`, `tx/s`, `bytes/row`, …).
    pub unit: &'static str,
    /// Each round's figure.
    pub rounds: Vec<f64>,
    /// Latency percentiles over every operation of every round, µs.
    pub p50_us: Option<f64>,
    /// 99th percentile, µs.
    pub p99_us: Option<f64>,
    /// How it was run (callers, threads, durability…).
    pub note: String,
    /// Supporting counters (fsyncs, commits per fsync, …).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Row {
    /// A row from per-round figures and latencies.
    pub(super) fn new(
        name: impl Into<String>,
        role: Role,
        unit: &'static str,
        rounds: Vec<f64>,
        latencies: Option<&mut [Duration]>,
        note: impl Into<String>,
    ) -> Self {
        let (p50_us, p99_us) = match latencies {
            Some(l) if !l.is_empty() => {
                l.sort_unstable();
                (Some(percentile(l, 0.50)), Some(percentile(l, 0.99)))
            }
            _ => (None, None),
        };
        Row {
            name: name.into(),
            role,
            median: median(&rounds),
            unit,
            rounds,
            p50_us,
            p99_us,
            note: note.into(),
            extra: serde_json::Map::new(),
        }
    }

    /// Adds a supporting counter.
    pub(super) fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }
}

/// A target from the benchmark issue.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Target {
    /// `>=` or `<=`.
    pub op: &'static str,
    /// The bound.
    pub value: f64,
}

/// A ratio (or a figure) compared with a target.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Ratio {
    /// What is compared with what.
    pub name: String,
    /// The ratio reached.
    pub value: f64,
    /// `×`, `tx/s`, `bytes/row`, …
    pub unit: &'static str,
    /// The target, if the issue sets one.
    pub target: Option<Target>,
    /// Whether the target is met.
    pub met: Option<bool>,
}

impl Ratio {
    /// `a / b`, with no target.
    pub(super) fn of(name: impl Into<String>, a: f64, b: f64) -> Self {
        Ratio {
            name: name.into(),
            value: if b > 0.0 { a / b } else { 0.0 },
            unit: "×",
            target: None,
            met: None,
        }
    }

    /// Requires `value >= bound`.
    pub(super) fn at_least(mut self, bound: f64) -> Self {
        self.met = Some(self.value >= bound);
        self.target = Some(Target {
            op: ">=",
            value: bound,
        });
        self
    }

    /// Requires `value <= bound`.
    pub(super) fn at_most(mut self, bound: f64) -> Self {
        self.met = Some(self.value <= bound);
        self.target = Some(Target {
            op: "<=",
            value: bound,
        });
        self
    }

    /// A plain figure (not a ratio) in `unit`.
    pub(super) fn figure(name: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Ratio {
            name: name.into(),
            value,
            unit,
            target: None,
            met: None,
        }
    }
}

/// One workload's results.
#[derive(Debug, Clone, Serialize)]
pub(super) struct WorkloadReport {
    /// `noop`, `transfer`, …
    pub workload: &'static str,
    /// Its parameters.
    pub params: serde_json::Value,
    /// Measured rows, the runtime's first.
    pub rows: Vec<Row>,
    /// Ratios to baselines, and targets.
    pub ratios: Vec<Ratio>,
    /// Wall time the workload took, seconds (setup included).
    pub seconds: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// Global parameters.
    pub params: serde_json::Value,
    /// When (seconds since the Unix epoch).
    pub unix_time: u64,
    /// Per workload.
    pub workloads: Vec<WorkloadReport>,
}

/// The `p`-quantile of sorted durations, in µs.
pub(super) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// The median (upper median for even counts).
pub(super) fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `1234567.8` → `1,234,568`; small figures keep a few decimals.
pub(super) fn human(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.abs() < 100.0 {
        return format!("{x:.2}");
    }
    let s = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 {
        out.insert(0, '-');
    }
    out
}

fn opt_us(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

impl Report {
    /// The human table: one line per row, then the ratios and targets.
    pub(super) fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<9} {:<50} {:>14} {:<10} {:>9} {:>9}  note",
            "workload", "measure", "median", "unit", "p50 µs", "p99 µs"
        );
        for w in &self.workloads {
            for r in &w.rows {
                let name = match r.role {
                    Role::Interstice => r.name.clone(),
                    Role::Baseline => format!("[baseline] {}", r.name),
                };
                let _ = writeln!(
                    s,
                    "{:<9} {:<50} {:>14} {:<10} {:>9} {:>9}  {}",
                    w.workload,
                    name,
                    human(r.median),
                    r.unit,
                    opt_us(r.p50_us),
                    opt_us(r.p99_us),
                    r.note
                );
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<9} {:<50} {:>14} {:<10} {:>12}  met",
            "workload", "ratio / figure", "value", "unit", "target"
        );
        for w in &self.workloads {
            for r in &w.ratios {
                let target = r
                    .target
                    .as_ref()
                    .map_or_else(String::new, |t| format!("{} {}", t.op, human(t.value)));
                let met = match r.met {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "",
                };
                let _ = writeln!(
                    s,
                    "{:<9} {:<50} {:>14} {:<10} {:>12}  {}",
                    w.workload,
                    r.name,
                    human(r.value),
                    r.unit,
                    target,
                    met
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests;
