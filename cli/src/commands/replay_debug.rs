//! `interstice replay-debug -d DIR [--format text|json] [--load FILE]`: an
//! interactive debugger over the committed history (`docs/TOOLS.md`).
//!
//! Commands are read from stdin, one per line (`command.rs` has the
//! language): at a terminal through a line editor (`input.rs`: editing,
//! history, the prompt on the terminal), or from a script.
//! Each command's reply goes to stdout — in `--format json` exactly one
//! JSON object per command line, carrying its `line` number — and errors
//! go to stderr as `error: line N: ...` (in JSON also as
//! `{"line": N, "error": "..."}` on stdout, so every command line has one
//! reply). A bad command line does not stop the session: the next line is
//! read, and at the end of input the exit code says whether any failed
//! (2 when every failure was a bad command or argument, 1 otherwise).
//!
//! The position is a timestamp: the state after every entry up to it
//! (`session.rs`). Memory is bounded by the checkpoints
//! (`checkpoints.rs`: at most `--max-checkpoints` + 1 copies of the
//! state), the reader's read-ahead (64 entries), the trace (the last
//! [`MAX_TRACE`] commands), `show table`'s `--limit` and `diff`'s row cap;
//! it does not grow with the log's length. Read-only: no lock is taken.

mod checkpoints;
mod command;
mod export;
mod input;
mod session;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::Path;

use interstice_actors::Limits;
use interstice_persist::LogEntry;
use serde_json::{json, Value as Json};

use crate::args::ReportFormat;
use crate::error::CliError;
use crate::output;
use command::{parse, BreakSpec, Command, HELP};
use export::TraceItem;
use input::Input;
use session::{Breakpoint, Session};

pub(crate) use checkpoints::{DEFAULT_EVERY, DEFAULT_MAX};

/// Commands the trace keeps (the oldest are dropped).
pub const MAX_TRACE: usize = 10_000;
/// Breakpoints one session may hold.
pub const MAX_BREAKPOINTS: usize = 1000;

/// What `replay-debug` was asked for.
#[derive(Debug, Clone)]
pub struct ReplayDebugArgs<'a> {
    /// The data directory.
    pub dir: &'a Path,
    /// Replies as text or one JSON object per command.
    pub format: ReportFormat,
    /// An earlier session's export to resume from.
    pub load: Option<&'a Path>,
    /// Take a checkpoint every this many entries (before evictions).
    pub checkpoint_every: u64,
    /// Keep at most this many checkpoints besides the start.
    pub max_checkpoints: usize,
    /// The fuel budget the log was written with, if not the default.
    pub fuel: Option<u64>,
    /// The memory cap the log was written with, if not the default.
    pub memory_bytes: Option<usize>,
}

/// A command's reply: its JSON form and its text lines.
struct Reply {
    json: Json,
    text: Vec<String>,
}

struct Debugger {
    session: Session,
    breakpoints: Vec<Breakpoint>,
    next_id: u64,
    trace: VecDeque<TraceItem>,
}

