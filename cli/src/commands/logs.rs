//! `interstice logs -d DIR [--module M] [--level L] [--follow] [--format
//! text|json]`: the module logs a runtime keeps in `DIR/logs/`
//! (`docs/TOOLS.md`, "logs"): guest log lines with the timestamp, module
//! and reducer of their commit, failed deliveries and trigger chains the
//! depth limit cut.
//!
//! Reads the rotated files oldest first (`module.log.K` … `module.log.1`,
//! then `module.log`), one line at a time (memory does not grow with the
//! logs), takes no lock and writes nothing. `--follow` then waits for new
//! lines, polling, and starts over at the new `module.log` when the
//! runtime rotates it. A line that is not a module-log record (a damaged
//! file) is reported on stderr with its file and line number and skipped.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use interstice_actors::{MODULE_LOG_DIR, MODULE_LOG_FILE};
use serde_json::Value as Json;

use crate::error::CliError;
use crate::output;

/// Rotated files looked for (more than any policy keeps by default).
const MAX_ROTATED: usize = 64;

/// How often `--follow` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Longest line read (a record is at most a guest line, 16 KiB by
/// default, plus its fields; a longer line is damage).
const MAX_LINE_BYTES: u64 = 1 << 20;

/// The output formats of `logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogsFormat {
    /// `#TS LEVEL module.reducer: text`.
    Text,
    /// The records as stored: one JSON object per line.
    Json,
}

/// The levels, most severe first.
const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// What `logs` was asked for.
#[derive(Debug, Clone)]
pub struct LogsArgs<'a> {
    /// The data directory.
    pub dir: &'a Path,
    /// Only this module's records.
    pub module: Option<&'a str>,
    /// Only records at this level or more severe.
    pub level: Option<&'a str>,
    /// Wait for new records.
    pub follow: bool,
    /// Output format.
    pub format: LogsFormat,
}

/// Runs the command.
pub fn run(args: &LogsArgs<'_>) -> Result<(), CliError> {
    let filter = Filter::new(args.module.map(str::to_owned), args.level, "--level")?;
    if !args.dir.join("log").is_dir() {
        return Err(CliError::Usage(format!(
            "{}: not an Interstice data directory (no log/)",
            args.dir.display()
        )));
    }
    let dir = args.dir.join(MODULE_LOG_DIR);
    let show = |record: &Json| {
        if filter.matches(record) {
            print(record, args.format);
        }
    };
    let mut files: Vec<PathBuf> = (1..=MAX_ROTATED)
        .rev()
        .map(|n| dir.join(format!("{MODULE_LOG_FILE}.{n}")))
        .filter(|p| p.is_file())
        .collect();
    let current = dir.join(MODULE_LOG_FILE);
    if files.is_empty() && !current.exists() && !args.follow {
        output::progress(format!("note: {} holds no module logs yet", dir.display()));
        return Ok(());
    }
    files.push(current.clone());
    for path in &files[..files.len() - 1] {
        let mut r = Reader::open(path)?;
        r.read_new(&show)?;
    }
    let mut r = Reader::open(&current)?;
    r.read_new(&show)?;
    if !args.follow {
        return Ok(());
    }
    loop {
        if output::stdout_closed() {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
        if r.rotated() {
            // The rest of the old file (now `module.log.1`), then the new.
            r.read_new(&show)?;
            r = Reader::open(&current)?;
        }
        r.read_new(&show)?;
    }
}

/// Which records are shown: one module's, at a level or more severe.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    module: Option<String>,
    max_level: usize,
}

impl Filter {
    /// Only `module`'s records (all when `None`), at `level` or more severe
    /// (all when `None`; an unknown level is a usage error naming
    /// `option`, as the caller spells it).
    pub(crate) fn new(
        module: Option<String>,
        level: Option<&str>,
        option: &str,
    ) -> Result<Filter, CliError> {
        let max_level = match level {
            None => LEVELS.len() - 1,
            Some(l) => LEVELS.iter().position(|x| *x == l).ok_or_else(|| {
                CliError::Usage(format!(
                    "{option} {l:?}: not a level (one of {})",
                    LEVELS.join(", ")
                ))
            })?,
        };
        Ok(Filter { module, max_level })
    }

    /// Whether `record` is shown.
    pub(crate) fn matches(&self, record: &Json) -> bool {
        let text = |k: &str| record.get(k).and_then(Json::as_str).unwrap_or("");
        if self.module.as_deref().is_some_and(|m| m != text("module")) {
            return false;
        }
        let level = LEVELS
            .iter()
            .position(|l| *l == text("level"))
            .unwrap_or(LEVELS.len() - 1);
        level <= self.max_level
    }
}

/// Prints one record.
fn print(record: &Json, format: LogsFormat) {
    let text = |k: &str| record.get(k).and_then(Json::as_str).unwrap_or("");
    match format {
        LogsFormat::Json => output::result(record),
        LogsFormat::Text => {
            let ts = record
                .get("ts")
                .and_then(Json::as_u64)
                .map_or("-".to_owned(), |t| format!("#{t}"));
            let what = match text("kind") {
                "log" => String::new(),
                other => format!("[{other}] "),
            };
            let module = text("module");
            let at = if module.is_empty() {
                String::new()
            } else {
                format!(" {module}.{}", text("reducer"))
            };
            output::result(format!(
                "{ts} {:<5}{at}: {what}{}",
                text("level"),
                text("text")
            ));
        }
    }
}

/// The newest records [`recent`] found.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    /// Newest first.
    pub(crate) records: Vec<Json>,
    /// Whether every file was read to its start (false: the limit or the
    /// byte budget stopped the reading first).
    pub(crate) complete: bool,
}

