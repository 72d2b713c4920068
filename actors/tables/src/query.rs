//! Queries over a table: a primary-key or index range, an optional
//! filter evaluated on each row before it leaves the host, read a page at
//! a time through a [`Cursor`], or reduced to one aggregate value host-side.
//! The encoding is `interstice_abi::query` (`docs/ABI.md` §4.1); every
//! malformed or ill-typed part is a [`TableError::Query`] naming it.

use std::cmp::Ordering;
use std::ops::Bound;

use interstice_abi::cbor::{Reader, Writer};
use interstice_abi::query as q;
use interstice_abi::{IndexKind, Type};

use crate::error::TableError;
use crate::index::{encode_index_value, IndexData};
use crate::store::{ColumnData, Columns, RowRef, Store};
use crate::table::Table;
use crate::tables::Tables;

fn bad<T>(msg: impl Into<String>) -> Result<T, TableError> {
    Err(TableError::Query(msg.into()))
}

/// A comparison operator of a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A comparable value: an integer of at most 64 bits, memcomparable bytes
/// (`bool`, 128-bit integers, strings, bytes), or a float.
#[derive(Debug, Clone)]
enum Scalar {
    Int(i128),
    Key(Vec<u8>),
    Float(f64),
}

impl Scalar {
    /// How a stored value compares with a constant of the same type.
    #[inline]
    fn cmp_to(&self, other: &Scalar) -> Option<Ordering> {
        match (self, other) {
            (Scalar::Int(a), Scalar::Int(b)) => Some(a.cmp(b)),
            (Scalar::Key(a), Scalar::Key(b)) => Some(a.as_slice().cmp(b.as_slice())),
            (Scalar::Float(a), Scalar::Float(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

/// True for the integer types of at most 64 bits (compared as
/// [`Scalar::Int`], stored as plain numbers by the columnar store).
fn small_int(ty: &Type) -> bool {
    matches!(
        ty,
        Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::I8 | Type::I16 | Type::I32 | Type::I64
    )
}

/// The integer a small integer type's memcomparable key encodes.
fn key_to_int(ty: &Type, key: &[u8]) -> i128 {
    let mut be = [0u8; 8];
    let w = key.len().min(8);
    be[8 - w..].copy_from_slice(&key[..w]);
    let u = u64::from_be_bytes(be);
    if matches!(ty, Type::I8 | Type::I16 | Type::I32 | Type::I64) && w > 0 {
        let bits = 8 * w as u32;
        let x = u ^ (1u64 << (bits - 1));
        let shift = 64 - bits;
        i128::from(((x << shift) as i64) >> shift)
    } else {
        i128::from(u)
    }
}

/// A filter checked against the table's columns.
#[derive(Debug, Clone)]
enum Filter {
    Cmp {
        column: usize,
        op: CmpOp,
        value: Scalar,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    IsNone(usize),
}

/// What a query walks.
#[derive(Debug, Clone)]
enum Source {
    /// The rows in primary-key order.
    Primary,
    /// An ordered index (position in the table's indexes).
    Ordered(usize),
    /// A hash index's bucket of one index key.
    Hash(usize, Vec<u8>),
}

/// A decoded, checked query.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    source: Source,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    filter: Option<Filter>,
}

/// An open query: where the next page starts.
#[derive(Debug, Clone)]
pub struct Cursor {
    /// The table's index in the module schema.
    pub table: u32,
    query: Query,
    /// The last entry returned (primary key, index entry or, for a hash
    /// bucket, primary key); the next page starts after it.
    after: Option<Box<[u8]>>,
    done: bool,
}

/// The smallest byte string greater than every string starting with `p`
/// (`None` if there is none: `p` is all `ff`).
fn successor(p: &[u8]) -> Option<Vec<u8>> {
    let j = p.iter().rposition(|b| *b != 0xff)?;
    let mut s = p[..=j].to_vec();
    s[j] += 1;
    Some(s)
}

fn comparable(ty: &Type) -> Option<&Type> {
    let inner = match ty {
        Type::Option(t) => t,
        t => t,
    };
    (inner.is_key_type() || matches!(inner, Type::F32 | Type::F64)).then_some(inner)
}

/// A constant of type `ty` from a query, checked as a key of that type is.
fn read_scalar(ty: &Type, r: &mut Reader<'_>) -> Result<Scalar, TableError> {
    Ok(match ty {
        Type::F32 => Scalar::Float(f64::from(r.f32()?)),
        Type::F64 => Scalar::Float(r.f64()?),
        t => {
            let mut k = Vec::new();
            t.encode_key(r, &mut k)?;
            if small_int(t) {
                Scalar::Int(key_to_int(t, &k))
            } else {
                Scalar::Key(k)
            }
        }
    })
}

/// A stored (validated) value of type `ty`, as [`read_scalar`] reads it.
#[inline]
fn read_value(ty: &Type, r: &mut Reader<'_>) -> Result<Scalar, TableError> {
    if small_int(ty) {
        return Ok(Scalar::Int(r.i128()?));
    }
    read_scalar(ty, r)
}

/// The column values a filter reads, wherever the row is.
trait Values {
    /// True if column `c` is `None`.
    fn is_null(&self, c: usize) -> bool;
    /// How column `c` (not `None`) compares with `value`.
    fn compare(&self, c: usize, value: &Scalar) -> Option<Ordering>;
}

/// A row's bytes and its columns' spans.
struct Spanned<'a> {
    row: &'a [u8],
    spans: &'a [std::ops::Range<usize>],
    types: &'a [Type],
}

fn inner(ty: &Type) -> &Type {
    match ty {
        Type::Option(t) => t,
        t => t,
    }
}

impl Values for Spanned<'_> {
    fn is_null(&self, c: usize) -> bool {
        self.row[self.spans[c].clone()] == [0xf6]
    }

    fn compare(&self, c: usize, value: &Scalar) -> Option<Ordering> {
        let bytes = &self.row[self.spans[c].clone()];
        read_value(inner(&self.types[c]), &mut Reader::new(bytes))
            .ok()?
            .cmp_to(value)
    }
}

/// A row of the columnar store: read from its column vectors.
struct Slot<'a> {
    columns: &'a Columns,
    slot: usize,
    types: &'a [Type],
}

impl Values for Slot<'_> {
    #[inline]
    fn is_null(&self, c: usize) -> bool {
        self.columns.columns[c].is_null(self.slot)
    }

    #[inline]
    fn compare(&self, c: usize, value: &Scalar) -> Option<Ordering> {
        let s = self.slot;
        match (&self.columns.columns[c].data, value) {
            (ColumnData::Unsigned(v), Scalar::Int(x)) => Some(i128::from(v[s]).cmp(x)),
            (ColumnData::Signed(v), Scalar::Int(x)) => Some(i128::from(v[s]).cmp(x)),
            (ColumnData::F32(v), Scalar::Float(x)) => f64::from(v[s]).partial_cmp(x),
            (ColumnData::F64(v), Scalar::Float(x)) => v[s].partial_cmp(x),
            (ColumnData::Encoded(v), _) => {
                read_value(inner(&self.types[c]), &mut Reader::new(&v[s]))
                    .ok()?
                    .cmp_to(value)
            }
            _ => None,
        }
    }
}

struct FilterReader<'t> {
    table: &'t Table,
    nodes: usize,
}