/// Runs the debugger until the end of stdin or `quit`.
pub fn run(a: &ReplayDebugArgs<'_>) -> Result<(), CliError> {
    if a.checkpoint_every == 0 || a.max_checkpoints == 0 {
        return Err(CliError::Usage(
            "--checkpoint-every and --max-checkpoints must be at least 1".into(),
        ));
    }
    let defaults = Limits::default();
    let limits = defaults
        .with_fuel(a.fuel.unwrap_or(defaults.fuel))
        .with_memory_bytes(a.memory_bytes.unwrap_or(defaults.memory_bytes));
    let loaded = a
        .load
        .map(|p| export::read(p, a.max_checkpoints))
        .transpose()?;
    let session = Session::open(
        a.dir,
        limits,
        a.checkpoint_every,
        a.max_checkpoints,
        loaded.as_ref().map_or(&[][..], |l| &l.checkpoints),
    )?;
    let mut dbg = Debugger {
        session,
        breakpoints: Vec::new(),
        next_id: 1,
        trace: VecDeque::new(),
    };
    if let Some(l) = loaded {
        for text in &l.breakpoints {
            let spec = match parse(&format!("break {text}")) {
                Ok(Some(Command::Break(spec))) => spec,
                _ => {
                    return Err(CliError::Usage(format!(
                        "--load: the breakpoint `{text}` does not parse"
                    )))
                }
            };
            dbg.add_break(spec)
                .map_err(|e| CliError::Usage(format!("--load: breakpoint `{text}`: {e}")))?;
        }
        dbg.trace = l.trace.into_iter().collect();
        while dbg.trace.len() > MAX_TRACE {
            dbg.trace.pop_front();
        }
        dbg.session.goto("--load", l.position)?;
    }
    let mut input = Input::new(std::io::stdin().is_terminal());
    let interactive = input.is_terminal();
    if interactive {
        output::progress(format!(
            "replay-debug: {} (ts {}..={}), at ts {}; `help` lists the commands",
            a.dir.display(),
            dbg.session.first_ts(),
            dbg.session.last_ts(),
            dbg.session.pos()
        ));
    }
    let mut line_no = 0u64;
    let mut failed: Vec<(u64, bool)> = Vec::new();
    loop {
        let prompt = format!("(replay-debug ts {}) ", dbg.session.pos());
        let line = match input.next(&prompt)? {
            None => break,
            Some(l) => l,
        };
        line_no += 1;
        let result = match line {
            Err(too_long) => Err(CliError::Usage(too_long)),
            Ok(text) => match parse(&text) {
                Err(msg) => Err(CliError::Usage(msg)),
                Ok(None) => continue,
                Ok(Some(Command::Quit)) => break,
                Ok(Some(cmd)) => dbg.execute(&cmd).map(|r| (cmd, text, r)),
            },
        };
        match result {
            Ok((cmd, text, reply)) => {
                dbg.trace.push_back(TraceItem {
                    line: line_no,
                    command: text.trim().to_owned(),
                    ts: dbg.session.pos(),
                });
                if dbg.trace.len() > MAX_TRACE {
                    dbg.trace.pop_front();
                }
                print_reply(a.format, line_no, &cmd, reply);
            }
            Err(e) => {
                failed.push((line_no, matches!(e, CliError::Usage(_))));
                output::error(format!("line {line_no}: {e}"));
                if a.format == ReportFormat::Json {
                    output::result(json!({ "line": line_no, "error": e.to_string() }));
                }
            }
        }
    }
    if interactive {
        output::progress("");
    }
    if failed.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = failed.iter().map(|(n, _)| n.to_string()).collect();
    let msg = format!(
        "replay-debug: {} command line(s) failed (line(s) {})",
        failed.len(),
        lines.join(", ")
    );
    if failed.iter().all(|(_, usage)| *usage) {
        Err(CliError::Usage(msg))
    } else {
        Err(CliError::CheckFailed(msg))
    }
}

fn print_reply(format: ReportFormat, line: u64, cmd: &Command, reply: Reply) {
    match format {
        ReportFormat::Json => {
            let mut j = reply.json;
            if let Json::Object(m) = &mut j {
                m.insert("line".into(), json!(line));
                m.insert("command".into(), json!(cmd.name()));
            }
            output::result(j);
        }
        ReportFormat::Text => {
            for l in reply.text {
                output::result(l);
            }
        }
    }
}

/// One line about an entry: `ts 5: commit bank.transfer (external): err ...`.
fn entry_line(e: &LogEntry) -> String {
    match e {
        LogEntry::Install(i) => format!("ts {}: install {} {}", i.ts, i.name, i.version),
        LogEntry::Engine(e) => format!("ts {}: engine {}", e.ts, e.engine),
        LogEntry::Unload(u) => format!("ts {}: {}", u.ts, crate::inspect::unload_text(u)),
        LogEntry::Commit(c) => {
            let cause = match &c.cause {
                interstice_persist::Cause::External => "external".to_owned(),
                interstice_persist::Cause::Init => "init".to_owned(),
                interstice_persist::Cause::Call { module, ts, .. } => {
                    format!("call from {module} at ts {ts}")
                }
                interstice_persist::Cause::Trigger { module, ts, .. } => {
                    format!("trigger from {module} at ts {ts}")
                }
                interstice_persist::Cause::Reply { module, ts, .. } => {
                    format!("reply from {module} at ts {ts}")
                }
                interstice_persist::Cause::Migration { table, .. } => {
                    format!("migration of {table}")
                }
            };
            let outcome = match &c.outcome {
                interstice_persist::Outcome::Ok(_) => "ok".to_owned(),
                interstice_persist::Outcome::Err { kind, message, .. } => {
                    format!("failed ({}): {message}", kind.name())
                }
            };
            format!(
                "ts {}: commit {}.{} ({cause}): {outcome}, {} mutation(s)",
                c.ts,
                c.module,
                c.reducer,
                c.mutations.len()
            )
        }
    }
}

