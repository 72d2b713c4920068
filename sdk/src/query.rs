//! Typed queries: index lookups and ranges, pushed-down filters and
//! host-side aggregates (`docs/SDK.md` "Queries").
//!
//! `#[table]` generates, for each index, a method on the table handles
//! (`ctx.tables.items().by_owner()`) returning an [`IndexHandle`] whose key
//! type is the indexed column's (a tuple for a composite index), and a
//! columns struct (`T::columns()`, passed to [`Query::matching`]'s closure)
//! whose fields are typed [`Col`]s. A wrong column or value type does not
//! compile. Rows stream from the host a page at a time ([`QueryIter`]).

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use interstice_abi::cbor::{Reader, Writer};
use interstice_abi::query as q;
use interstice_abi::IntersticeType;

use crate::sys;
use crate::table::{decode_row, Table, TableId};

/// Rows asked for per page.
const PAGE_ROWS: u32 = 64;

/// A column type filters can compare: bool, integers, floats, `String`,
/// `Bytes`, and `Option`s of them (compared with the inner type).
#[diagnostic::on_unimplemented(
    message = "column type `{Self}` cannot be compared in a filter",
    note = "filters compare bool, integers, floats, String, Bytes and Options of them"
)]
pub trait Comparable {
    /// The type a value is compared as.
    type Inner: IntersticeType;
}

/// A numeric column type `sum` accepts.
#[diagnostic::on_unimplemented(
    message = "column type `{Self}` cannot be summed",
    note = "sum takes integer and float columns (and Options of them)"
)]
pub trait Summable {
    /// The sum's type: `u128` for unsigned, `i128` for signed integers,
    /// `f64` for floats.
    type Sum: IntersticeType;
}

/// A column type an index can cover.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an index column",
    label = "not an indexable type",
    note = "index columns are bool, u8–u128, i8–i128, String or Bytes"
)]
pub trait IndexColumn {}

macro_rules! impls {
    ($($t:ty => $sum:ty),* ; $($k:ty),*) => {
        $(
            impl Comparable for $t { type Inner = $t; }
            impl Comparable for Option<$t> { type Inner = $t; }
            impl Summable for $t { type Sum = $sum; }
            impl Summable for Option<$t> { type Sum = $sum; }
        )*
        $(
            impl Comparable for $k { type Inner = $k; }
            impl Comparable for Option<$k> { type Inner = $k; }
        )*
    };
}
impls!(u8 => u128, u16 => u128, u32 => u128, u64 => u128, u128 => u128,
       i8 => i128, i16 => i128, i32 => i128, i64 => i128, i128 => i128,
       f32 => f64, f64 => f64; bool, String, crate::Bytes);

macro_rules! index_columns {
    ($($t:ty),*) => { $(impl IndexColumn for $t {})* };
}
index_columns!(
    bool,
    u8,
    u16,
    u32,
    u64,
    u128,
    i8,
    i16,
    i32,
    i64,
    i128,
    String,
    crate::Bytes
);

/// Compile-time check that `T` can be an index column.
#[doc(hidden)]
pub const fn assert_index_column<T: IndexColumn>() {}

/// A leading part of a composite index key `K`: `(A,)` of `(A, B)`.
pub trait IndexPrefix<K>: IntersticeType {}
impl<A: IntersticeType, B> IndexPrefix<(A, B)> for (A,) {}
impl<A: IntersticeType, B, C> IndexPrefix<(A, B, C)> for (A,) {}
impl<A: IntersticeType, B: IntersticeType, C> IndexPrefix<(A, B, C)> for (A, B) {}
impl<A: IntersticeType, B, C, D> IndexPrefix<(A, B, C, D)> for (A,) {}
impl<A: IntersticeType, B: IntersticeType, C, D> IndexPrefix<(A, B, C, D)> for (A, B) {}
impl<A: IntersticeType, B: IntersticeType, C: IntersticeType, D> IndexPrefix<(A, B, C, D)>
    for (A, B, C)
{
}

/// Column `V` of table `T`, for filters and aggregates: a field of the
/// columns struct `#[table]` generates.
pub struct Col<T, V> {
    index: u32,
    _t: PhantomData<fn() -> (T, V)>,
}

impl<T, V> Clone for Col<T, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, V> Copy for Col<T, V> {}
impl<T, V> fmt::Debug for Col<T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Col({})", self.index)
    }
}

impl<T, V> Col<T, V> {
    /// Column number `index` (generated code only).
    #[doc(hidden)]
    pub const fn new(index: u32) -> Self {
        Col {
            index,
            _t: PhantomData,
        }
    }
}