impl FilterReader<'_> {
    fn column(&self, r: &mut Reader<'_>) -> Result<usize, TableError> {
        let c = r.u64()?;
        let n = self.table.column_types().len();
        if c >= n as u64 {
            return bad(format!(
                "filter: column {c} out of range (table `{}` has {n} columns)",
                self.table.name()
            ));
        }
        Ok(c as usize)
    }

    fn read(&mut self, r: &mut Reader<'_>, depth: usize) -> Result<Filter, TableError> {
        self.nodes += 1;
        if self.nodes > q::MAX_FILTER_NODES {
            return bad(format!("filter: more than {} nodes", q::MAX_FILTER_NODES));
        }
        if depth > q::MAX_FILTER_DEPTH {
            return bad(format!(
                "filter: nested deeper than {} levels",
                q::MAX_FILTER_DEPTH
            ));
        }
        let at = r.position();
        let len = r.array()?;
        if len == 0 {
            return bad(format!(
                "filter at byte {at}: empty array, expected [op, …]"
            ));
        }
        let op = r.u64()?;
        let want = match op {
            q::OP_EQ..=q::OP_GE => 3,
            q::OP_AND | q::OP_OR | q::OP_NOT | q::OP_IS_NONE => 2,
            other => return bad(format!("filter at byte {at}: unknown operator {other}")),
        };
        if len != want {
            return bad(format!(
                "filter at byte {at}: operator {op} takes {} operand(s), found {}",
                want - 1,
                len - 1
            ));
        }
        Ok(match op {
            q::OP_AND | q::OP_OR => {
                let n = r.array()?;
                let mut subs = Vec::with_capacity(n.min(q::MAX_FILTER_NODES));
                for _ in 0..n {
                    subs.push(self.read(r, depth + 1)?);
                }
                if op == q::OP_AND {
                    Filter::And(subs)
                } else {
                    Filter::Or(subs)
                }
            }
            q::OP_NOT => Filter::Not(Box::new(self.read(r, depth + 1)?)),
            q::OP_IS_NONE => {
                let c = self.column(r)?;
                let ty = &self.table.column_types()[c];
                if !matches!(ty, Type::Option(_)) {
                    return bad(format!(
                        "filter: is_none on column `{}`, which is {}, not an Option",
                        self.table.schema().columns[c].name,
                        ty.display_name()
                    ));
                }
                Filter::IsNone(c)
            }
            _ => {
                let column = self.column(r)?;
                let ty = &self.table.column_types()[column];
                let Some(inner) = comparable(ty) else {
                    return bad(format!(
                        "filter: column `{}` is {}, which cannot be compared",
                        self.table.schema().columns[column].name,
                        ty.display_name()
                    ));
                };
                let vat = r.position();
                let value = read_scalar(inner, r).map_err(|e| {
                    TableError::Query(format!(
                        "filter: the value at byte {vat} for column `{}` is not a {}: {e}",
                        self.table.schema().columns[column].name,
                        inner.display_name()
                    ))
                })?;
                let op = [
                    CmpOp::Eq,
                    CmpOp::Ne,
                    CmpOp::Lt,
                    CmpOp::Le,
                    CmpOp::Gt,
                    CmpOp::Ge,
                ][op as usize];
                Filter::Cmp { column, op, value }
            }
        })
    }
}