impl Debugger {
    fn add_break(&mut self, spec: BreakSpec) -> Result<u64, CliError> {
        if self.breakpoints.len() >= MAX_BREAKPOINTS {
            return Err(CliError::Usage(format!(
                "break: at most {MAX_BREAKPOINTS} breakpoints"
            )));
        }
        self.session.check_break(&spec)?;
        let id = self.next_id;
        self.next_id += 1;
        self.breakpoints.push(Breakpoint { id, spec });
        Ok(id)
    }

    /// The reply of a command that moved: where it is now.
    fn position(&self, hits: &[&Breakpoint], note: Option<String>) -> Reply {
        let hit = hits.first().copied();
        let s = &self.session;
        let entry = s.current().map(|e| s.world().entry_json(e));
        let mut text = Vec::new();
        for b in hits {
            text.push(format!("breakpoint {} ({}) hit", b.id, b.spec));
        }
        if let Some(n) = &note {
            text.push(n.clone());
        }
        text.push(match s.current() {
            Some(e) => entry_line(e),
            None => format!("ts {}: the start of the log (no entry applied)", s.pos()),
        });
        Reply {
            json: json!({
                "ts": s.pos(),
                "entry": entry,
                "end": s.pos() == s.last_ts(),
                "breakpoint": hit.map(|b| json!({ "id": b.id, "spec": b.spec.to_string() })),
                "hits": hits.iter().map(|b| b.id).collect::<Vec<_>>(),
                "note": note,
            }),
            text,
        }
    }