/// A filter on rows of table `T`, evaluated by the host. Combine with `&`,
/// `|` and `!` (or [`Filter::and`], [`Filter::or`], [`Filter::not`]).
pub struct Filter<T> {
    bytes: Vec<u8>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Filter<T> {
    fn clone(&self) -> Self {
        Filter {
            bytes: self.bytes.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Filter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Filter({:02x?})", self.bytes)
    }
}

impl<T> Filter<T> {
    fn from_writer(w: Writer) -> Self {
        Filter {
            bytes: w.into_vec(),
            _t: PhantomData,
        }
    }

    fn list(op: u64, a: Self, b: Self) -> Self {
        let mut w = Writer::new();
        w.array(2);
        w.u64(op);
        w.array(2);
        w.raw(&a.bytes);
        w.raw(&b.bytes);
        Filter::from_writer(w)
    }

    /// Both hold.
    pub fn and(self, other: Self) -> Self {
        Filter::list(q::OP_AND, self, other)
    }

    /// Either holds.
    pub fn or(self, other: Self) -> Self {
        Filter::list(q::OP_OR, self, other)
    }

    /// This does not hold.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        let mut w = Writer::new();
        w.array(2);
        w.u64(q::OP_NOT);
        w.raw(&self.bytes);
        Filter::from_writer(w)
    }

    /// The filter's encoding (`docs/ABI.md` §4.1).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl<T> std::ops::BitAnd for Filter<T> {
    type Output = Filter<T>;
    fn bitand(self, rhs: Self) -> Self {
        self.and(rhs)
    }
}

impl<T> std::ops::BitOr for Filter<T> {
    type Output = Filter<T>;
    fn bitor(self, rhs: Self) -> Self {
        self.or(rhs)
    }
}

impl<T> std::ops::Not for Filter<T> {
    type Output = Filter<T>;
    fn not(self) -> Self {
        Filter::not(self)
    }
}

impl<T, V: Comparable> Col<T, V> {
    fn cmp(self, op: u64, value: &V::Inner) -> Filter<T> {
        let mut w = Writer::new();
        w.array(3);
        w.u64(op);
        w.u64(u64::from(self.index));
        value.encode(&mut w);
        Filter::from_writer(w)
    }

    /// `column = value` (an `Option` column that is `None` is equal to
    /// nothing).
    pub fn eq(self, value: V::Inner) -> Filter<T> {
        self.cmp(q::OP_EQ, &value)
    }
    /// `column ≠ value` (the negation of [`Col::eq`]: `None` is unequal to
    /// everything; a NaN is unequal to everything).
    pub fn ne(self, value: V::Inner) -> Filter<T> {
        self.cmp(q::OP_NE, &value)
    }
    /// `column < value` (never for `None` or NaN).
    pub fn lt(self, value: V::Inner) -> Filter<T> {
        self.cmp(q::OP_LT, &value)
    }
    /// `column ≤ value`.
    pub fn le(self, value: V::Inner) -> Filter<T> {
        self.cmp(q::OP_LE, &value)
    }
    /// `column > value`.
    pub fn gt(self, value: V::Inner) -> Filter<T> {
        self.cmp(q::OP_GT, &value)
    }
    /// `column ≥ value`.
    pub fn ge(self, value: V::Inner) -> Filter<T> {
        self.cmp(q::OP_GE, &value)
    }
}

impl<T, V> Col<T, Option<V>> {
    /// The column is `None`.
    pub fn is_none(self) -> Filter<T> {
        let mut w = Writer::new();
        w.array(2);
        w.u64(q::OP_IS_NONE);
        w.u64(u64::from(self.index));
        Filter::from_writer(w)
    }

    /// The column is `Some`.
    pub fn is_some(self) -> Filter<T> {
        self.is_none().not()
    }
}

/// A query over table `T`: a primary-key or index range and an optional
/// filter, run by the host. Iterate it, or reduce it host-side with
/// [`Query::count`], [`Query::sum`], [`Query::min`], [`Query::max`].
pub struct Query<T> {
    index: Option<u32>,
    lower: Option<(bool, Vec<u8>)>,
    upper: Option<(bool, Vec<u8>)>,
    filter: Option<Vec<u8>>,
    _t: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Query<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query")
            .field("index", &self.index)
            .field("filter", &self.filter.is_some())
            .finish()
    }
}

impl<T: TableId> Query<T> {
    /// The whole table in primary-key order.
    pub(crate) fn all() -> Self {
        Query {
            index: None,
            lower: None,
            upper: None,
            filter: None,
            _t: PhantomData,
        }
    }

