//! Where commands come from: at a terminal, a line editor (rustyline:
//! editing, history in memory, the prompt drawn on the terminal itself, so
//! stdout carries only replies); otherwise stdin read a bounded line at a
//! time, with no prompt.

use std::io::BufRead;

use rustyline::config::{Behavior, Config};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::error::CliError;

/// The longest command line, in bytes.
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;
/// Lines the editor's history keeps.
const HISTORY: usize = 1000;

/// One line read: `Err` for a line that is too long or not UTF-8 (the
/// rest of it is skipped).
pub(crate) type Line = Result<String, String>;

/// The source of command lines.
pub(crate) enum Input {
    /// A terminal, through the line editor.
    Terminal(Box<DefaultEditor>),
    /// A script on stdin.
    Script(std::io::StdinLock<'static>),
}

impl Input {
    /// The line editor when `interactive` (stdin is a terminal) and it
    /// starts, else plain stdin.
    pub(crate) fn new(interactive: bool) -> Self {
        if interactive {
            let config = Config::builder()
                .behavior(Behavior::PreferTerm)
                .auto_add_history(true)
                .max_history_size(HISTORY)
                .map(|b| b.build());
            if let Ok(Ok(ed)) = config.map(DefaultEditor::with_config) {
                return Input::Terminal(Box::new(ed));
            }
        }
        Input::Script(std::io::stdin().lock())
    }

    /// Whether a prompt is shown.
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self, Input::Terminal(_))
    }

    /// The next line (`None` at the end of input); `prompt` is shown at a
    /// terminal. Ctrl-C at the terminal abandons the line being typed.
    pub(crate) fn next(&mut self, prompt: &str) -> Result<Option<Line>, CliError> {
        match self {
            Input::Terminal(ed) => loop {
                match ed.readline(prompt) {
                    Ok(l) if l.len() > MAX_LINE_BYTES => {
                        return Ok(Some(Err(format!(
                            "the line is longer than {MAX_LINE_BYTES} bytes"
                        ))))
                    }
                    Ok(l) => return Ok(Some(Ok(l))),
                    Err(ReadlineError::Interrupted) => continue,
                    Err(ReadlineError::Eof) => return Ok(None),
                    Err(e) => {
                        return Err(CliError::CheckFailed(format!("reading the terminal: {e}")))
                    }
                }
            },
            Input::Script(stdin) => read_line(stdin),
        }
    }
}

/// Reads one line of at most [`MAX_LINE_BYTES`]: `None` at the end of
/// input, `Some(Err(..))` for a line too long or not UTF-8 (the rest of it
/// is skipped, a bounded chunk at a time).
pub(crate) fn read_line<R: BufRead>(input: &mut R) -> Result<Option<Line>, CliError> {
    let mut buf = Vec::new();
    let n =
        std::io::Read::take(&mut *input, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
        loop {
            let mut rest = Vec::new();
            let m = std::io::Read::take(&mut *input, MAX_LINE_BYTES as u64)
                .read_until(b'\n', &mut rest)?;
            if m == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
        return Ok(Some(Err(format!(
            "the line is longer than {MAX_LINE_BYTES} bytes"
        ))));
    }
    match String::from_utf8(buf) {
        Ok(s) => Ok(Some(Ok(s))),
        Err(_) => Ok(Some(Err("the line is not UTF-8".into()))),
    }
}