impl Filter {
    fn matches(&self, row: &impl Values) -> bool {
        match self {
            Filter::And(fs) => fs.iter().all(|f| f.matches(row)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(row)),
            Filter::Not(f) => !f.matches(row),
            Filter::IsNone(c) => row.is_null(*c),
            Filter::Cmp { column, op, value } => {
                // Only an `Option` column holds `None`; it satisfies `ne`.
                if row.is_null(*column) {
                    return *op == CmpOp::Ne;
                }
                match (op, row.compare(*column, value)) {
                    (CmpOp::Ne, None) => true,
                    (_, None) => false,
                    (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
                    (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
                    (CmpOp::Lt, Some(o)) => o == Ordering::Less,
                    (CmpOp::Le, Some(o)) => o != Ordering::Greater,
                    (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
                    (CmpOp::Ge, Some(o)) => o != Ordering::Less,
                }
            }
        }
    }

    /// One more than the highest column the filter reads: the columns of a
    /// row it needs located.
    fn width(&self) -> usize {
        match self {
            Filter::Cmp { column, .. } | Filter::IsNone(column) => column + 1,
            Filter::And(fs) | Filter::Or(fs) => fs.iter().map(Filter::width).max().unwrap_or(0),
            Filter::Not(f) => f.width(),
        }
    }

    /// Whether `row` passes (`spans` is scratch space): a stored row's
    /// first `width` columns are located (`Filter::width`), no more.
    #[inline]
    fn passes(
        &self,
        row: RowRef<'_>,
        spans: &mut Vec<std::ops::Range<usize>>,
        types: &[Type],
        width: usize,
    ) -> bool {
        match row {
            RowRef::Bytes(row) => {
                column_spans(row, spans, width) && self.matches(&Spanned { row, spans, types })
            }
            RowRef::Slot(columns, slot) => self.matches(&Slot {
                columns,
                slot,
                types,
            }),
        }
    }
}

/// The byte ranges of a row's first `width` columns (all of them, if it
/// has fewer).
fn column_spans(row: &[u8], out: &mut Vec<std::ops::Range<usize>>, width: usize) -> bool {
    out.clear();
    let mut r = Reader::new(row);
    let Ok(n) = r.array() else { return false };
    for _ in 0..n.min(width) {
        let start = r.position();
        // A stored row was checked when it was written.
        if r.skip_checked_item().is_err() {
            return false;
        }
        out.push(start..r.position());
    }
    true
}

/// Reads `[tag, [v…]]` or `null`, as the prefix-free key of the values;
/// `full` is set to false when it gives fewer values than columns.
fn read_bound(
    r: &mut Reader<'_>,
    types: &[Type],
    primary: bool,
    which: &str,
    full: &mut bool,
) -> Result<Option<(bool, Vec<u8>)>, TableError> {
    if r.try_null() {
        return Ok(None);
    }
    let at = r.position();
    r.array_of(2)
        .map_err(|e| TableError::Query(format!("{which} bound: {e}")))?;
    let included = match r.u64()? {
        q::BOUND_INCLUDED => true,
        q::BOUND_EXCLUDED => false,
        t => return bad(format!("{which} bound at byte {at}: unknown tag {t}")),
    };
    let n = r.array()?;
    if n == 0 || n > types.len() {
        return bad(format!(
            "{which} bound: {n} value(s), the index has {} column(s)",
            types.len()
        ));
    }
    *full &= n == types.len();
    let mut key = Vec::new();
    for ty in &types[..n] {
        let vat = r.position();
        let res = if primary {
            ty.encode_key(r, &mut key)
        } else {
            encode_index_value(ty, r, &mut key)
        };
        res.map_err(|e| {
            TableError::Query(format!(
                "{which} bound: the value at byte {vat} is not a {}: {e}",
                ty.display_name()
            ))
        })?;
    }
    Ok(Some((included, key)))
}

impl Query {
    /// Decodes and checks a query (`docs/ABI.md` §4.1) against `table`.
    pub(crate) fn decode(table: &Table, bytes: &[u8]) -> Result<Query, TableError> {
        let mut r = Reader::new(bytes);
        let q = Self::read(table, &mut r)?;
        r.finish()
            .map_err(|e| TableError::Query(format!("query: {e}")))?;
        Ok(q)
    }

    fn read(table: &Table, r: &mut Reader<'_>) -> Result<Query, TableError> {
        if bytes_left(r) > q::MAX_QUERY_BYTES {
            return bad(format!("query longer than {} bytes", q::MAX_QUERY_BYTES));
        }
        r.array_of(4).map_err(|e| {
            TableError::Query(format!("query is not [index, lower, upper, filter]: {e}"))
        })?;
        let (index, types): (Option<usize>, Vec<Type>) = if r.try_null() {
            (None, vec![table.schema().key_type().clone()])
        } else {
            let i = r.u64()?;
            let Some(ix) = table.indexes.get(i as usize) else {
                return bad(format!(
                    "no index #{i} on table `{}` (it has {})",
                    table.name(),
                    table.indexes.len()
                ));
            };
            (Some(i as usize), ix.types().to_vec())
        };
        let mut full = true;
        let lower = read_bound(r, &types, index.is_none(), "lower", &mut full)?;
        let upper = read_bound(r, &types, index.is_none(), "upper", &mut full)?;
        let filter = if r.try_null() {
            None
        } else {
            Some(FilterReader { table, nodes: 0 }.read(r, 0)?)
        };
        let (source, lo, hi) = match index {
            None => {
                let conv = |b: Option<(bool, Vec<u8>)>| match b {
                    None => Bound::Unbounded,
                    Some((true, k)) => Bound::Included(k),
                    Some((false, k)) => Bound::Excluded(k),
                };
                (Source::Primary, conv(lower), conv(upper))
            }
            Some(i) if table.indexes[i].schema.kind == IndexKind::Hash => match (lower, upper) {
                (Some((true, a)), Some((true, b))) if a == b && full => {
                    (Source::Hash(i, a), Bound::Unbounded, Bound::Unbounded)
                }
                _ => {
                    return bad(format!(
                        "hash index `{}` of table `{}` answers only equality on all its columns",
                        table.indexes[i].name(),
                        table.name()
                    ))
                }
            },
            Some(i) => {
                let lo = match lower {
                    None => Bound::Unbounded,
                    Some((true, p)) => Bound::Included(p),
                    Some((false, p)) => match successor(&p) {
                        Some(s) => Bound::Included(s),
                        None => Bound::Excluded(vec![0xff; p.len() + 1]),
                    },
                };
                let hi = match upper {
                    None => Bound::Unbounded,
                    Some((true, p)) => match successor(&p) {
                        Some(s) => Bound::Excluded(s),
                        None => Bound::Unbounded,
                    },
                    Some((false, p)) => Bound::Excluded(p),
                };
                (Source::Ordered(i), lo, hi)
            }
        };
        Ok(Query {
            source,
            lower: lo,
            upper: hi,
            filter,
        })
    }
}

fn bytes_left(r: &Reader<'_>) -> usize {
    r.slice_from(r.position()).len()
}

/// Whether a query stopped a page at the end or because a page bound
/// was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageEnd {
    /// Nothing is left: the page may be the last one (or empty).
    Finished,
    /// More entries may follow: ask for another page.
    More,
}

/// How a walk ended: why it stopped, the key to resume after (kept only
/// for paged walks) and how many entries it examined.
type WalkEnd = (PageEnd, Option<Box<[u8]>>, u64);

impl Cursor {
    /// A cursor over `table` for a query decoded from `bytes`.
    pub fn open(tables: &Tables, table: u32, bytes: &[u8]) -> Result<Cursor, TableError> {
        let t = tables.table_or_err(table)?;
        Ok(Cursor {
            table,
            query: Query::decode(t, bytes)?,
            after: None,
            done: false,
        })
    }

    /// True once the last page has been returned.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// Where a walk over a query's entries got to.
struct Walked {
    /// Whether to keep the last entry examined (a paged walk continues
    /// after it).
    keep_last: bool,
    last: Option<Box<[u8]>>,
    examined: usize,
}

/// What one [`Tables::query_page`] call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Whether a page was written; false once the query has nothing left.
    pub filled: bool,
    /// Index or table entries examined, matching or not: what the host
    /// charges the transaction for (`docs/ABI.md` §4.1).
    pub examined: u64,
}

/// What one [`Tables::aggregate`] call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregated {
    /// The CBOR of the result.
    pub value: Vec<u8>,
    /// Entries examined, as in [`Page::examined`].
    pub examined: u64,
}

impl Tables {
    pub(crate) fn table_or_err(&self, idx: u32) -> Result<&Table, TableError> {
        self.table(idx).ok_or_else(|| {
            TableError::Query(format!(
                "table id {idx} out of range (module has {} tables)",
                self.tables.len()
            ))
        })
    }

