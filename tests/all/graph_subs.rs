//! Subscription graphs and cycles: `interstice graph-subs` over a data
//! directory a runtime holds (hello, caller, t_subs) and over .wasm files
//! (GraphML read by networkx, DOT, HTML in headless Chromium); a certain
//! subscription cycle refused at load with its path, and by `validate`
//! with the same message; the `recursive` opt-in loaded and cut by the
//! depth limit, the cut shown by `log-inspect` at the commit the module
//! logs name; declared writes enforced by the host.

use std::path::Path;

use interstice_actors::{ErrorKind, Limits};
use interstice_persist::Outcome;
use serde_json::Value as Json;

use crate::graph_trace::networkx_counts;
use crate::ordering::self_triggering_module_declaring;
use crate::support::chromium;
use crate::support::{
    commits, expect_ok, interstice, log_entries, open_with, open_with_limits, stderr_of, stdout_of,
    tempdir, wasm, wasm_path,
};

fn graph_subs(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut v: Vec<std::ffi::OsString> = vec!["graph-subs".into()];
    v.extend(args.iter().map(|a| a.to_os_string()));
    interstice(v)
}

/// hello (6 nodes: the module, `greetings`, 4 reducers), caller (module,
/// `seen`, 4 reducers) and t_subs (module, 3 tables, 4 reducers).
const NODES: usize = 6 + 6 + 8;
/// Subscriptions: caller.on_greeting, t_subs.on_tick, t_subs.on_note;
/// writes: on_greeting any (caller.seen), on_tick ticks and audit,
/// on_note audit; reads: caller -> hello.
const EDGES: usize = 3 + 4 + 1;