    fn execute(&mut self, cmd: &Command) -> Result<Reply, CliError> {
        match cmd {
            Command::Step(n) => {
                let mut note = None;
                for _ in 0..*n {
                    if self.session.step_one()?.is_none() {
                        note = Some(format!(
                            "the end of the log (ts {})",
                            self.session.last_ts()
                        ));
                        break;
                    }
                }
                Ok(self.position(&[], note))
            }
            Command::Back(n) => {
                let pos = self.session.pos();
                let first = self.session.first_ts();
                if pos.saturating_sub(*n) < first || *n > pos {
                    return Err(CliError::Usage(format!(
                        "back {n}: only {} entries before the current position (ts {pos})",
                        pos - first
                    )));
                }
                self.session.goto("back", pos - n)?;
                Ok(self.position(&[], None))
            }
            Command::Goto(ts) => {
                self.session.goto("goto", *ts)?;
                Ok(self.position(&[], None))
            }
            Command::Continue => loop {
                let Some(olds) = self.session.step_one()? else {
                    let note = format!(
                        "the end of the log (ts {}): no breakpoint hit",
                        self.session.last_ts()
                    );
                    return Ok(self.position(&[], Some(note)));
                };
                let mut hits = Vec::new();
                for b in &self.breakpoints {
                    if self.session.hits(&b.spec, &olds)? {
                        hits.push(b);
                    }
                }
                if !hits.is_empty() {
                    return Ok(self.position(&hits, None));
                }
            },
            Command::Break(spec) => {
                let id = self.add_break(spec.clone())?;
                Ok(Reply {
                    json: json!({ "id": id, "spec": spec.to_string() }),
                    text: vec![format!("breakpoint {id}: {spec}")],
                })
            }
            Command::Breaks => Ok(Reply {
                json: json!({ "breakpoints": self.breakpoints.iter()
                    .map(|b| json!({ "id": b.id, "spec": b.spec.to_string() }))
                    .collect::<Vec<_>>() }),
                text: if self.breakpoints.is_empty() {
                    vec!["no breakpoints".into()]
                } else {
                    self.breakpoints
                        .iter()
                        .map(|b| format!("breakpoint {}: {}", b.id, b.spec))
                        .collect()
                },
            }),
            Command::Delete(id) => {
                let Some(at) = self.breakpoints.iter().position(|b| b.id == *id) else {
                    return Err(CliError::Usage(format!("delete: no breakpoint {id}")));
                };
                let b = self.breakpoints.remove(at);
                Ok(Reply {
                    json: json!({ "deleted": b.id, "spec": b.spec.to_string() }),
                    text: vec![format!("deleted breakpoint {}: {}", b.id, b.spec)],
                })
            }
            Command::ShowCommit => {
                let s = &self.session;
                let Some(e) = s.current() else {
                    return Err(CliError::Usage(format!(
                        "show commit: no entry at the current position (ts {}, the start): \
                         step first",
                        s.pos()
                    )));
                };
                let j = s.world().entry_json(e);
                let text = serde_json::to_string_pretty(&j)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect();
                Ok(Reply {
                    json: json!({ "ts": s.pos(), "entry": j }),
                    text,
                })
            }
            Command::ShowTable {
                module,
                table,
                limit,
                predicate,
            } => {
                let j = self
                    .session
                    .show_table(module, table, *limit, predicate.as_deref())?;
                let mut text: Vec<String> = j["rows"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(Json::to_string)
                    .collect();
                text.push(format!(
                    "{} row(s) of {module}.{table} at ts {}{}",
                    text.len(),
                    self.session.pos(),
                    if j["truncated"] == true {
                        " (--limit reached)"
                    } else {
                        ""
                    }
                ));
                Ok(Reply { json: j, text })
            }
            Command::ShowTrace => Ok(Reply {
                json: json!({ "trace": self.trace }),
                text: self
                    .trace
                    .iter()
                    .map(|t| format!("{:>6}  ts {:<8} {}", t.line, t.ts, t.command))
                    .collect(),
            }),
            Command::Diff(a, b) => {
                let changes = self.session.diff(*a, *b)?;
                let mut text: Vec<String> = changes
                    .iter()
                    .map(|c| {
                        format!(
                            "{}.{} {} {}: {} -> {}",
                            c["module"].as_str().unwrap_or(""),
                            c["table"].as_str().unwrap_or(""),
                            c["key"],
                            c["change"].as_str().unwrap_or(""),
                            c["before"],
                            c["after"]
                        )
                    })
                    .collect();
                text.push(format!(
                    "{} row(s) changed between ts {} and ts {}",
                    changes.len(),
                    a.min(b),
                    a.max(b)
                ));
                Ok(Reply {
                    json: json!({ "from": a.min(b), "to": a.max(b), "changes": changes }),
                    text,
                })
            }
            Command::Rerun => {
                let mut j = self.session.rerun()?;
                let lines: Vec<String> = j["text"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect();
                if let Json::Object(m) = &mut j {
                    m.remove("text");
                }
                let head = format!(
                    "rerun ts {} {}.{}: {}",
                    j["ts"],
                    j["module"].as_str().unwrap_or(""),
                    j["reducer"].as_str().unwrap_or(""),
                    if lines.is_empty() {
                        "re-executed exactly as logged"
                    } else {
                        "DIFFERS from the log:"
                    }
                );
                let text = std::iter::once(head)
                    .chain(lines.into_iter().map(|l| format!("  {l}")))
                    .collect();
                Ok(Reply { json: j, text })
            }
            Command::Export(path) => {
                let s = &self.session;
                let cps = s.checkpoints().all();
                let bytes = export::write(
                    path,
                    s.pos(),
                    s.last_ts(),
                    self.breakpoints
                        .iter()
                        .map(|b| b.spec.to_string())
                        .collect(),
                    self.trace.iter().cloned().collect(),
                    cps,
                )?;
                Ok(Reply {
                    json: json!({
                        "file": path.display().to_string(),
                        "bytes": bytes,
                        "checkpoints": cps.iter().map(|c| c.ts).collect::<Vec<_>>(),
                        "trace": self.trace.len(),
                        "checkpoint_every": s.checkpoints().every(),
                    }),
                    text: vec![format!(
                        "exported {} checkpoint(s) and {} trace line(s) to {} ({bytes} bytes)",
                        cps.len(),
                        self.trace.len(),
                        path.display()
                    )],
                })
            }
            Command::Help => Ok(Reply {
                json: json!({ "commands": HELP }),
                text: HELP.iter().map(|l| (*l).to_owned()).collect(),
            }),
            Command::Quit => Ok(Reply {
                json: json!({}),
                text: Vec::new(),
            }),
        }
    }
}