    /// Calls `each(entry, row)` on the query's rows (after `after`, in the
    /// source's order) that pass its filter, until it returns false or
    /// `limit` entries were examined. Returns how it stopped, the last
    /// entry examined (where a next walk continues) and how many entries it
    /// examined.
    /// One page's walk of `cursor`'s query from where it stopped, at most
    /// `MAX_PAGE_EXAMINED` entries, `each` row until it returns false.
    fn walk_cursor(
        &self,
        cursor: &Cursor,
        each: impl FnMut(RowRef<'_>) -> bool,
    ) -> Result<WalkEnd, TableError> {
        let t = self.table_or_err(cursor.table)?;
        let mut each = each;
        Ok(self.walk(
            t,
            &cursor.query,
            cursor.after.as_deref(),
            q::MAX_PAGE_EXAMINED,
            true,
            |_, row| each(row),
        ))
    }

    fn walk<'t>(
        &self,
        t: &'t Table,
        query: &Query,
        after: Option<&[u8]>,
        limit: usize,
        paged: bool,
        each: impl FnMut(&[u8], RowRef<'t>) -> bool,
    ) -> WalkEnd {
        let mut walked = Walked {
            keep_last: paged,
            last: None,
            examined: 0,
        };
        let end = self.walk_inner(t, query, after, limit, each, &mut walked);
        (end, walked.last, walked.examined as u64)
    }

    /// Walks every entry of `query` for an aggregate: refused past
    /// `max_examined` entries, so that one host call's time stays bounded.
    /// With `any_order` (the aggregate's result does not depend on the
    /// order it sees the rows in), a whole-table query of a columnar table
    /// walks the column vectors slot by slot instead of in key order: the
    /// same rows, the same count of entries examined.
    fn walk_all<'t>(
        &self,
        t: &'t Table,
        query: &Query,
        max_examined: usize,
        examined: &mut u64,
        any_order: bool,
        mut each: impl FnMut(&[u8], RowRef<'t>) -> bool,
    ) -> Result<(), TableError> {
        if let (true, Store::Columns(c), Source::Primary, Bound::Unbounded, Bound::Unbounded) = (
            any_order,
            &t.store,
            &query.source,
            &query.lower,
            &query.upper,
        ) {
            if c.len() <= max_examined {
                let mut spans = Vec::new();
                let types = t.column_types();
                let width = query.filter.as_ref().map_or(0, Filter::width);
                *examined += c.len() as u64;
                for slot in 0..c.len() {
                    let row = RowRef::Slot(c, slot);
                    let pass = match &query.filter {
                        None => true,
                        Some(f) => f.passes(row, &mut spans, types, width),
                    };
                    if pass && !each(&[], row) {
                        break;
                    }
                }
                return Ok(());
            }
        }
        let mut stopped = false;
        let visit = |entry: &[u8], row: RowRef<'t>| {
            let go = each(entry, row);
            stopped |= !go;
            go
        };
        let (end, _, n) = self.walk(t, query, None, max_examined.saturating_add(1), false, visit);
        *examined += n;
        match end {
            PageEnd::Finished => Ok(()),
            PageEnd::More if stopped => Ok(()),
            PageEnd::More => bad(format!(
                "aggregate: the range holds more than {max_examined} entries, the most one \
                 aggregate examines; narrow it, or page through it with query_page"
            )),
        }
    }

