//! `interstice graph-trace`: the transaction graph of a real data
//! directory (hello + caller: an async call and a trigger; bank: a failed
//! transfer) as DOT, GraphML (parsed by Python's networkx), SVG (parsed as
//! XML) and HTML (rendered in headless Chromium, a node clicked through
//! `?select=`), and specific errors for bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use interstice_persist::{Cause, CommitRecord, Outcome};

use crate::support::{
    chromium, commits, expect_ok, interstice, log_entries, open_with, s, stderr_of, tempdir, u,
};

/// Populates `dir`; returns the runtime (holding the lock) and the ts of
/// `caller.greet`.
async fn populate(dir: &Path) -> (interstice_actors::Runtime, u64) {
    let rt = open_with(dir, &["hello", "caller", "bank"]).await;
    let greet = rt
        .call("caller", "greet", vec![s("bob")])
        .await
        .expect("greet");
    let failed = rt.call("bank", "transfer", vec![u(1), u(9), u(1)]).await;
    assert!(failed.is_err(), "a transfer with no account fails");
    // The trigger runs later, and a failure is answered before its commit
    // is written: wait for both in the log, or the counts below race them.
    crate::support::eventually(10, "the greeting's trigger and the failed transfer", || {
        let d = dir.to_path_buf();
        async move {
            let entries = log_entries(&d);
            let cs = commits(&entries);
            cs.iter()
                .any(|c| c.module == "caller" && c.reducer == "on_greeting")
                && cs
                    .iter()
                    .any(|c| c.module == "bank" && c.reducer == "transfer")
        }
    })
    .await;
    (rt, greet.ts.expect("a write has a ts"))
}

fn graph(dir: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    let mut v: Vec<std::ffi::OsString> = vec!["graph-trace".into(), "-d".into(), dir.into()];
    v.extend(args.iter().map(|a| a.into()));
    v.push(out.into());
    interstice(v)
}

fn all_commits(dir: &Path) -> Vec<CommitRecord> {
    commits(&log_entries(dir)).into_iter().cloned().collect()
}

fn caused(c: &CommitRecord) -> bool {
    matches!(c.cause, Cause::Call { .. } | Cause::Trigger { .. })
}

#[tokio::test(flavor = "multi_thread")]
async fn dot_and_graphml_hold_every_commit_and_cause() {
    let d = tempdir();
    let (_rt, greet) = populate(d.path()).await;
    let cs = all_commits(d.path());
    let edges = cs.iter().filter(|c| caused(c)).count();
    assert!(edges >= 2, "an async call and a trigger");
    let out = d.path().join("g.dot");
    expect_ok(&graph(d.path(), &out, &[]), "graph-trace .dot");
    let dot = std::fs::read_to_string(&out).expect("dot");
    assert_eq!(dot.matches(" [label=\"#").count(), cs.len(), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), edges, "{dot}");
    assert!(dot.contains(&format!("#{greet} caller.greet")), "{dot}");
    assert!(dot.contains("caller.on_greeting"), "{dot}");
    assert!(
        dot.contains("[label=\"trigger\"]") && dot.contains("[label=\"call\"]"),
        "{dot}"
    );
    let failed = cs
        .iter()
        .find(|c| matches!(c.outcome, Outcome::Err { .. }))
        .expect("failed");
    assert!(dot.contains(&format!("#{} bank.transfer", failed.ts)) && dot.contains("color=red"));

    // The chain of caller.greet: it, its delivery to hello, the trigger.
    let out = d.path().join("chain.graphml");
    expect_ok(
        &graph(d.path(), &out, &["--caused-by", &greet.to_string()]),
        "graphml",
    );
    let xml = std::fs::read_to_string(&out).expect("graphml");
    assert_eq!(xml.matches("<node id=").count(), 3, "{xml}");
    assert_eq!(xml.matches("<edge id=").count(), 2, "{xml}");
    assert!(
        xml.contains("<data key=\"reducer\">on_greeting</data>"),
        "{xml}"
    );
    let (n, e) = networkx_counts(&out);
    assert_eq!((n, e), (3, 2), "networkx reads the chain");
    let out = d.path().join("all.graphml");
    expect_ok(&graph(d.path(), &out, &[]), "graphml");
    assert_eq!(networkx_counts(&out), (cs.len(), edges));
}