/// Bytes read at a time, backwards.
const CHUNK: u64 = 64 << 10;

/// The newest `limit` records of the module logs in `dir` that `keep`
/// accepts, newest first: `module.log` read backwards from its end, then
/// `module.log.1`, …, at most `budget` bytes in all. A line still being
/// written (no newline yet), a line that is not a record and a line longer
/// than the longest record are skipped. Takes no lock and writes nothing;
/// a rotation while reading may show a record twice or miss one.
pub(crate) fn recent(
    dir: &Path,
    limit: usize,
    budget: u64,
    keep: impl Fn(&Json) -> bool,
) -> Result<Recent, CliError> {
    let mut out = Recent::default();
    let mut left = budget;
    let names = std::iter::once(MODULE_LOG_FILE.to_owned())
        .chain((1..=MAX_ROTATED).map(|n| format!("{MODULE_LOG_FILE}.{n}")));
    for name in names {
        let path = dir.join(name);
        let file = match interstice_persist::safe_fs::open(
            &path,
            interstice_persist::safe_fs::options().read(true),
        ) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.complete = true;
                return Ok(out);
            }
            Err(e) => {
                return Err(CliError::File {
                    path: path.display().to_string(),
                    source: e,
                })
            }
        };
        if !backwards(file, &mut left, &mut |line| {
            if let Ok(record) = serde_json::from_slice::<Json>(line) {
                if record.is_object() && keep(&record) {
                    out.records.push(record);
                }
            }
            out.records.len() < limit
        })? {
            return Ok(out);
        }
    }
    Ok(out)
}

/// Passes the complete lines of `file` to `line`, last first, until it
/// returns false or `left` bytes have been read; true when it read the
/// whole file (and `line` wants more).
fn backwards(
    mut file: File,
    left: &mut u64,
    line: &mut impl FnMut(&[u8]) -> bool,
) -> Result<bool, CliError> {
    let mut pos = file.metadata()?.len();
    // The bytes before the earliest newline seen: the end of a line whose
    // start is in an earlier chunk.
    let mut carry: Vec<u8> = Vec::new();
    // No newline seen yet: what follows the file's last newline is a line
    // still being written, never passed on.
    let mut unfinished = true;
    while pos > 0 {
        if *left == 0 {
            return Ok(false);
        }
        let n = CHUNK.min(pos).min(*left);
        pos -= n;
        *left -= n;
        let mut buf = vec![0u8; n as usize];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut buf)?;
        buf.extend_from_slice(&carry);
        let mut end = buf.len();
        while let Some(nl) = buf[..end].iter().rposition(|b| *b == b'\n') {
            let piece = &buf[nl + 1..end];
            if unfinished {
                unfinished = false;
            } else if !piece.is_empty() && !line(piece) {
                return Ok(false);
            }
            end = nl;
        }
        buf.truncate(end);
        carry = buf;
        if carry.len() as u64 > MAX_LINE_BYTES {
            // A line longer than any record: damage; the rest of this file
            // is not read.
            return Ok(true);
        }
    }
    Ok(unfinished || carry.is_empty() || line(&carry))
}

/// One file being read, remembering how far.
struct Reader {
    path: PathBuf,
    file: Option<BufReader<File>>,
    /// Lines read so far (for messages about damage).
    line: u64,
    /// The file's identity when opened, to notice a rotation.
    ino: Option<u64>,
}

impl Reader {
    /// Opens `path` (absent is fine: it may appear later).
    fn open(path: &Path) -> Result<Reader, CliError> {
        let file = match interstice_persist::safe_fs::open(
            path,
            interstice_persist::safe_fs::options().read(true),
        ) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(CliError::File {
                    path: path.display().to_string(),
                    source: e,
                })
            }
        };
        let ino = file.as_ref().and_then(|f| f.metadata().ok()).map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.ino()
        });
        Ok(Reader {
            path: path.to_owned(),
            file: file.map(BufReader::new),
            line: 0,
            ino,
        })
    }

    /// Whether the file at the path is no longer the one being read.
    fn rotated(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::symlink_metadata(&self.path).ok().map(|m| m.ino());
        now.is_some() && now != self.ino
    }

    /// Prints every complete line added since the last call.
    fn read_new(&mut self, show: &impl Fn(&Json)) -> Result<(), CliError> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let start = file.stream_position()?;
            let n = file
                .by_ref()
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            if buf.last() != Some(&b'\n') {
                if n as u64 >= MAX_LINE_BYTES {
                    self.line += 1;
                    output::progress(format!(
                        "{}: line {}: longer than {MAX_LINE_BYTES} bytes; skipped",
                        self.path.display(),
                        self.line
                    ));
                    skip_line(file)?;
                    continue;
                }
                // A line still being written: read it whole next time.
                file.seek(SeekFrom::Start(start))?;
                return Ok(());
            }
            self.line += 1;
            match serde_json::from_slice::<Json>(&buf) {
                Ok(record) if record.is_object() => show(&record),
                _ => output::progress(format!(
                    "{}: line {}: not a module-log record; skipped",
                    self.path.display(),
                    self.line
                )),
            }
            if output::stdout_closed() {
                return Ok(());
            }
        }
    }
}

/// Skips to just after the next newline.
fn skip_line(file: &mut BufReader<File>) -> std::io::Result<()> {
    let mut sink = Vec::new();
    loop {
        sink.clear();
        let n = file
            .by_ref()
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut sink)?;
        if n == 0 || sink.last() == Some(&b'\n') {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests;
