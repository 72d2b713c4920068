//! The `--where` predicate language, compiled to the host-side filter
//! encoding (`interstice_abi::query`, `docs/ABI.md` §4.1) so that the
//! filter is then decoded, checked and evaluated by the very code that
//! answers a guest's `query_page` (`interstice_tables::Cursor`): one
//! semantics for both.
//!
//! ```text
//! pred    = or
//! or      = and { "or" and }
//! and     = unary { "and" unary }
//! unary   = "not" unary | "(" pred ")" | compare
//! compare = column op value | column "is" [ "not" ] "none"
//! op      = "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//! value   = a JSON value, as `interstice call` takes arguments
//!           (strings in double quotes: name = "ann")
//! ```
//!
//! Keywords are case-insensitive; columns are the table's column names.
//! A value is checked against its column's type (for an `Option` column,
//! against the inner type: `None` is tested with `is none`). Every error
//! names the position (1-based character) and what is wrong there.

use interstice_abi::cbor::Writer;
use interstice_abi::query as q;
use interstice_abi::schema::TableSchema;
use interstice_abi::{Type, Value};
use serde_json::Value as Json;

/// The longest predicate accepted, in bytes.
pub const MAX_PREDICATE_BYTES: usize = 16 * 1024;

/// A predicate that does not parse or does not fit the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredicateError {
    /// 1-based character position of the problem.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for PredicateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

/// A parsed predicate, columns resolved and values encoded.
#[derive(Debug, Clone, PartialEq)]
enum Pred {
    Cmp {
        op: u64,
        column: u32,
        value: Vec<u8>,
    },
    IsNone(u32),
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
}

impl Pred {
    fn encode(&self, w: &mut Writer) {
        match self {
            Pred::Cmp { op, column, value } => {
                w.array(3);
                w.u64(*op);
                w.u64(u64::from(*column));
                w.raw(value);
            }
            Pred::IsNone(c) => {
                w.array(2);
                w.u64(q::OP_IS_NONE);
                w.u64(u64::from(*c));
            }
            Pred::And(ps) | Pred::Or(ps) => {
                w.array(2);
                w.u64(if matches!(self, Pred::And(_)) {
                    q::OP_AND
                } else {
                    q::OP_OR
                });
                w.array(ps.len());
                for p in ps {
                    p.encode(w);
                }
            }
            Pred::Not(p) => {
                w.array(2);
                w.u64(q::OP_NOT);
                p.encode(w);
            }
        }
    }
}

/// Compiles `text` against `table` into the filter encoding
/// (`[op, column, value]`, `[6, [f…]]`, …).
pub fn compile(text: &str, table: &TableSchema) -> Result<Vec<u8>, PredicateError> {
    if text.len() > MAX_PREDICATE_BYTES {
        return Err(PredicateError {
            position: 1,
            message: format!("the predicate is longer than {MAX_PREDICATE_BYTES} bytes"),
        });
    }
    let mut p = Parser {
        text,
        pos: 0,
        table,
        depth: 0,
    };
    let pred = p.or()?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.error_here(format!(
            "unexpected `{}` after a complete predicate (expected `and`, `or` or the end)",
            p.snippet()
        )));
    }
    let mut w = Writer::new();
    pred.encode(&mut w);
    Ok(w.into_vec())
}

/// A whole-table query with an optional filter, in the host's encoding:
/// `[null, null, null, filter]`.
pub fn table_query(filter: Option<&[u8]>) -> Vec<u8> {
    let mut w = Writer::new();
    w.array(4);
    w.null();
    w.null();
    w.null();
    match filter {
        Some(f) => w.raw(f),
        None => w.null(),
    }
    w.into_vec()
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset.
    pos: usize,
    table: &'a TableSchema,
    depth: usize,
}