    /// Keeps only the rows `f` selects, evaluated by the host before a row
    /// crosses into wasm (several calls combine with *and*).
    pub fn matching(mut self, f: impl FnOnce(T::Columns) -> Filter<T>) -> Self {
        let new = f(T::columns());
        self.filter = Some(match self.filter.take() {
            None => new.bytes,
            Some(old) => {
                Filter::<T>::list(q::OP_AND, Filter::from_writer(Writer::from_vec(old)), new).bytes
            }
        });
        self
    }

    /// The query's encoding (`docs/ABI.md` §4.1), as `query_open` takes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_vec()
    }

    fn encode(&self, w: &mut Writer) {
        w.array(4);
        match self.index {
            None => w.null(),
            Some(i) => w.u64(u64::from(i)),
        }
        q::write_bound(w, self.lower.as_ref().map(|(i, v)| (*i, v.as_slice())));
        q::write_bound(w, self.upper.as_ref().map(|(i, v)| (*i, v.as_slice())));
        match &self.filter {
            None => w.null(),
            Some(f) => w.raw(f),
        }
    }

    /// The rows, streamed from the host a page at a time.
    pub fn iter(&self) -> QueryIter<T> {
        let mut w = Writer::new();
        self.encode(&mut w);
        QueryIter {
            handle: Some(sys::query_open(T::ID, w.as_slice())),
            page: Vec::new(),
            pos: 0,
            left: 0,
            _t: PhantomData,
        }
    }

    /// The first row, in the query's order, or `None`: one host call,
    /// where `iter().next()` makes three. The fast way to look a row up by
    /// an index: `ctx.tables.items().by_code().filter(&c).first()`.
    pub fn first(&self) -> Option<T> {
        let mut w = Writer::new();
        self.encode(&mut w);
        sys::query_first(T::ID, w.as_slice()).map(|row| decode_row(&row))
    }

    fn aggregate(&self, op: u64, column: u32) -> Vec<u8> {
        let mut w = Writer::new();
        w.array(3);
        self.encode(&mut w);
        w.u64(op);
        w.u64(u64::from(column));
        sys::query_aggregate(T::ID, w.as_slice())
    }

    /// Number of rows, counted by the host.
    pub fn count(&self) -> u64 {
        decode_value(&self.aggregate(q::AGG_COUNT, 0))
    }

    /// Sum of a numeric column over the rows (`None`s skipped), by the host.
    pub fn sum<V: Summable>(&self, col: impl FnOnce(T::Columns) -> Col<T, V>) -> V::Sum {
        let c = col(T::columns());
        decode_value(&self.aggregate(q::AGG_SUM, c.index))
    }

    /// Least value of a column over the rows (`None`s skipped), by the host.
    pub fn min<V: Comparable>(
        &self,
        col: impl FnOnce(T::Columns) -> Col<T, V>,
    ) -> Option<V::Inner> {
        let c = col(T::columns());
        decode_value(&self.aggregate(q::AGG_MIN, c.index))
    }

    /// Greatest value of a column over the rows (`None`s skipped).
    pub fn max<V: Comparable>(
        &self,
        col: impl FnOnce(T::Columns) -> Col<T, V>,
    ) -> Option<V::Inner> {
        let c = col(T::columns());
        decode_value(&self.aggregate(q::AGG_MAX, c.index))
    }
}

fn decode_value<V: IntersticeType>(bytes: &[u8]) -> V {
    V::from_bytes(bytes)
        .unwrap_or_else(|e| panic!("interstice: the host's aggregate does not decode: {e}"))
}

impl<T: TableId> IntoIterator for Query<T> {
    type Item = T;
    type IntoIter = QueryIter<T>;
    fn into_iter(self) -> QueryIter<T> {
        self.iter()
    }
}

impl<T: TableId> IntoIterator for &Query<T> {
    type Item = T;
    type IntoIter = QueryIter<T>;
    fn into_iter(self) -> QueryIter<T> {
        self.iter()
    }
}

/// The rows of a [`Query`], fetched a page at a time. The host-side query
/// is closed when the iterator ends or is dropped.
pub struct QueryIter<T> {
    handle: Option<i32>,
    page: Vec<u8>,
    pos: usize,
    left: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for QueryIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryIter")
            .field("open", &self.handle.is_some())
            .finish()
    }
}

impl<T: Table> Iterator for QueryIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        while self.left == 0 {
            let handle = self.handle?;
            match sys::query_page(handle, PAGE_ROWS) {
                Some(page) => {
                    let mut r = Reader::new(&page);
                    self.left = r.array().unwrap_or_else(|e| {
                        panic!("interstice: a query page is not an array: {e}")
                    });
                    self.pos = r.position();
                    self.page = page;
                }
                None => {
                    self.handle = None;
                    sys::query_close(handle);
                    return None;
                }
            }
        }
        let mut r = Reader::new(&self.page[self.pos..]);
        let start = r.position();
        let row = r
            .skip()
            .unwrap_or_else(|e| panic!("interstice: a query page holds a bad row: {e}"));
        let _ = start;
        self.pos += row.len();
        self.left -= 1;
        Some(decode_row(row))
    }
}