    fn walk_inner<'t, 'q>(
        &self,
        t: &'t Table,
        query: &'q Query,
        after: Option<&'q [u8]>,
        limit: usize,
        mut each: impl FnMut(&[u8], RowRef<'t>) -> bool,
        walked: &mut Walked,
    ) -> PageEnd {
        let mut spans = Vec::new();
        let types = t.column_types();
        let width = query.filter.as_ref().map_or(0, Filter::width);
        let mut visit = |entry: &[u8], row: RowRef<'t>| -> Option<PageEnd> {
            walked.examined += 1;
            let pass = match &query.filter {
                None => true,
                Some(f) => f.passes(row, &mut spans, types, width),
            };
            if (pass && !each(entry, row)) || walked.examined >= limit {
                // A next walk continues after the entry it stopped at.
                if walked.keep_last {
                    walked.last = Some(entry.into());
                }
                return Some(PageEnd::More);
            }
            None
        };
        let lo = |lower: &'q Bound<Vec<u8>>| -> Bound<&'q [u8]> {
            match after {
                Some(a) => Bound::Excluded(a),
                None => as_ref(lower),
            }
        };
        let hi = as_ref(&query.upper);
        // An empty or inverted range reads nothing (`BTreeSet::range`
        // would panic on it).
        let empty = |lo: &Bound<&[u8]>| match (lo, &hi) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
            | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
            _ => false,
        };
        match &query.source {
            Source::Primary => {
                let lo = lo(&query.lower);
                if empty(&lo) {
                    return PageEnd::Finished;
                }
                for (k, row) in t.store.range(lo, hi) {
                    if let Some(end) = visit(k, row) {
                        return end;
                    }
                }
            }
            Source::Ordered(i) => {
                let ix = &t.indexes[*i];
                let IndexData::Ordered(set) = &ix.data else {
                    return PageEnd::Finished;
                };
                let lo = lo(&query.lower);
                if empty(&lo) {
                    return PageEnd::Finished;
                }
                for e in set.range(lo, hi) {
                    let Some(row) = t.row_by_key(ix.primary_key_of(&e)) else {
                        continue;
                    };
                    if let Some(end) = visit(&e, row) {
                        return end;
                    }
                }
            }
            Source::Hash(i, ikey) => {
                let IndexData::Hash(map) = &t.indexes[*i].data else {
                    return PageEnd::Finished;
                };
                let Some(pks) = map.get(ikey.as_slice()) else {
                    return PageEnd::Finished;
                };
                let lo = match after {
                    Some(a) => Bound::Excluded(a),
                    None => Bound::Unbounded,
                };
                for pk in pks.range::<[u8], _>((lo, Bound::Unbounded)) {
                    let Some(row) = t.row_by_key(pk) else {
                        continue;
                    };
                    if let Some(end) = visit(pk, row) {
                        return end;
                    }
                }
            }
        }
        PageEnd::Finished
    }