#[tokio::test(flavor = "multi_thread")]
async fn the_graph_of_a_data_directory_in_use_has_every_node_edge_and_cycle() {
    let d = tempdir();
    let _rt = open_with(d.path(), &["hello", "caller", "t_subs"]).await;
    let dir = d.path().as_os_str();
    let out = d.path().join("g.dot");
    let o = graph_subs(&["-d".as_ref(), dir, out.as_os_str()]);
    let said = expect_ok(&o, "graph-subs .dot");
    assert!(
        said.contains(
            "cycle t_subs.ticks → trigger t_subs.on_tick → t_subs.ticks: certain, bounded"
        ),
        "{said}"
    );
    let dot = std::fs::read_to_string(&out).expect("dot");
    assert_eq!(dot.matches(", color=black];").count(), NODES, "{dot}");
    assert_eq!(dot.matches(" -> ").count(), EDGES, "{dot}");
    for line in [
        "\"t:t_subs.ticks\" -> \"r:t_subs.on_tick\" [label=\"subscribes\", color=red];",
        "\"r:t_subs.on_tick\" -> \"t:t_subs.ticks\" [label=\"writes\", color=red];",
        "\"r:t_subs.on_tick\" -> \"t:t_subs.audit\" [label=\"writes\"];",
        "\"t:t_subs.notes\" -> \"r:t_subs.on_note\" [label=\"subscribes\"];",
        "\"r:caller.on_greeting\" -> \"t:caller.seen\" [label=\"writes\", style=dashed];",
        "\"m:caller\" -> \"m:hello\" [label=\"reads\"];",
    ] {
        assert!(dot.contains(line), "{line} in {dot}");
    }
    let out = d.path().join("g.graphml");
    expect_ok(
        &graph_subs(&["-d".as_ref(), dir, out.as_os_str()]),
        "graph-subs .graphml",
    );
    assert_eq!(networkx_counts(&out), (NODES, EDGES));
    let xml = std::fs::read_to_string(&out).expect("graphml");
    assert_eq!(
        xml.matches("<data key=\"cycle\">true</data>").count(),
        2,
        "{xml}"
    );
    assert_eq!(xml.matches("<data key=\"writes\">any</data>").count(), 1);
    // The same graph from the binaries, without a data directory.
    let out2 = d.path().join("w.graphml");
    let (h, c, t) = (wasm_path("hello"), wasm_path("caller"), wasm_path("t_subs"));
    expect_ok(
        &graph_subs(&[
            h.as_os_str(),
            c.as_os_str(),
            t.as_os_str(),
            out2.as_os_str(),
        ]),
        "graph-subs of .wasm files",
    );
    assert_eq!(networkx_counts(&out2), (NODES, EDGES));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_html_graph_renders_in_headless_chromium() {
    let d = tempdir();
    let _rt = open_with(d.path(), &["hello", "caller", "t_subs"]).await;
    let out = d.path().join("g.html");
    expect_ok(
        &graph_subs(&["-d".as_ref(), d.path().as_os_str(), out.as_os_str()]),
        "graph-subs .html",
    );
    let page = std::fs::read_to_string(&out).expect("html");
    for fetch in [
        "src=",
        "href=",
        "fetch(",
        "XMLHttpRequest",
        "import(",
        "<link",
    ] {
        assert!(!page.contains(fetch), "no network fetch ({fetch})");
    }
    let url = format!("file://{}?select=r:t_subs.on_tick", out.display());
    let r = chromium::dump_dom(&url, 2000);
    let dom = &r.dom;
    assert!(dom.contains(&format!("data-rendered=\"{NODES}\"")), "{dom}");
    assert!(dom.contains("data-node=\"r:t_subs.on_tick\""), "{dom}");
    assert!(
        dom.contains("<dd class=\"field-detail\">on t_subs.ticks.insert</dd>"),
        "{dom}"
    );
    assert_eq!(
        dom.matches("class=\"edge subscribes cycle\"").count(),
        1,
        "{dom}"
    );
    assert!(
        dom.contains("<pre id=\"errors\"></pre>"),
        "no script errors: {dom}"
    );
    r.assert_no_console_errors();
    chromium::screenshot(&url, &d.path().join("shot.png"), 1200, 600);
}

/// `interstice validate FILE -d DIR`.
fn validate(file: &Path, dir: &Path) -> std::process::Output {
    interstice([
        "validate".as_ref(),
        file.as_os_str(),
        "-d".as_ref(),
        dir.as_os_str(),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certain_cycle_is_refused_at_load_and_by_validate_with_its_path() {
    let d = tempdir();
    let rt = open_with(d.path(), &[]).await;
    let path = "t_loop.ticks → trigger t_loop.on_tick → t_loop.ticks";
    let looping = self_triggering_module_declaring(Some(&["ticks"]), false);
    let e = rt.load_module(looping.clone()).await.unwrap_err();
    assert_eq!(e.kind(), "SubscriptionCycle", "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("subscription cycle {path}")), "{msg}");
    assert!(
        msg.contains("declaring `recursive` on t_loop.on_tick"),
        "{msg}"
    );
    rt.shutdown().await.unwrap();
    let file = d.path().join("t_loop.wasm");
    std::fs::write(&file, &looping).unwrap();
    let o = validate(&file, d.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr_of(&o));
    let out = stdout_of(&o);
    assert!(
        out.contains(&format!("problem  cycles: {msg} (SubscriptionCycle)")),
        "validate says what load said: {out}"
    );
    // Undeclared, it is only possible: loaded (with a warning), and
    // validate notes it.
    let possible = crate::ordering::self_triggering_module();
    std::fs::write(&file, &possible).unwrap();
    let o = validate(&file, d.path());
    let out = expect_ok(&o, "validate of a possible cycle");
    assert!(
        out.contains(&format!(
            "ok       cycles: possible cycle through undeclared writes (load warns): {path}"
        )),
        "{out}"
    );
    let rt = open_with(d.path(), &[]).await;
    rt.load_module(possible)
        .await
        .expect("a possible cycle loads");
}

/// Waits until `dir`'s log holds `n` commits of `reducer`.
async fn until_commits(dir: &Path, reducer: &'static str, n: usize) {
    crate::support::eventually(20, reducer, || {
        let dir = dir.to_path_buf();
        async move {
            commits(&log_entries(&dir))
                .iter()
                .filter(|c| c.reducer == reducer)
                .count()
                == n
        }
    })
    .await;
}

/// The log-inspect JSON objects of `dir`'s commits.
fn inspected(dir: &Path, extra: &[&str]) -> Vec<Json> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "log-inspect".into(),
        "-d".into(),
        dir.into(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|a| a.into()));
    let o = interstice(args);
    stdout_of(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|j: &Json| j.get("reducer").is_some())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_recursion_loads_and_log_inspect_shows_where_the_depth_limit_cut_it() {
    const DEPTH: u32 = 5;
    let d = tempdir();
    let rt = open_with_limits(d.path(), Limits::default().with_max_trigger_depth(DEPTH)).await;
    rt.load_module(wasm("t_subs"))
        .await
        .expect("recursive loads");
    rt.call("t_subs", "start", vec![]).await.expect("start");
    until_commits(d.path(), "on_tick", DEPTH as usize).await;
    rt.shutdown().await.unwrap();
    let ticks: Vec<u64> = commits(&log_entries(d.path()))
        .iter()
        .filter(|c| c.reducer == "on_tick")
        .map(|c| c.ts)
        .collect();
    assert_eq!(ticks.len(), DEPTH as usize, "cut after {DEPTH} levels");
    let last = *ticks.last().unwrap();
    let limit = DEPTH.to_string();
    let shown = inspected(d.path(), &["--max-trigger-depth", &limit]);
    let cut: Vec<&Json> = shown.iter().filter(|j| j.get("cut").is_some()).collect();
    let [cut] = cut[..] else {
        panic!("one cut in {shown:?}")
    };
    assert_eq!(cut["ts"], last, "the last tick's deliveries were dropped");
    assert_eq!(
        cut["cut"],
        serde_json::json!({"dropped": 1, "depth": DEPTH + 1, "max_trigger_depth": DEPTH})
    );
    // The module logs recorded the cut at the same commit.
    let o = interstice([
        "logs".as_ref(),
        "-d".as_ref(),
        d.path().as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let logged: Vec<Json> = stdout_of(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|j: &Json| j["kind"] == "cut_chain")
        .collect();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["ts"], last);
    // Text output; and under the default limit (32) nothing was cut.
    let o = interstice([
        "log-inspect".as_ref(),
        "-d".as_ref(),
        d.path().as_os_str(),
        "--max-trigger-depth".as_ref(),
        limit.as_ref(),
        "--reducer".as_ref(),
        "on_tick".as_ref(),
    ]);
    let text = expect_ok(&o, "log-inspect");
    assert!(
        text.contains(&format!(
            "  cut      1 deliveries dropped: trigger depth {} exceeds Limits::max_trigger_depth = {DEPTH}",
            DEPTH + 1
        )),
        "{text}"
    );
    assert!(inspected(d.path(), &[])
        .iter()
        .all(|j| j.get("cut").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_writing_a_table_it_did_not_declare_fails() {
    let d = tempdir();
    let rt = open_with(d.path(), &["t_subs"]).await;
    rt.call("t_subs", "note", vec![false.into()]).await.unwrap();
    rt.call("t_subs", "note", vec![true.into()]).await.unwrap();
    until_commits(d.path(), "on_note", 2).await;
    rt.shutdown().await.unwrap();
    let entries = log_entries(d.path());
    let notes: Vec<_> = commits(&entries)
        .into_iter()
        .filter(|c| c.reducer == "on_note")
        .collect();
    assert!(
        matches!(notes[0].outcome, Outcome::Ok(_)),
        "{:?}",
        notes[0].outcome
    );
    assert_eq!(notes[0].mutations.len(), 1, "its audit row");
    match &notes[1].outcome {
        Outcome::Err { kind, message, .. } => {
            assert_eq!(*kind, ErrorKind::Host);
            assert!(
                message.contains(
                    "undeclared write: trigger `on_note` may write only `writes = [audit]`, \
                     but it tried to insert a row of table `notes`"
                ),
                "{message}"
            );
        }
        other => panic!("the sneaky trigger failed: {other:?}"),
    }
    assert!(notes[1].mutations.is_empty(), "rolled back, audit row too");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_specific_error() {
    let d = tempdir();
    let o = graph_subs(&[wasm_path("hello").as_os_str(), "g.png".as_ref()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_of(&o).contains("must end in .html, .graphml, .svg or .dot"));
    let out = d.path().join("g.dot");
    let o = graph_subs(&[out.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr_of(&o).contains("graph-subs needs modules"),
        "{}",
        stderr_of(&o)
    );
    let junk = d.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let o = graph_subs(&[junk.as_os_str(), out.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr_of(&o).contains("not a loadable module"),
        "{}",
        stderr_of(&o)
    );
    let o = graph_subs(&["notes.txt".as_ref(), out.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr_of(&o).contains("expected MODULE.wasm"),
        "{}",
        stderr_of(&o)
    );
    assert!(!out.exists(), "nothing written");
}
