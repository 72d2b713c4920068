//! A strict, canonical, zero-copy subset of CBOR (RFC 8949).
//!
//! Interstice moves every value across the guest boundary and into the log as
//! CBOR. Because hashes are taken over encoded bytes and `replay-check`
//! compares encodings byte for byte, the encoding must be canonical: one value,
//! one byte string. [`Writer`] only produces the canonical form and [`Reader`]
//! refuses anything else (non-shortest heads, indefinite lengths, maps, tags
//! other than the bignum tags). See `docs/ABI.md` §2 for the exact rules.
//!
//! The reader borrows from its input: text and byte strings come back as
//! slices, so decoding a log record or a row does not copy payloads.

use crate::AbiError;

/// CBOR major types.
pub(crate) const MAJOR_UINT: u8 = 0;
pub(crate) const MAJOR_NINT: u8 = 1;
pub(crate) const MAJOR_BYTES: u8 = 2;
pub(crate) const MAJOR_TEXT: u8 = 3;
pub(crate) const MAJOR_ARRAY: u8 = 4;
pub(crate) const MAJOR_TAG: u8 = 6;
pub(crate) const MAJOR_SIMPLE: u8 = 7;

/// Tag for a positive bignum (RFC 8949 §3.4.3).
pub const TAG_POS_BIGNUM: u64 = 2;
/// Tag for a negative bignum (RFC 8949 §3.4.3).
pub const TAG_NEG_BIGNUM: u64 = 3;

const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const NULL: u8 = 0xf6;
const FLOAT32: u8 = 0xfa;
const FLOAT64: u8 = 0xfb;

/// Canonical quiet NaN bit patterns. Every NaN is rewritten to these.
pub const CANONICAL_NAN_F32: u32 = 0x7fc0_0000;
/// See [`CANONICAL_NAN_F32`].
pub const CANONICAL_NAN_F64: u64 = 0x7ff8_0000_0000_0000;

/// Appends canonical CBOR to a byte vector.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