/// Node and edge counts as networkx reads the file.
pub(crate) fn networkx_counts(file: &Path) -> (usize, usize) {
    let lib = networkx();
    let out = Command::new("python3")
        .env("PYTHONPATH", &lib)
        .arg("-c")
        .arg("import sys, networkx as nx; g = nx.read_graphml(sys.argv[1]); print(g.number_of_nodes(), g.number_of_edges())")
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "networkx: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Vec<usize> = text
        .split_whitespace()
        .map(|x| x.parse().expect("count"))
        .collect();
    (v[0], v[1])
}

/// networkx from PyPI, installed once under target/.
fn networkx() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/py-networkx");
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if !dir.join("networkx").exists() {
        let st = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--target"])
            .arg(&dir)
            .arg("networkx")
            .status()
            .expect("pip runs");
        assert!(st.success(), "pip install networkx failed");
    }
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn svg_has_one_shape_per_node() {
    let d = tempdir();
    let (_rt, _) = populate(d.path()).await;
    let n = all_commits(d.path()).len();
    let out = d.path().join("g.svg");
    expect_ok(&graph(d.path(), &out, &[]), "svg");
    let py = "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); \
              ns = '{http://www.w3.org/2000/svg}'; \
              print(len([g for g in r.iter(ns + 'g') if g.get('class') == 'node' and g.find(ns + 'rect') is not None]))";
    let o = Command::new("python3")
        .args(["-c", py])
        .arg(&out)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "the SVG parses: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), n.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn html_renders_in_headless_chromium_and_a_click_shows_details() {
    chromium::chromium();
    let d = tempdir();
    let (_rt, greet) = populate(d.path()).await;
    let n = all_commits(d.path()).len();
    let out = d.path().join("g.html");
    expect_ok(&graph(d.path(), &out, &[]), "html");
    let page = std::fs::read_to_string(&out).expect("html");
    for fetch in [
        "src=",
        "href=",
        "fetch(",
        "XMLHttpRequest",
        "import(",
        "<link",
    ] {
        assert!(
            !page.contains(fetch),
            "no network fetch ({fetch}) in the page"
        );
    }
    let url = format!("file://{}?select={greet}", out.display());
    let r = chromium::dump_dom(&url, 2000);
    let dom = &r.dom;
    assert!(
        dom.contains(&format!("data-rendered=\"{n}\"")),
        "rendered: {dom}"
    );
    assert!(
        dom.contains(&format!("data-node=\"c{greet}\"")),
        "details: {dom}"
    );
    assert!(
        dom.contains("<dd class=\"field-reducer\">greet</dd>"),
        "{dom}"
    );
    assert!(
        dom.contains("<pre id=\"errors\"></pre>"),
        "no script errors: {dom}"
    );
    r.assert_no_console_errors();
    chromium::screenshot(&url, &d.path().join("shot.png"), 1200, 600);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_specific_error() {
    let d = tempdir();
    let (rt, _) = populate(d.path()).await;
    let o = graph(d.path(), &d.path().join("g.png"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_of(&o).contains("must end in .html, .graphml, .svg or .dot"));
    let o = graph(d.path(), &d.path().join("g.dot"), &["--caused-by", "99999"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr_of(&o).contains("no commit at timestamp 99999"),
        "{}",
        stderr_of(&o)
    );
    let o = graph(d.path(), &d.path().join("g.dot"), &["--max-nodes", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr_of(&o).contains("more than 1 nodes (--max-nodes)"),
        "{}",
        stderr_of(&o)
    );
    assert!(!d.path().join("g.dot").exists(), "nothing written");
    drop(rt);
    // A corrupt log: flip a byte in the middle of the segment.
    let log = d.path().join("log");
    let seg = std::fs::read_dir(&log)
        .expect("log")
        .map(|e| e.expect("e").path())
        .max()
        .expect("a segment");
    let mut bytes = std::fs::read(&seg).expect("segment");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&seg, bytes).expect("write");
    let o = graph(d.path(), &d.path().join("g.dot"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr_of(&o));
    assert!(!stderr_of(&o).is_empty() && !d.path().join("g.dot").exists());
}
