//! The debugger's command language: one command per line, parsed into a
//! [`Command`]. Parsing knows nothing of the log; names and predicates are
//! checked against the log's schemas by the session.
//!
//! ```text
//! step [N]            back [N]            goto TS             continue
//! break ts=N          break MODULE.REDUCER
//! break table MODULE.TABLE              break where MODULE.TABLE PREDICATE
//! breaks              delete ID
//! show commit         show table MODULE.TABLE [--limit N] [--where PREDICATE]
//! show trace          diff TS1 TS2        rerun               export FILE
//! help                quit
//! ```
//!
//! A predicate is the rest of the line (the `--where` language of
//! `tables`), so `--limit` comes before `--where`. Blank lines and lines
//! starting with `#` are ignored.

use std::path::PathBuf;

/// Rows `show table` prints when no `--limit` is given.
pub(crate) const DEFAULT_SHOW_LIMIT: u64 = 1000;

/// What a breakpoint stops at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BreakSpec {
    /// The entry with this timestamp.
    Ts(u64),
    /// A commit of this reducer.
    Reducer {
        /// Its module.
        module: String,
        /// The reducer.
        reducer: String,
    },
    /// A commit that changes a row of this table.
    Table {
        /// Its module.
        module: String,
        /// The table.
        table: String,
    },
    /// A commit after which a row of the table matches the predicate that
    /// did not before (inserted, or updated into a match).
    Where {
        /// Its module.
        module: String,
        /// The table.
        table: String,
        /// The predicate's text.
        predicate: String,
    },
}

impl std::fmt::Display for BreakSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakSpec::Ts(ts) => write!(f, "ts={ts}"),
            BreakSpec::Reducer { module, reducer } => write!(f, "{module}.{reducer}"),
            BreakSpec::Table { module, table } => write!(f, "table {module}.{table}"),
            BreakSpec::Where {
                module,
                table,
                predicate,
            } => write!(f, "where {module}.{table} {predicate}"),
        }
    }
}

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Apply the next N entries.
    Step(u64),
    /// Go back N entries.
    Back(u64),
    /// Go to the state after the entry at TS.
    Goto(u64),
    /// Step until a breakpoint or the end of the log.
    Continue,
    /// Add a breakpoint.
    Break(BreakSpec),
    /// List the breakpoints.
    Breaks,
    /// Remove a breakpoint by id.
    Delete(u64),
    /// The entry at the current position.
    ShowCommit,
    /// A table's rows at the current position.
    ShowTable {
        /// Its module.
        module: String,
        /// The table.
        table: String,
        /// At most this many rows.
        limit: u64,
        /// Only rows matching this predicate.
        predicate: Option<String>,
    },
    /// The commands run so far, with the position each left.
    ShowTrace,
    /// The rows changed between two points.
    Diff(u64, u64),
    /// Re-execute the current commit and compare with the log.
    Rerun,
    /// Write the checkpoints and trace to a file.
    Export(PathBuf),
    /// The command list.
    Help,
    /// Stop reading commands.
    Quit,
}

impl Command {
    /// The command's name, as replies name it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Step(_) => "step",
            Command::Back(_) => "back",
            Command::Goto(_) => "goto",
            Command::Continue => "continue",
            Command::Break(_) => "break",
            Command::Breaks => "breaks",
            Command::Delete(_) => "delete",
            Command::ShowCommit => "show commit",
            Command::ShowTable { .. } => "show table",
            Command::ShowTrace => "show trace",
            Command::Diff(..) => "diff",
            Command::Rerun => "rerun",
            Command::Export(_) => "export",
            Command::Help => "help",
            Command::Quit => "quit",
        }
    }
}

/// The help text, one line per command.
pub(crate) const HELP: &[&str] = &[
    "step [N]                     apply the next N entries (default 1)",
    "back [N]                     go back N entries (default 1)",
    "goto TS                      the state after the entry at TS (0: before the first)",
    "continue                     step until a breakpoint is hit or the log ends",
    "break ts=N                   stop at the entry at N",
    "break MODULE.REDUCER         stop at a commit of the reducer",
    "break table MODULE.TABLE     stop at a commit that changes a row of the table",
    "break where MODULE.TABLE P   stop when a row matching predicate P appears",
    "breaks                       list the breakpoints",
    "delete ID                    remove a breakpoint",
    "show commit                  the entry at the current position",
    "show table MODULE.TABLE [--limit N] [--where P]   the table's rows now",
    "show trace                   the commands run so far",
    "diff TS1 TS2                 the rows changed between the two points",
    "rerun                        re-execute the current commit, diff against the log",
    "export FILE                  write the checkpoints and trace (replay-debug --load FILE)",
    "help                         this list",
    "quit                         stop (as end of input does)",
];

