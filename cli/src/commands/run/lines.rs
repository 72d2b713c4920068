//! Request lines for `interstice run`: raw bytes up to each `\n`, with a
//! length limit, so that neither a non-UTF-8 byte nor a line without end
//! can stop or exhaust the server (`docs/PROTOCOL.md` §2).

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest request line, in bytes, not counting its `\n` (16 MiB).
pub(super) const MAX_LINE: usize = 16 << 20;

/// One line of input.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// A line, without its `\n`. The last line of the input may lack one.
    Complete {
        /// Its number, from 1; every line counts, blank or too long.
        number: u64,
        /// Its bytes, as read (not yet checked to be UTF-8).
        bytes: Vec<u8>,
    },
    /// A line longer than the limit. Reported as soon as the limit is
    /// passed; its bytes are dropped and the rest of it, up to the next
    /// `\n`, is skipped.
    TooLong {
        /// Its number, from 1.
        number: u64,
    },
}

/// Splits a byte stream into [`Line`]s.
pub(super) struct LineReader<R> {
    inner: R,
    max: usize,
    /// The current line so far (at most `max` bytes).
    buf: Vec<u8>,
    /// Lines started so far.
    number: u64,
    /// Inside a too-long line, dropping bytes up to its `\n`.
    skipping: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Reads lines of at most `max` bytes from `inner`.
    pub(super) fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
            number: 0,
            skipping: false,
        }
    }

    /// The next line, or `None` at the end of the input.
    ///
    /// Cancel-safe: the partial line lives in `self`, and bytes are taken
    /// from the buffered reader only synchronously after `fill_buf`, so a
    /// `select!` that drops this future loses nothing.
    pub(super) async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                // End of input: an unterminated last line still counts (a
                // too-long one was reported already).
                self.skipping = false;
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.number += 1;
                return Ok(Some(self.complete()));
            }
            let newline = chunk.iter().position(|&b| b == b'\n');
            let take = newline.unwrap_or(chunk.len());
            let over = !self.skipping && self.buf.len() + take > self.max;
            if over {
                self.skipping = true;
                self.buf = Vec::new();
                self.number += 1;
            }
            if !self.skipping {
                self.buf.extend_from_slice(&chunk[..take]);
            }
            self.inner.consume(take + usize::from(newline.is_some()));
            let too_long = Line::TooLong {
                number: self.number,
            };
            if newline.is_some() {
                if self.skipping {
                    self.skipping = false;
                    if over {
                        return Ok(Some(too_long));
                    }
                    continue;
                }
                self.number += 1;
                return Ok(Some(self.complete()));
            }
            if over {
                return Ok(Some(too_long));
            }
        }
    }

    fn complete(&mut self) -> Line {
        Line::Complete {
            number: self.number,
            bytes: std::mem::take(&mut self.buf),
        }
    }
}

/// The line as text, or why it is not UTF-8, naming the byte offset (from
/// 0 at the start of the line) of the first bad byte.
pub(super) fn decode(number: u64, bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        match e.utf8_error().error_len() {
            Some(_) => format!(
                "request line {number} is not valid UTF-8: byte 0x{:02x} at byte offset {at} \
                 does not belong there",
                bytes[at]
            ),
            None => format!(
                "request line {number} is not valid UTF-8: it ends inside a multi-byte \
                 sequence starting at byte offset {at}"
            ),
        }
    })
}

#[cfg(test)]
mod tests;