/// Writes the canonical (shortest) head of a data item of major type
/// `major` with argument `arg` into `out`; returns its length (1 to 9).
pub fn encode_head(major: u8, arg: u64, out: &mut [u8; 9]) -> usize {
    let m = major << 5;
    if arg < 24 {
        out[0] = m | arg as u8;
        1
    } else if arg <= u8::MAX as u64 {
        out[..2].copy_from_slice(&[m | 24, arg as u8]);
        2
    } else if arg <= u16::MAX as u64 {
        out[0] = m | 25;
        out[1..3].copy_from_slice(&(arg as u16).to_be_bytes());
        3
    } else if arg <= u32::MAX as u64 {
        out[0] = m | 26;
        out[1..5].copy_from_slice(&(arg as u32).to_be_bytes());
        5
    } else {
        out[0] = m | 27;
        out[1..9].copy_from_slice(&arg.to_be_bytes());
        9
    }
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer that appends to `buf`.
    pub fn from_vec(buf: Vec<u8>) -> Self {
        Self { buf }
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Consumes the writer, returning its bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// Number of bytes written.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn head(&mut self, major: u8, arg: u64) {
        let mut head = [0u8; 9];
        let n = encode_head(major, arg, &mut head);
        self.buf.extend_from_slice(&head[..n]);
    }

    /// An unsigned integer.
    pub fn u64(&mut self, v: u64) {
        self.head(MAJOR_UINT, v);
    }

    /// A signed integer.
    pub fn i64(&mut self, v: i64) {
        if v >= 0 {
            self.head(MAJOR_UINT, v as u64);
        } else {
            self.head(MAJOR_NINT, !(v as u64));
        }
    }

    /// A 128-bit unsigned integer: a plain integer when it fits 64 bits,
    /// otherwise a positive bignum with no leading zero bytes.
    pub fn u128(&mut self, v: u128) {
        if let Ok(small) = u64::try_from(v) {
            self.u64(small);
        } else {
            self.bignum(TAG_POS_BIGNUM, v);
        }
    }

    /// A 128-bit signed integer: a plain integer (major 0, or major 1 with
    /// argument `-1 - v`) when that argument fits 64 bits, that is for
    /// `-2^64 <= v <= 2^64 - 1`; otherwise a positive bignum of `v` or a
    /// negative bignum of `-1 - v`, with no leading zero bytes.
    ///
    /// Note the plain range is wider than `i64`: `2^63` is `1b 80 00 00 00 00
    /// 00 00 00`, and `-2^64` is `3b ff ff ff ff ff ff ff ff`.
    pub fn i128(&mut self, v: i128) {
        if v >= 0 {
            self.u128(v as u128);
        } else {
            // `!(v as u128)` is `-1 - v`, in 0..=2^127 - 1.
            let n = !(v as u128);
            match u64::try_from(n) {
                Ok(n) => self.head(MAJOR_NINT, n),
                Err(_) => self.bignum(TAG_NEG_BIGNUM, n),
            }
        }
    }

    fn bignum(&mut self, tag: u64, magnitude: u128) {
        self.head(MAJOR_TAG, tag);
        let bytes = magnitude.to_be_bytes();
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        self.bytes(&bytes[first..]);
    }

    /// A boolean.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(if v { TRUE } else { FALSE });
    }

    /// `null`: the unit value and `None`.
    pub fn null(&mut self) {
        self.buf.push(NULL);
    }

    /// A single-precision float, always 5 bytes; NaN is canonicalised.
    pub fn f32(&mut self, v: f32) {
        let bits = if v.is_nan() {
            CANONICAL_NAN_F32
        } else {
            v.to_bits()
        };
        self.buf.push(FLOAT32);
        self.buf.extend_from_slice(&bits.to_be_bytes());
    }

    /// A double-precision float, always 9 bytes; NaN is canonicalised.
    pub fn f64(&mut self, v: f64) {
        let bits = if v.is_nan() {
            CANONICAL_NAN_F64
        } else {
            v.to_bits()
        };
        self.buf.push(FLOAT64);
        self.buf.extend_from_slice(&bits.to_be_bytes());
    }

    /// A text string.
    pub fn str(&mut self, v: &str) {
        self.head(MAJOR_TEXT, v.len() as u64);
        self.buf.extend_from_slice(v.as_bytes());
    }

    /// A byte string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.head(MAJOR_BYTES, v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// The head of a definite-length array of `len` items; the items follow.
    pub fn array(&mut self, len: usize) {
        self.head(MAJOR_ARRAY, len as u64);
    }

    /// Appends bytes that already hold one or more complete CBOR items.
    pub fn raw(&mut self, encoded: &[u8]) {
        self.buf.extend_from_slice(encoded);
    }
}

/// The kind of the next item, as seen by [`Reader::peek_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Major type 0.
    Unsigned,
    /// Major type 1.
    Negative,
    /// Major type 2.
    Bytes,
    /// Major type 3.
    Text,
    /// Major type 4.
    Array,
    /// Major type 6 (only bignum tags are accepted).
    Tag,
    /// `true` / `false`.
    Bool,
    /// `null`.
    Null,
    /// float32 / float64.
    Float,
    /// Anything this subset does not accept.
    Other,
}

/// Reads canonical CBOR from a borrowed slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

