//! Headless Chromium (Debian's `chromium`) for the tests of the HTML pages:
//! graph-trace's offline page and the server's dashboard. Missing Chromium
//! fails the test (CI installs it), never skips it.
//!
//! - [`dump_dom`] and [`screenshot`]: one run of `chromium --headless`
//!   over a URL (a virtual-time budget, the serialized DOM and the console
//!   on stderr; or a PNG).
//! - [`Browser`]: a Chromium driven through the DevTools protocol over
//!   its WebSocket (`--remote-debugging-port`): navigate, evaluate script,
//!   wait for the page to change while the test acts on the server, and
//!   collect every console message, script exception and network request.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use tungstenite::Message;

/// Debian's Chromium; asserts that it is installed.
pub(crate) fn chromium() -> &'static Path {
    let p = Path::new("/usr/bin/chromium");
    assert!(
        p.exists(),
        "/usr/bin/chromium is missing: install it (apt-get install -y chromium) to test the \
         HTML pages (.ci/run does)"
    );
    p
}

const HEADLESS: [&str; 3] = ["--headless", "--no-sandbox", "--disable-gpu"];

/// A page rendered by one headless run.
pub(crate) struct Rendered {
    /// The DOM after the budget, serialized.
    pub dom: String,
    /// Chromium's stderr, console messages included.
    pub console: String,
}

impl Rendered {
    /// Asserts that no script failed (an uncaught exception, a refused
    /// load) on the console.
    pub(crate) fn assert_no_console_errors(&self) {
        for bad in ["Uncaught", "Refused to", "Failed to load resource"] {
            assert!(!self.console.contains(bad), "console: {}", self.console);
        }
    }
}

/// Renders `url` for `budget_ms` of virtual time and dumps the DOM.
pub(crate) fn dump_dom(url: &str, budget_ms: u32) -> Rendered {
    let o = Command::new(chromium())
        .args(HEADLESS)
        .args(["--dump-dom", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(url)
        .output()
        .expect("chromium runs");
    Rendered {
        dom: String::from_utf8_lossy(&o.stdout).into_owned(),
        console: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Asserts that a screenshot has content: a PNG of more than 10 KB.
pub(crate) fn assert_screenshot(png: &Path) {
    let bytes = std::fs::read(png).expect("screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        bytes.len() > 10_000,
        "a screenshot with content: {} bytes",
        bytes.len()
    );
}

/// Saves a `width`×`height` screenshot of `url` to `png` and checks it.
pub(crate) fn screenshot(url: &str, png: &Path, width: u32, height: u32) {
    let o = Command::new(chromium())
        .args(HEADLESS)
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_screenshot(png);
}

/// A Chromium driven over the DevTools protocol, killed on drop.
pub(crate) struct Browser {
    child: Child,
    ws: tungstenite::WebSocket<TcpStream>,
    next_id: u64,
    /// Every event received, in order.
    pub events: Vec<Json>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with a fresh profile and attaches to its page, with
    /// the runtime, console, log and network domains enabled.
    pub(crate) fn start(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().expect("profile");
        let mut child = Command::new(chromium())
            .args(HEADLESS)
            .args([
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…"
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        });
        let browser_url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium names its DevTools address");
        let host = browser_url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("host")
            .to_owned();
        let page_url = wait_for_page(&host);
        let stream = TcpStream::connect(&host).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let (ws, _) = tungstenite::client(page_url.as_str(), stream).expect("DevTools handshake");
        let mut b = Browser {
            child,
            ws,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        };
        for domain in ["Runtime", "Log", "Page", "Network"] {
            b.send(&format!("{domain}.enable"), json!({}));
        }
        b
    }

    /// Sends a command and waits for its result (events meanwhile are kept).
    pub(crate) fn send(&mut self, method: &str, params: Json) -> Json {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .expect("DevTools send");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "no answer to {method}");
            let Some(m) = self.read() else { continue };
            if m["id"] == id {
                assert!(m.get("error").is_none(), "{method}: {m}");
                return m["result"].clone();
            }
        }
    }

    /// The next message, or `None` after a short wait.
    fn read(&mut self) -> Option<Json> {
        match self.ws.read() {
            Ok(Message::Text(t)) => {
                let v: Json = serde_json::from_str(t.as_str()).expect("DevTools JSON");
                if v.get("method").is_some() {
                    self.events.push(v.clone());
                }
                Some(v)
            }
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("DevTools connection: {e}"),
        }
    }

    /// Opens `url` and waits for its load event.
    pub(crate) fn navigate(&mut self, url: &str) {
        let before = self.events.len();
        self.send("Page.navigate", json!({"url": url}));
        self.wait_event(before, "Page.loadEventFired");
    }

    fn wait_event(&mut self, from: usize, method: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.events[from..].iter().any(|e| e["method"] == method) {
            assert!(Instant::now() < deadline, "no {method}");
            self.read();
        }
    }

    /// Evaluates `expr` in the page and returns its value.
    pub(crate) fn eval(&mut self, expr: &str) -> Json {
        let r = self.send(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluates `expr` until it is true (within `secs`), pumping events.
    pub(crate) fn wait_until(&mut self, secs: u64, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.eval(expr) == Json::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{expr} still false after {secs} s; the page: {}",
                self.eval("document.body.outerHTML")
            );
            let until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < until {
                self.read();
            }
        }
    }

    /// Console errors and warnings, script exceptions, and log entries
    /// (CSP refusals, failed loads) seen so far.
    pub(crate) fn problems(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.exceptionThrown" => Some(format!("exception: {p}")),
                    "Runtime.consoleAPICalled"
                        if matches!(p["type"].as_str(), Some("error" | "warning" | "assert")) =>
                    {
                        Some(format!("console.{}: {}", p["type"], p["args"]))
                    }
                    "Log.entryAdded"
                        if matches!(p["entry"]["level"].as_str(), Some("error" | "warning")) =>
                    {
                        Some(format!("log: {}", p["entry"]))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// The URL of every network request the page made.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| {
                e["method"] == "Network.requestWillBeSent"
                    || e["method"] == "Network.webSocketCreated"
            })
            .filter_map(|e| {
                let p = &e["params"];
                p["request"]["url"]
                    .as_str()
                    .or(p["url"].as_str())
                    .map(str::to_owned)
            })
            .collect()
    }

    /// A PNG of the page as shown, saved to `png` and checked.
    pub(crate) fn screenshot(&mut self, png: &Path) {
        let r = self.send("Page.captureScreenshot", json!({"format": "png"}));
        let data = base64_decode(r["data"].as_str().expect("base64 data"));
        std::fs::write(png, data).expect("writing the screenshot");
        assert_screenshot(png);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The DevTools WebSocket of the browser's first page (`/json/list`).
fn wait_for_page(host: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list: Option<Json> = ureq::get(format!("http://{host}/json/list"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|t| serde_json::from_str(&t).ok());
        let page = list.as_ref().and_then(Json::as_array).and_then(|l| {
            l.iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                .map(str::to_owned)
        });
        if let Some(p) = page {
            return p;
        }
        assert!(Instant::now() < deadline, "chromium shows no page");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Standard base64 (as DevTools sends screenshots).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        other => panic!("not base64: {other}"),
    };
    let bytes: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|c| u32::from(value(*c))).collect();
        let n = v.iter().fold(0u32, |acc, x| acc << 6 | x) << (6 * (4 - v.len()));
        let take = v.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    out
}

/// The directory screenshots are kept in, so a CI run can show them:
/// `target/screenshots/`.
pub(crate) fn screenshot_dir() -> PathBuf {
    let dir = crate::support::workspace_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("target/screenshots");
    dir
}
