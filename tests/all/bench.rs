//! `interstice bench --quick`: every workload runs (with tiny sizes) and the
//! JSON report has every workload with positive figures, its baselines and
//! its ratios. This is what keeps the benchmark from rotting; the figures
//! themselves are not checked against their targets.

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

    // Issue 15: the keynote workload, the contended variant, the replay
    // baselines; each with its rows and its ratios to the same run's
    // baselines.
    let keynote = workload(workloads, "keynote");
    assert_eq!(
        role_count(keynote, "interstice"),
        4,
        "keynote and 64×1, 2 α"
    );
    assert_eq!(
        role_count(keynote, "baseline"),
        4,
        "SQLite FULL/NORMAL × 2 α"
    );
    for alpha in ["0", "1.5"] {
        let row = named_row(
            keynote,
            &format!("keynote α={alpha}: 64 clients × 40 in flight"),
        );
        assert!(row["p50_us"].as_f64().is_some() && row["p99_us"].as_f64().is_some());
        // 2,560 calls in flight are acknowledged after fsyncs shared by
        // many commits.
        let cpf = row["extra"]["commits_per_fsync"].as_f64().unwrap_or(0.0);
        assert!(cpf > 1.0, "keynote α={alpha}: {cpf} commits per fsync");
        let p = &keynote["params"];
        let calls = p["clients"].as_u64().unwrap_or(0)
            * p["calls_per_client"].as_u64().unwrap_or(0)
            * row["rounds"].as_array().map_or(0, Vec::len) as u64;
        assert!(calls > 0, "{p}");
        assert_eq!(
            row["extra"]["commits"].as_u64(),
            Some(calls),
            "keynote α={alpha}: every acknowledged call is one commit"
        );
        let cpf = ratio(keynote, &format!("keynote α={alpha} commits per fsync"));
        assert!(cpf["value"].as_f64().is_some_and(|v| v > 1.0), "{cpf}");
        for (name, target) in [
            (format!("keynote α={alpha} / SQLite NORMAL"), Some(6.5)),
            (format!("keynote α={alpha} / SQLite FULL"), None),
            (format!("64×1 α={alpha} / SQLite NORMAL"), Some(4.0)),
            (format!("64×1 α={alpha} / SQLite FULL"), Some(30.0)),
            (format!("keynote α={alpha} / 64×1"), None),
        ] {
            sane_ratio(keynote, &name, target);
        }
    }

    let contended = workload(workloads, "contended");
    assert_eq!(role_count(contended, "interstice"), 4, "quiet and hog, 2 α");
    assert_eq!(
        role_count(contended, "baseline"),
        8,
        "SQLite FULL/NORMAL × 2 α, quiet and hog"
    );
    let hog = report["params"]["sizes"]["hog_threads"]
        .as_u64()
        .expect("hog_threads");
    assert!(hog >= 1, "the hog defaults to one thread per core");
    for alpha in ["0", "1.5"] {
        named_row(
            contended,
            &format!("transfer α={alpha}, sync, {hog}-thread CPU hog"),
        );
        named_row(
            contended,
            &format!("SQLite α={alpha}, WAL, synchronous=NORMAL, {hog}-thread CPU hog"),
        );
        sane_ratio(
            contended,
            &format!("transfer α={alpha}: contended / quiet"),
            Some(0.5),
        );
        for mode in ["FULL", "NORMAL"] {
            sane_ratio(
                contended,
                &format!("SQLite α={alpha} {mode}: contended / quiet"),
                None,
            );
            sane_ratio(
                contended,
                &format!("transfer α={alpha} (contended/quiet) / SQLite {mode}'s"),
                Some(1.0),
            );
        }
    }

    let replay = workload(workloads, "replay");
    assert_eq!(
        role_count(replay, "baseline"),
        2,
        "the reader, the bare loop"
    );
    named_row(replay, "reader alone");
    named_row(replay, "bare loop");
    sane_ratio(replay, "replay / bare loop into a BTreeMap", Some(0.5));
    sane_ratio(
        replay,
        "replay / reader alone (read, verify, decode)",
        Some(0.5),
    );
}

/// The report of workload `name`.
fn workload<'a>(workloads: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    workloads
        .iter()
        .find(|w| w["workload"] == name)
        .unwrap_or_else(|| panic!("no workload {name}"))
}

/// Rows of `w` with `role`.
fn role_count(w: &serde_json::Value, role: &str) -> usize {
    w["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["role"] == role)
        .count()
}

/// The row of `w` whose name starts with `prefix`.
fn named_row<'a>(w: &'a serde_json::Value, prefix: &str) -> &'a serde_json::Value {
    w["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .unwrap_or_else(|| panic!("{}: no row {prefix}: {w}", w["workload"]))
}

/// The ratio of `w` called `name`.
fn ratio<'a>(w: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    w["ratios"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{}: no ratio {name}: {}", w["workload"], w["ratios"]))
}

/// Ratio `name` of `w` is a positive, finite ratio of two measured
/// figures (not 0 from a missing one, nor absurd), with `target` if given
/// and `met` saying whether it was reached.
fn sane_ratio(w: &serde_json::Value, name: &str, target: Option<f64>) {
    let r = ratio(w, name);
    let v = r["value"].as_f64().unwrap_or(f64::NAN);
    assert!(v.is_finite() && v > 0.0 && v < 10_000.0, "{name}: {r}");
    match target {
        Some(t) => {
            assert_eq!(r["target"]["value"].as_f64(), Some(t), "{name}: {r}");
            assert_eq!(r["met"].as_bool(), Some(v >= t), "{name}: {r}");
        }
        None => assert!(r["target"].is_null(), "{name}: {r}"),
    }
}