fn err(pos: usize, what: impl Into<String>) -> AbiError {
    AbiError::Cbor {
        offset: pos,
        reason: what.into(),
    }
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Current byte offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been consumed.
    pub fn is_at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    /// Fails unless every byte has been consumed.
    pub fn finish(&self) -> Result<(), AbiError> {
        if self.is_at_end() {
            Ok(())
        } else {
            Err(err(
                self.pos,
                format!("{} trailing bytes", self.data.len() - self.pos),
            ))
        }
    }

    /// The bytes from `start` to the current position.
    pub fn slice_from(&self, start: usize) -> &'a [u8] {
        &self.data[start..self.pos]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], AbiError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| err(self.pos, format!("needs {n} more bytes, input ends")))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, AbiError> {
        Ok(self.take(1)?[0])
    }

    /// The kind of the next item, without consuming it.
    pub fn peek_kind(&self) -> Result<Kind, AbiError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| err(self.pos, "unexpected end of input"))?;
        Ok(match (b >> 5, b) {
            (_, FALSE | TRUE) => Kind::Bool,
            (_, NULL) => Kind::Null,
            (_, FLOAT32 | FLOAT64) => Kind::Float,
            (0, _) => Kind::Unsigned,
            (1, _) => Kind::Negative,
            (2, _) => Kind::Bytes,
            (3, _) => Kind::Text,
            (4, _) => Kind::Array,
            (6, _) => Kind::Tag,
            _ => Kind::Other,
        })
    }

    /// Reads a head and checks it is canonical; returns (major, argument).
    fn head(&mut self) -> Result<(u8, u64), AbiError> {
        let start = self.pos;
        let b = self.byte()?;
        let major = b >> 5;
        let info = b & 0x1f;
        let arg = match info {
            0..=23 => return Ok((major, info as u64)),
            24 => {
                let v = self.byte()? as u64;
                if v < 24 {
                    return Err(err(start, "non-canonical head (1-byte argument below 24)"));
                }
                v
            }
            25 => {
                let v = u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")) as u64;
                if v <= u8::MAX as u64 {
                    return Err(err(start, "non-canonical head (2-byte argument)"));
                }
                v
            }
            26 => {
                let v = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as u64;
                if v <= u16::MAX as u64 {
                    return Err(err(start, "non-canonical head (4-byte argument)"));
                }
                v
            }
            27 => {
                let v = u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                if v <= u32::MAX as u64 {
                    return Err(err(start, "non-canonical head (8-byte argument)"));
                }
                v
            }
            _ => {
                return Err(err(
                    start,
                    format!("unsupported head 0x{b:02x} (indefinite length or reserved)"),
                ))
            }
        };
        Ok((major, arg))
    }

    #[inline]
    fn expect_major(&mut self, want: u8, what: &str) -> Result<u64, AbiError> {
        // Fast path: the wanted major type with a small (inline) argument,
        // which is always canonical.
        if let Some(&b) = self.data.get(self.pos) {
            if b >> 5 == want && b & 0x1f < 24 {
                self.pos += 1;
                return Ok(u64::from(b & 0x1f));
            }
        }
        self.expect_major_slow(want, what)
    }

    fn expect_major_slow(&mut self, want: u8, what: &str) -> Result<u64, AbiError> {
        let start = self.pos;
        if matches!(self.data.get(self.pos), Some(&(0xe0..=0xff))) {
            return Err(err(start, format!("expected {what}, found a simple value")));
        }
        let (major, arg) = self.head()?;
        if major != want {
            self.pos = start;
            return Err(err(
                start,
                format!("expected {what}, found major type {major}"),
            ));
        }
        Ok(arg)
    }

    /// An unsigned integer.
    pub fn u64(&mut self) -> Result<u64, AbiError> {
        self.expect_major(MAJOR_UINT, "an unsigned integer")
    }

    /// A signed integer that fits `i64`.
    pub fn i64(&mut self) -> Result<i64, AbiError> {
        let start = self.pos;
        match self.peek_kind()? {
            Kind::Unsigned => {
                let v = self.u64()?;
                i64::try_from(v).map_err(|_| err(start, "integer out of range for i64"))
            }
            Kind::Negative => {
                let v = self.expect_major(MAJOR_NINT, "a negative integer")?;
                if v > i64::MAX as u64 {
                    Err(err(start, "integer out of range for i64"))
                } else {
                    Ok(!(v as i64))
                }
            }
            _ => Err(err(start, "expected an integer")),
        }
    }

    /// A 128-bit unsigned integer (plain or positive bignum).
    pub fn u128(&mut self) -> Result<u128, AbiError> {
        let start = self.pos;
        match self.peek_kind()? {
            Kind::Unsigned => Ok(self.u64()? as u128),
            Kind::Tag => {
                let (tag, mag) = self.bignum()?;
                if tag != TAG_POS_BIGNUM {
                    return Err(err(start, "negative bignum where u128 expected"));
                }
                Ok(mag)
            }
            _ => Err(err(start, "expected an unsigned integer")),
        }
    }

    /// A 128-bit signed integer (plain or bignum).
    pub fn i128(&mut self) -> Result<i128, AbiError> {
        let start = self.pos;
        match self.peek_kind()? {
            Kind::Unsigned => Ok(self.u64()? as i128),
            Kind::Negative => {
                let v = self.expect_major(MAJOR_NINT, "a negative integer")?;
                Ok(-1 - v as i128)
            }
            Kind::Tag => {
                let (tag, mag) = self.bignum()?;
                let out_of_range = || err(start, "bignum out of range for i128");
                if tag == TAG_POS_BIGNUM {
                    i128::try_from(mag).map_err(|_| out_of_range())
                } else {
                    let m = i128::try_from(mag).map_err(|_| out_of_range())?;
                    Ok(-1 - m)
                }
            }
            _ => Err(err(start, "expected an integer")),
        }
    }

    fn bignum(&mut self) -> Result<(u64, u128), AbiError> {
        let start = self.pos;
        let tag = self.expect_major(MAJOR_TAG, "a bignum tag")?;
        if tag != TAG_POS_BIGNUM && tag != TAG_NEG_BIGNUM {
            return Err(err(start, format!("unsupported tag {tag}")));
        }
        let bytes = self.bytes()?;
        if bytes.len() > 16 {
            return Err(err(start, "bignum longer than 16 bytes"));
        }
        if bytes.first() == Some(&0) {
            return Err(err(start, "non-canonical bignum (leading zero byte)"));
        }
        // A bignum must not be used for a value that fits a plain integer:
        // its magnitude is at least 2^64, so 9 bytes or more.
        if bytes.len() <= 8 {
            return Err(err(start, "non-canonical bignum: fits a plain integer"));
        }
        let mut buf = [0u8; 16];
        buf[16 - bytes.len()..].copy_from_slice(bytes);
        Ok((tag, u128::from_be_bytes(buf)))
    }

    /// A boolean.
    pub fn bool(&mut self) -> Result<bool, AbiError> {
        let start = self.pos;
        match self.byte()? {
            FALSE => Ok(false),
            TRUE => Ok(true),
            b => Err(err(start, format!("expected a boolean, found 0x{b:02x}"))),
        }
    }

    /// `null`.
    pub fn null(&mut self) -> Result<(), AbiError> {
        let start = self.pos;
        match self.byte()? {
            NULL => Ok(()),
            b => Err(err(start, format!("expected null, found 0x{b:02x}"))),
        }
    }

    /// Consumes a `null` if one is next; returns whether it did.
    pub fn try_null(&mut self) -> bool {
        if self.data.get(self.pos) == Some(&NULL) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A float32 (exactly 5 bytes). NaNs must be canonical.
    pub fn f32(&mut self) -> Result<f32, AbiError> {
        let start = self.pos;
        if self.byte()? != FLOAT32 {
            return Err(err(start, "expected a float32"));
        }
        let bits = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"));
        let v = f32::from_bits(bits);
        if v.is_nan() && bits != CANONICAL_NAN_F32 {
            return Err(err(start, "non-canonical NaN"));
        }
        Ok(v)
    }

    /// A float64 (exactly 9 bytes). NaNs must be canonical.
    pub fn f64(&mut self) -> Result<f64, AbiError> {
        let start = self.pos;
        if self.byte()? != FLOAT64 {
            return Err(err(start, "expected a float64"));
        }
        let bits = u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
        let v = f64::from_bits(bits);
        if v.is_nan() && bits != CANONICAL_NAN_F64 {
            return Err(err(start, "non-canonical NaN"));
        }
        Ok(v)
    }

    /// A text string, borrowed. Must be valid UTF-8.
    pub fn str(&mut self) -> Result<&'a str, AbiError> {
        let start = self.pos;
        let len = self.expect_major(MAJOR_TEXT, "a text string")?;
        let bytes = self.take(to_usize(len, start)?)?;
        std::str::from_utf8(bytes).map_err(|_| err(start, "text string is not valid UTF-8"))
    }

    /// A byte string, borrowed.
    pub fn bytes(&mut self) -> Result<&'a [u8], AbiError> {
        let start = self.pos;
        let len = self.expect_major(MAJOR_BYTES, "a byte string")?;
        self.take(to_usize(len, start)?)
    }

    /// A fixed-size byte string.
    pub fn byte_array<const N: usize>(&mut self) -> Result<[u8; N], AbiError> {
        let start = self.pos;
        let b = self.bytes()?;
        b.try_into()
            .map_err(|_| err(start, format!("expected {N} bytes, found {}", b.len())))
    }

    /// The head of an array; returns its length.
    pub fn array(&mut self) -> Result<usize, AbiError> {
        let start = self.pos;
        let len = self.expect_major(MAJOR_ARRAY, "an array")?;
        let len = to_usize(len, start)?;
        // Every item takes at least one byte: reject absurd lengths early so a
        // hostile length cannot drive a huge allocation.
        if len > self.data.len() - self.pos {
            return Err(err(start, format!("array of {len} items exceeds input")));
        }
        Ok(len)
    }

    /// The head of an array that must have exactly `n` items.
    pub fn array_of(&mut self, n: usize) -> Result<(), AbiError> {
        let start = self.pos;
        let len = self.array()?;
        if len != n {
            return Err(err(start, format!("expected an array of {n}, found {len}")));
        }
        Ok(())
    }

    /// Skips one complete item (of any accepted kind), returning its bytes.
    pub fn skip(&mut self) -> Result<&'a [u8], AbiError> {
        let start = self.pos;
        self.skip_depth(0)?;
        Ok(&self.data[start..self.pos])
    }

    /// Skips one item of input already checked (a stored row, say):
    /// integers, floats, simple values, text and byte strings by their
    /// head alone, without the canonical-form and UTF-8 checks of
    /// [`Reader::skip`]; anything else (arrays, maps, tags) as `skip` does.
    /// Bounds are still checked: on input that is not CBOR it returns an
    /// error or skips a wrong span, never reads out of bounds.
    #[inline]
    pub fn skip_checked_item(&mut self) -> Result<(), AbiError> {
        let Some(&b) = self.data.get(self.pos) else {
            return Err(err(self.pos, "input ends"));
        };
        let (major, info) = (b >> 5, b & 0x1f);
        let rest = &self.data[self.pos + 1..];
        let be = |n: usize| -> Option<u64> {
            rest.get(..n)
                .map(|v| v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        };
        let (head, arg) = match info {
            0..=23 => (1, Some(u64::from(info))),
            24 => (2, be(1)),
            25 => (3, be(2)),
            26 => (5, be(4)),
            27 => (9, be(8)),
            _ => return self.skip().map(drop),
        };
        let Some(arg) = arg else {
            return Err(err(self.pos, "input ends inside an item's head"));
        };
        let len = match major {
            MAJOR_UINT | MAJOR_NINT | MAJOR_SIMPLE => Some(head),
            MAJOR_BYTES | MAJOR_TEXT => usize::try_from(arg).ok().and_then(|a| a.checked_add(head)),
            _ => return self.skip().map(drop),
        };
        match len.and_then(|l| self.pos.checked_add(l)) {
            Some(end) if end <= self.data.len() => {
                self.pos = end;
                Ok(())
            }
            _ => Err(err(self.pos, "item runs past the end of the input")),
        }
    }

    fn skip_depth(&mut self, depth: u32) -> Result<(), AbiError> {
        if depth > MAX_DEPTH {
            return Err(err(self.pos, "nesting too deep"));
        }
        match self.peek_kind()? {
            Kind::Unsigned => self.u64().map(drop),
            Kind::Negative => self.expect_major(MAJOR_NINT, "").map(drop),
            Kind::Bytes => self.bytes().map(drop),
            Kind::Text => self.str().map(drop),
            Kind::Tag => self.bignum().map(drop),
            Kind::Bool => self.bool().map(drop),
            Kind::Null => self.null(),
            Kind::Float => {
                if self.data[self.pos] == FLOAT32 {
                    self.f32().map(drop)
                } else {
                    self.f64().map(drop)
                }
            }
            Kind::Array => {
                let n = self.array()?;
                for _ in 0..n {
                    self.skip_depth(depth + 1)?;
                }
                Ok(())
            }
            Kind::Other => Err(err(
                self.pos,
                format!("unsupported CBOR item 0x{:02x}", self.data[self.pos]),
            )),
        }
    }
}

/// Deepest nesting of arrays accepted by the reader.
pub const MAX_DEPTH: u32 = 64;

fn to_usize(v: u64, pos: usize) -> Result<usize, AbiError> {
    usize::try_from(v).map_err(|_| err(pos, "length does not fit in memory"))
}

#[cfg(test)]
mod tests;