impl<T: Table> std::iter::FusedIterator for QueryIter<T> {}

impl<T> Drop for QueryIter<T> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            sys::query_close(h);
        }
    }
}

/// Marker: an ordered (B-tree) index.
#[derive(Debug, Clone, Copy)]
pub enum BTreeKind {}
/// Marker: an ordered index whose values are unique.
#[derive(Debug, Clone, Copy)]
pub enum UniqueKind {}
/// Marker: a hash index (equality only).
#[derive(Debug, Clone, Copy)]
pub enum HashKind {}

/// What an [`IndexHandle`] is about, as a type only.
type IndexMarker<T, K, Kind> = PhantomData<fn() -> (T, K, Kind)>;

/// An index of table `T` on key `K` (a column's type, or a tuple of them
/// for a composite index), of kind `Kind`: `ctx.tables.items().by_owner()`.
pub struct IndexHandle<T, K, Kind> {
    index: u32,
    composite: bool,
    _t: IndexMarker<T, K, Kind>,
}

impl<T, K, Kind> Clone for IndexHandle<T, K, Kind> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, K, Kind> Copy for IndexHandle<T, K, Kind> {}
impl<T, K, Kind> fmt::Debug for IndexHandle<T, K, Kind> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexHandle({})", self.index)
    }
}

impl<T: TableId, K: IntersticeType, Kind> IndexHandle<T, K, Kind> {
    /// Index number `index` of `T` (generated code only).
    #[doc(hidden)]
    pub fn new(index: u32, composite: bool) -> Self {
        IndexHandle {
            index,
            composite,
            _t: PhantomData,
        }
    }

    fn values(&self, key: &K) -> Vec<u8> {
        let mut w = Writer::new();
        if !self.composite {
            w.array(1);
        }
        key.encode(&mut w);
        w.into_vec()
    }

    fn query(&self, lower: Option<(bool, Vec<u8>)>, upper: Option<(bool, Vec<u8>)>) -> Query<T> {
        Query {
            index: Some(self.index),
            lower,
            upper,
            filter: None,
            _t: PhantomData,
        }
    }

    /// The rows whose indexed value equals `key`, in primary-key order.
    pub fn filter(&self, key: &K) -> Query<T> {
        let v = self.values(key);
        self.query(Some((true, v.clone())), Some((true, v)))
    }
}

fn bound_of(b: Bound<Vec<u8>>) -> Option<(bool, Vec<u8>)> {
    match b {
        Bound::Included(v) => Some((true, v)),
        Bound::Excluded(v) => Some((false, v)),
        Bound::Unbounded => None,
    }
}

macro_rules! ordered {
    ($kind:ty) => {
        impl<T: TableId, K: IntersticeType> IndexHandle<T, K, $kind> {
            /// The rows whose indexed value is in `range` (`..`, `a..`,
            /// `..b`, `..=b`, `a..b`, `a..=b`), in index order.
            pub fn range(&self, range: impl RangeBounds<K>) -> Query<T> {
                let conv = |b: Bound<&K>| bound_of(b.map(|k| self.values(k)));
                self.query(conv(range.start_bound()), conv(range.end_bound()))
            }

            /// For a composite index: the rows whose leading columns equal
            /// `prefix` (a tuple of the first columns' values), in index
            /// order.
            pub fn prefix<P: IndexPrefix<K>>(&self, prefix: &P) -> Query<T> {
                let v = prefix.to_bytes();
                self.query(Some((true, v.clone())), Some((true, v)))
            }
        }
    };
}
ordered!(BTreeKind);
ordered!(UniqueKind);

impl<T: TableId, K: IntersticeType> IndexHandle<T, K, UniqueKind> {
    /// The row whose indexed value is `key`, if any.
    pub fn find(&self, key: &K) -> Option<T> {
        self.filter(key).first()
    }
}

/// A primary-key range: `ctx.tables.items().range(10..20)`.
pub(crate) fn primary_range<T: TableId>(range: impl RangeBounds<T::Key>) -> Query<T> {
    let conv = |b: Bound<&T::Key>| {
        bound_of(b.map(|k| {
            let mut w = Writer::new();
            w.array(1);
            k.encode(&mut w);
            w.into_vec()
        }))
    };
    Query {
        index: None,
        lower: conv(range.start_bound()),
        upper: conv(range.end_bound()),
        filter: None,
        _t: PhantomData,
    }
}