    /// The next page of `cursor`: a CBOR array of at most `max_rows` rows
    /// (capped at `MAX_PAGE_ROWS`) and about `MAX_PAGE_BYTES`, written to
    /// `out` (cleared first), examining at most `MAX_PAGE_EXAMINED`
    /// entries. [`Page::filled`] is false once the query has nothing left.
    /// Rows are read from the tables as they are now, so the open
    /// transaction's own writes are seen.
    pub fn query_page(
        &self,
        cursor: &mut Cursor,
        max_rows: u32,
        out: &mut Vec<u8>,
    ) -> Result<Page, TableError> {
        out.clear();
        let empty = Page {
            filled: false,
            examined: 0,
        };
        if cursor.done {
            return Ok(empty);
        }
        let max_rows = max_rows.clamp(1, q::MAX_PAGE_ROWS) as usize;
        let mut body = Vec::new();
        let mut n = 0usize;
        let (end, last, examined) = self.walk_cursor(cursor, |row| {
            row.write_to(&mut body);
            n += 1;
            n < max_rows && body.len() < q::MAX_PAGE_BYTES
        })?;
        if end == PageEnd::Finished {
            cursor.done = true;
            if n == 0 {
                return Ok(Page { examined, ..empty });
            }
        }
        let mut w = Writer::from_vec(std::mem::take(out));
        w.array(n);
        w.raw(&body);
        *out = w.into_vec();
        if last.is_some() {
            cursor.after = last;
        }
        Ok(Page {
            filled: true,
            examined,
        })
    }

