//! `interstice bench --quick`: every workload runs (with tiny sizes) and the
//! JSON report has every workload with positive figures. This is what keeps
//! the benchmark from rotting; the figures themselves are not checked.

use std::process::Command;

use interstice_cli::commands::bench::WORKLOADS;

use crate::support;

#[test]
fn quick_bench_reports_every_workload() {
    let dir = support::tempdir();
    let out = dir.path().join("bench.json");
    let run = Command::new(support::bin())
        .args(["bench", "--quick", "--out"])
        .arg(&out)
        .output()
        .expect("running interstice bench");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "interstice bench --quick failed ({}):\n{stdout}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    // The table is printed.
    assert!(stdout.contains("[baseline] actix echo actor"), "{stdout}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("reading the report"))
            .expect("the report is JSON");
    let machine = &report["machine"];
    assert!(
        machine["cores"].as_u64().is_some_and(|c| c >= 1),
        "{machine}"
    );
    assert!(machine["memory_bytes"].as_u64().is_some_and(|m| m > 0));
    assert!(machine["cpu_model"].is_string() && machine["commit"].is_string());
    assert!(machine["profile"] == "debug" || machine["profile"] == "release");
    assert_eq!(report["params"]["quick"], true);

    let workloads = report["workloads"].as_array().expect("workloads");
    let names: Vec<&str> = workloads
        .iter()
        .filter_map(|w| w["workload"].as_str())
        .collect();
    assert_eq!(names, WORKLOADS);
    for w in workloads {
        let name = &w["workload"];
        let rows = w["rows"].as_array().expect("rows");
        assert!(!rows.is_empty(), "{name}: no rows");
        for r in rows {
            let median = r["median"].as_f64().unwrap_or(f64::NAN);
            assert!(
                median.is_finite() && median > 0.0,
                "{name}: {} has median {median}",
                r["name"]
            );
            for p in ["p50_us", "p99_us"] {
                if let Some(v) = r[p].as_f64() {
                    assert!(v > 0.0, "{name}: {} has {p} {v}", r["name"]);
                }
            }
        }
        assert!(
            rows.iter().any(|r| r["role"] == "interstice"),
            "{name}: no interstice row"
        );
        for ratio in w["ratios"].as_array().expect("ratios") {
            assert!(
                ratio["value"].as_f64().is_some_and(f64::is_finite),
                "{name}: {ratio}"
            );
        }
    }
    // Baselines are in the same run.
    let baselines = |w: usize| {
        workloads[w]["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["role"] == "baseline")
            .count()
    };
    assert_eq!(baselines(0), 3, "noop: actix echo and two wasmtime loops");
    assert_eq!(
        baselines(1),
        5,
        "transfer: SQLite FULL/NORMAL × 2 α, fsync loop"
    );
    // Latency percentiles where callers wait.
    assert!(workloads[1]["rows"][0]["p99_us"].as_f64().is_some());
}