impl Parser<'_> {
    fn position_of(&self, byte: usize) -> usize {
        self.text[..byte.min(self.text.len())].chars().count() + 1
    }

    fn error_at(&self, byte: usize, message: String) -> PredicateError {
        PredicateError {
            position: self.position_of(byte),
            message,
        }
    }

    fn error_here(&self, message: String) -> PredicateError {
        self.error_at(self.pos, message)
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    /// The next few characters, for messages.
    fn snippet(&self) -> String {
        let s: String = self.rest().chars().take(16).collect();
        if s.is_empty() {
            "end of input".into()
        } else {
            s
        }
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The identifier at the cursor, if any (not consumed).
    fn peek_word(&mut self) -> Option<&str> {
        self.skip_ws();
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(rest.len(), |(i, _)| i);
        let word = &rest[..end];
        (!word.is_empty() && !word.starts_with(|c: char| c.is_ascii_digit())).then_some(word)
    }

    /// Consumes keyword `kw` (case-insensitive) if it is next.
    fn keyword(&mut self, kw: &str) -> bool {
        match self.peek_word() {
            Some(w) if w.eq_ignore_ascii_case(kw) => {
                self.pos += kw.len();
                true
            }
            _ => false,
        }
    }

    fn or(&mut self) -> Result<Pred, PredicateError> {
        self.joined("or", Self::and, Pred::Or)
    }

    fn and(&mut self) -> Result<Pred, PredicateError> {
        self.joined("and", Self::unary, Pred::And)
    }

    /// `item { kw item }`, as one item or `join` of them all.
    fn joined(
        &mut self,
        kw: &str,
        item: fn(&mut Self) -> Result<Pred, PredicateError>,
        join: fn(Vec<Pred>) -> Pred,
    ) -> Result<Pred, PredicateError> {
        let mut items = vec![item(self)?];
        while self.keyword(kw) {
            items.push(item(self)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            join(items)
        })
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, PredicateError>,
    ) -> Result<T, PredicateError> {
        self.depth += 1;
        if self.depth > q::MAX_FILTER_DEPTH {
            return Err(
                self.error_here(format!("nested deeper than {} levels", q::MAX_FILTER_DEPTH))
            );
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn unary(&mut self) -> Result<Pred, PredicateError> {
        if self.keyword("not") {
            return self.nested(|p| Ok(Pred::Not(Box::new(p.unary()?))));
        }
        self.skip_ws();
        if self.rest().starts_with('(') {
            let open = self.pos;
            self.pos += 1;
            let inner = self.nested(Self::or)?;
            self.skip_ws();
            if !self.rest().starts_with(')') {
                return Err(self.error_here(format!(
                    "expected `)` to close the `(` at position {}, found {}",
                    self.position_of(open),
                    self.snippet()
                )));
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Pred, PredicateError> {
        let at = {
            self.skip_ws();
            self.pos
        };
        let Some(name) = self.peek_word().map(str::to_owned) else {
            return Err(self.error_here(format!(
                "expected a column name, `not` or `(`, found {}",
                self.snippet()
            )));
        };
        let t = self.table;
        let Some(column) = t.columns.iter().position(|c| c.name == name) else {
            let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
            return Err(self.error_at(
                at,
                format!(
                    "unknown column `{name}` (table `{}` has: {})",
                    t.name,
                    names.join(", ")
                ),
            ));
        };
        self.pos += name.len();
        let ty = &t.columns[column].ty;
        let column_id = column as u32;
        if self.keyword("is") {
            let negated = self.keyword("not");
            if !self.keyword("none") {
                return Err(self.error_here(format!(
                    "expected `none` after `is`, found {}",
                    self.snippet()
                )));
            }
            if !matches!(ty, Type::Option(_)) {
                return Err(self.error_at(
                    at,
                    format!(
                        "`is none` on column `{name}`, which is {}, not an Option",
                        ty.display_name()
                    ),
                ));
            }
            let p = Pred::IsNone(column_id);
            return Ok(if negated { Pred::Not(Box::new(p)) } else { p });
        }
        self.skip_ws();
        let ops: [(&str, u64); 7] = [
            ("==", q::OP_EQ),
            ("!=", q::OP_NE),
            ("<=", q::OP_LE),
            (">=", q::OP_GE),
            ("=", q::OP_EQ),
            ("<", q::OP_LT),
            (">", q::OP_GT),
        ];
        let Some(&(sym, op)) = ops.iter().find(|(s, _)| self.rest().starts_with(s)) else {
            return Err(self.error_here(format!(
                "expected an operator (=, !=, <, <=, >, >=) or `is none` after column `{name}`, \
                 found {}",
                self.snippet()
            )));
        };
        self.pos += sym.len();
        self.skip_ws();
        let vat = self.pos;
        let json = match read_json(self.rest()) {
            Ok(Some((j, len))) => {
                self.pos += len;
                j
            }
            Ok(None) => {
                return Err(self.error_here(format!(
                    "expected a value for column `{name}` after `{sym}`"
                )))
            }
            Err(e) => {
                return Err(self.error_here(format!(
                    "expected a JSON value for column `{name}` (strings in double quotes), \
                     found {}: {e}",
                    self.snippet()
                )))
            }
        };
        let inner = match ty {
            Type::Option(t) => &**t,
            t => t,
        };
        let value = Value::from_json(inner, &json).map_err(|e| {
            let hint = if json.is_null() && matches!(ty, Type::Option(_)) {
                format!(" (test for None with `{name} is none`)")
            } else {
                String::new()
            };
            self.error_at(
                vat,
                format!(
                    "{json} is not a {} for column `{name}`: {e}{hint}",
                    inner.display_name()
                ),
            )
        })?;
        let mut w = Writer::new();
        value.encode(&mut w);
        Ok(Pred::Cmp {
            op,
            column: column_id,
            value: w.into_vec(),
        })
    }
}

/// The JSON value at the start of `text` and its length in bytes. A
/// string, array or object ends where its closing delimiter does; a
/// number or literal at the next space or `)`.
fn read_json(text: &str) -> Result<Option<(Json, usize)>, serde_json::Error> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.starts_with(['"', '[', '{']) {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Json>();
        return match stream.next() {
            Some(Ok(j)) => Ok(Some((j, stream.byte_offset()))),
            Some(Err(e)) => Err(e),
            None => Ok(None),
        };
    }
    let end = text
        .find(|c: char| c.is_whitespace() || c == ')')
        .unwrap_or(text.len());
    if end == 0 {
        return Ok(None);
    }
    serde_json::from_str(&text[..end]).map(|j| Some((j, end)))
}

#[cfg(test)]
mod tests;