    /// The first row of `cursor` (its bare CBOR, no page array) written to
    /// `out` (cleared first), examining at most `MAX_PAGE_EXAMINED`
    /// entries: [`Page::filled`] says whether a row was found. When none
    /// was and the cursor is not [done](Cursor::is_done), the walk stopped
    /// at its limit: call again to go on.
    pub fn query_first_row(
        &self,
        cursor: &mut Cursor,
        out: &mut Vec<u8>,
    ) -> Result<Page, TableError> {
        out.clear();
        if cursor.done {
            return Ok(Page {
                filled: false,
                examined: 0,
            });
        }
        let mut found = false;
        let (end, last, examined) = self.walk_cursor(cursor, |row| {
            row.write_to(out);
            found = true;
            false
        })?;
        if end == PageEnd::Finished || found {
            cursor.done = true;
        }
        if last.is_some() {
            cursor.after = last;
        }
        Ok(Page {
            filled: found,
            examined,
        })
    }

    /// A host-side aggregate over a query (`docs/ABI.md` §4.1), decoded
    /// from `[query, op, column]`; returns the CBOR of the result and how
    /// many entries it examined.
    pub fn aggregate(&self, table: u32, bytes: &[u8]) -> Result<Aggregated, TableError> {
        let mut examined = 0;
        let value =
            self.aggregate_at_most(table, bytes, q::MAX_AGGREGATE_EXAMINED, &mut examined)?;
        Ok(Aggregated { value, examined })
    }

