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
    let max_level = match args.level {
        None => LEVELS.len() - 1,
        Some(l) => LEVELS.iter().position(|x| *x == l).ok_or_else(|| {
            CliError::Usage(format!(
                "--level {l:?}: not a level (one of {})",
                LEVELS.join(", ")
            ))
        })?,
    };
    if !args.dir.join("log").is_dir() {
        return Err(CliError::Usage(format!(
            "{}: not an Interstice data directory (no log/)",
            args.dir.display()
        )));
    }
    let dir = args.dir.join(MODULE_LOG_DIR);
    let filter = Filter {
        module: args.module,
        max_level,
        format: args.format,
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
        r.print_new(&filter)?;
    }
    let mut r = Reader::open(&current)?;
    r.print_new(&filter)?;
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
            r.print_new(&filter)?;
            r = Reader::open(&current)?;
        }
        r.print_new(&filter)?;
    }
}

/// Which records are printed, and how.
struct Filter<'a> {
    module: Option<&'a str>,
    max_level: usize,
    format: LogsFormat,
}

impl Filter<'_> {
    fn print(&self, record: &Json) {
        let text = |k: &str| record.get(k).and_then(Json::as_str).unwrap_or("");
        let module = text("module");
        if self.module.is_some_and(|m| m != module) {
            return;
        }
        let level = LEVELS
            .iter()
            .position(|l| *l == text("level"))
            .unwrap_or(LEVELS.len() - 1);
        if level > self.max_level {
            return;
        }
        match self.format {
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
    fn print_new(&mut self, filter: &Filter<'_>) -> Result<(), CliError> {
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
                Ok(record) if record.is_object() => filter.print(&record),
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