/// Parses one line; `Ok(None)` for a blank line or a comment.
pub(crate) fn parse(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (word, rest) = split_word(line);
    let cmd = match word {
        "step" | "s" => Command::Step(count(word, rest)?),
        "back" | "b" => Command::Back(count(word, rest)?),
        "goto" => Command::Goto(ts_arg("goto", rest)?),
        "continue" | "c" => {
            no_args(word, rest)?;
            Command::Continue
        }
        "break" => Command::Break(break_spec(rest)?),
        "breaks" => {
            no_args(word, rest)?;
            Command::Breaks
        }
        "delete" => Command::Delete(number("delete", "ID", rest)?),
        "show" => show(rest)?,
        "diff" => {
            let (a, b) = split_word(rest);
            if b.contains(char::is_whitespace) || b.is_empty() {
                return Err(
                    "diff: expected two timestamps: diff TS1 TS2 (e.g. diff 3 10)".to_owned(),
                );
            }
            Command::Diff(ts_arg("diff", a)?, ts_arg("diff", b)?)
        }
        "rerun" => {
            no_args(word, rest)?;
            Command::Rerun
        }
        "export" => {
            if rest.is_empty() {
                return Err("export: expected a file name: export FILE".to_owned());
            }
            Command::Export(PathBuf::from(rest))
        }
        "help" | "?" => Command::Help,
        "quit" | "exit" | "q" => Command::Quit,
        other => {
            return Err(format!(
                "unknown command `{other}` (commands: step, back, goto, continue, break, \
                 breaks, delete, show, diff, rerun, export, help, quit)"
            ))
        }
    };
    Ok(Some(cmd))
}

/// The first whitespace-separated word and the trimmed rest.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.find(char::is_whitespace) {
        Some(at) => (&s[..at], s[at..].trim()),
        None => (s, ""),
    }
}

fn no_args(word: &str, rest: &str) -> Result<(), String> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(format!("{word}: takes no arguments, got `{rest}`"))
    }
}

fn number(what: &str, name: &str, s: &str) -> Result<u64, String> {
    if s.is_empty() {
        return Err(format!("{what}: expected {name}"));
    }
    s.parse::<u64>()
        .map_err(|_| format!("{what}: {name} must be a non-negative integer, got `{s}`"))
}

fn ts_arg(what: &str, s: &str) -> Result<u64, String> {
    number(what, "a timestamp", s)
}

/// `step`'s and `back`'s optional count (at least 1).
fn count(word: &str, rest: &str) -> Result<u64, String> {
    if rest.is_empty() {
        return Ok(1);
    }
    match rest.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{word}: N must be a positive integer, got `{rest}`"
        )),
    }
}

/// `MODULE.NAME`, both parts non-empty and without spaces.
fn dotted(what: &str, s: &str) -> Result<(String, String), String> {
    match s.split_once('.') {
        Some((m, n))
            if !m.is_empty()
                && !n.is_empty()
                && !s.contains(char::is_whitespace)
                && !n.contains('.') =>
        {
            Ok((m.to_owned(), n.to_owned()))
        }
        _ => Err(format!("{what}: expected MODULE.NAME, got `{s}`")),
    }
}

fn break_spec(rest: &str) -> Result<BreakSpec, String> {
    const USAGE: &str = "break: expected ts=N, MODULE.REDUCER, table MODULE.TABLE or where \
                         MODULE.TABLE PREDICATE";
    if rest.is_empty() {
        return Err(USAGE.to_owned());
    }
    if let Some(n) = rest.strip_prefix("ts=") {
        return Ok(BreakSpec::Ts(ts_arg("break ts=N", n.trim())?));
    }
    let (word, tail) = split_word(rest);
    match word {
        "table" => {
            let (module, table) = dotted("break table", tail)?;
            Ok(BreakSpec::Table { module, table })
        }
        "where" => {
            let (name, predicate) = split_word(tail);
            let (module, table) = dotted("break where", name)?;
            if predicate.is_empty() {
                return Err(format!(
                    "break where {module}.{table}: expected a predicate after the table \
                     (e.g. balance > 100)"
                ));
            }
            Ok(BreakSpec::Where {
                module,
                table,
                predicate: predicate.to_owned(),
            })
        }
        _ if tail.is_empty() && rest.contains('.') => {
            let (module, reducer) = dotted("break", rest)?;
            Ok(BreakSpec::Reducer { module, reducer })
        }
        _ => Err(format!("{USAGE}; got `{rest}`")),
    }
}

fn show(rest: &str) -> Result<Command, String> {
    let (what, tail) = split_word(rest);
    match what {
        "commit" => {
            no_args("show commit", tail)?;
            Ok(Command::ShowCommit)
        }
        "trace" => {
            no_args("show trace", tail)?;
            Ok(Command::ShowTrace)
        }
        "table" => {
            let (name, mut opts) = split_word(tail);
            let (module, table) = dotted("show table", name)?;
            let mut limit = DEFAULT_SHOW_LIMIT;
            let mut predicate = None;
            while !opts.is_empty() {
                let (flag, after) = split_word(opts);
                match flag {
                    "--limit" => {
                        let (n, after) = split_word(after);
                        limit = number("show table --limit", "N", n)?;
                        opts = after;
                    }
                    "--where" => {
                        if after.is_empty() {
                            return Err("show table --where: expected a predicate".to_owned());
                        }
                        predicate = Some(after.to_owned());
                        opts = "";
                    }
                    other => {
                        return Err(format!(
                            "show table: unknown option `{other}` (--limit N, --where PREDICATE)"
                        ))
                    }
                }
            }
            Ok(Command::ShowTable {
                module,
                table,
                limit,
                predicate,
            })
        }
        "" => Err("show: expected commit, table MODULE.TABLE or trace".to_owned()),
        other => Err(format!(
            "show: unknown `{other}` (show commit, show table MODULE.TABLE, show trace)"
        )),
    }
}