    /// [`Tables::aggregate`], examining at most `max_examined` entries.
    pub(crate) fn aggregate_at_most(
        &self,
        table: u32,
        bytes: &[u8],
        max_examined: usize,
        examined: &mut u64,
    ) -> Result<Vec<u8>, TableError> {
        let t = self.table_or_err(table)?;
        let mut r = Reader::new(bytes);
        r.array_of(3)
            .map_err(|e| TableError::Query(format!("aggregate is not [query, op, column]: {e}")))?;
        let query = Query::read(t, &mut r)?;
        let op = r.u64()?;
        let column = r.u64()? as usize;
        r.finish()
            .map_err(|e| TableError::Query(format!("aggregate: {e}")))?;
        let mut w = Writer::new();
        if op == q::AGG_COUNT {
            let mut n = 0u64;
            self.walk_all(t, &query, max_examined, examined, true, |_, _| {
                n += 1;
                true
            })?;
            w.u64(n);
            return Ok(w.into_vec());
        }
        let Some(col) = t.schema().columns.get(column) else {
            return bad(format!(
                "aggregate: column {column} out of range (table `{}` has {} columns)",
                t.name(),
                t.column_types().len()
            ));
        };
        let ty = inner(&col.ty);
        let float = matches!(ty, Type::F32 | Type::F64);
        let mut spans = Vec::new();
        match op {
            q::AGG_SUM => {
                let signed = matches!(
                    ty,
                    Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::I128
                );
                let unsigned = matches!(
                    ty,
                    Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::U128
                );
                if !(signed || unsigned || float) {
                    return bad(format!(
                        "aggregate: sum of column `{}`, which is {}, not a number",
                        col.name,
                        col.ty.display_name()
                    ));
                }
                // Integer sums of at most 64-bit values cannot overflow the
                // 128-bit sum, and unsigned sums overflow in any order or in
                // none; float sums and i128 sums depend on the order.
                let any_order = !float && *ty != Type::I128;
                let (mut su, mut si, mut sf, mut overflow) = (0u128, 0i128, 0f64, false);
                self.walk_all(t, &query, max_examined, examined, any_order, |_, row| {
                    let cell = match row {
                        RowRef::Slot(c, s) => {
                            let c = &c.columns[column];
                            if c.is_null(s) {
                                return true;
                            }
                            match &c.data {
                                ColumnData::Unsigned(v) => {
                                    su += u128::from(v[s]);
                                    return true;
                                }
                                ColumnData::Signed(v) => {
                                    si += i128::from(v[s]);
                                    return true;
                                }
                                ColumnData::F32(v) => {
                                    sf += f64::from(v[s]);
                                    return true;
                                }
                                ColumnData::F64(v) => {
                                    sf += v[s];
                                    return true;
                                }
                                ColumnData::Encoded(v) => &v[s][..],
                            }
                        }
                        RowRef::Bytes(row) => {
                            if !column_spans(row, &mut spans, column + 1) {
                                return true;
                            }
                            &row[spans[column].clone()]
                        }
                    };
                    let mut cr = Reader::new(cell);
                    if cr.try_null() {
                        return true;
                    }
                    if unsigned {
                        match cr.u128().ok().and_then(|v| su.checked_add(v)) {
                            Some(s) => su = s,
                            None => overflow = true,
                        }
                    } else if signed {
                        match cr.i128().ok().and_then(|v| si.checked_add(v)) {
                            Some(s) => si = s,
                            None => overflow = true,
                        }
                    } else if *ty == Type::F32 {
                        sf += f64::from(cr.f32().unwrap_or(0.0));
                    } else {
                        sf += cr.f64().unwrap_or(0.0);
                    }
                    !overflow
                })?;
                if overflow {
                    return bad(format!(
                        "aggregate: the sum of column `{}` overflows {}",
                        col.name,
                        if signed { "i128" } else { "u128" }
                    ));
                }
                if unsigned {
                    w.u128(su);
                } else if signed {
                    w.i128(si);
                } else {
                    w.f64(sf);
                }
            }
            q::AGG_MIN | q::AGG_MAX => {
                if comparable(&col.ty).is_none() {
                    return bad(format!(
                        "aggregate: min/max of column `{}`, which is {}, cannot be compared",
                        col.name,
                        col.ty.display_name()
                    ));
                }
                let want = if op == q::AGG_MIN {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                // Equal non-float values have equal encodings, so only a
                // float's extreme (`0.0` against `-0.0`) depends on the order.
                let mut best: Option<(Scalar, Vec<u8>)> = None;
                let mut raw = Vec::new();
                self.walk_all(t, &query, max_examined, examined, !float, |_, row| {
                    let s = match row {
                        RowRef::Slot(c, slot) => {
                            let c = &c.columns[column];
                            if c.is_null(slot) {
                                return true;
                            }
                            match &c.data {
                                ColumnData::Unsigned(v) => Scalar::Int(i128::from(v[slot])),
                                ColumnData::Signed(v) => Scalar::Int(i128::from(v[slot])),
                                ColumnData::F32(v) => Scalar::Float(f64::from(v[slot])),
                                ColumnData::F64(v) => Scalar::Float(v[slot]),
                                ColumnData::Encoded(v) => {
                                    match read_value(ty, &mut Reader::new(&v[slot])) {
                                        Ok(s) => s,
                                        Err(_) => return true,
                                    }
                                }
                            }
                        }
                        RowRef::Bytes(row) => {
                            if !column_spans(row, &mut spans, column + 1)
                                || row[spans[column].clone()] == [0xf6]
                            {
                                return true;
                            }
                            match read_value(ty, &mut Reader::new(&row[spans[column].clone()])) {
                                Ok(s) => s,
                                Err(_) => return true,
                            }
                        }
                    };
                    let better = match (&best, &s) {
                        (None, Scalar::Float(f)) => !f.is_nan(),
                        (None, _) => true,
                        (Some((b, _)), s) => s.cmp_to(b) == Some(want),
                    };
                    if better {
                        raw.clear();
                        match row {
                            RowRef::Slot(c, slot) => c.columns[column].write_value(slot, &mut raw),
                            RowRef::Bytes(row) => {
                                raw.extend_from_slice(&row[spans[column].clone()])
                            }
                        }
                        best = Some((s, raw.clone()));
                    }
                    true
                })?;
                match best {
                    Some((_, raw)) => w.raw(&raw),
                    None => w.null(),
                }
            }
            other => return bad(format!("aggregate: unknown operation {other}")),
        }
        Ok(w.into_vec())
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
