//! Tables: the [`Table`] trait `#[table]` implements, and typed handles.
//!
//! A write reducer reaches a table through `ctx.tables.<name>()`, which
//! returns a [`TableHandle`] (read and write). A read reducer gets a
//! [`ReadTableHandle`], which has no mutating methods at all, so writing
//! from a read reducer does not compile.

use std::fmt;
use std::marker::PhantomData;

use interstice_abi::{IntersticeType, TableSchema};

use crate::sys;

/// A table row type. Implemented by `#[table]`; not meant to be implemented
/// by hand.
pub trait Table: IntersticeType {
    /// The table's name (`#[table(name = "…")]`, or the struct name in
    /// snake_case).
    const NAME: &'static str;
    /// Whether the runtime assigns the key on insert (`#[primary_key(auto_inc)]`).
    const AUTO_INC: bool;
    /// The primary-key column's type.
    type Key: IntersticeType;
    /// The row's primary key.
    fn key(&self) -> &Self::Key;
    /// The table's schema.
    fn schema() -> TableSchema;
}

/// The table's id in host calls: its index in `interstice_module!`'s
/// `tables: [...]`. Implemented by `interstice_module!`.
#[diagnostic::on_unimplemented(
    message = "table `{Self}` is not listed in `interstice_module!`",
    label = "not in the module's `tables: [...]`",
    note = "add `{Self}` to `tables: [...]` in `interstice_module!`; its position there is its table id"
)]
pub trait TableId: Table {
    /// Index in the module's table list.
    const ID: u32;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::WriteTables {}
    impl Sealed for super::ReadTables {}
}

/// The two kinds of `ctx.tables`: [`WriteTables`] hands out [`TableHandle`]s
/// and [`ReadTables`] hands out [`ReadTableHandle`]s. The accessor methods
/// `#[table]` generates (`ctx.tables.accounts()`) are written against this
/// trait. Sealed.
pub trait Tables: sealed::Sealed {
    /// The handle type for table `T`.
    type Handle<'a, T>
    where
        Self: 'a;
    /// A handle to table `T`.
    fn handle<T: TableId>(&self) -> Self::Handle<'_, T>;
}

/// `ctx.tables` in a write reducer.
pub struct WriteTables {
    _not_send: PhantomData<*const ()>,
}

/// `ctx.tables` in a read reducer.
pub struct ReadTables {
    _not_send: PhantomData<*const ()>,
}

impl WriteTables {
    pub(crate) fn new() -> Self {
        WriteTables {
            _not_send: PhantomData,
        }
    }
}

impl ReadTables {
    pub(crate) fn new() -> Self {
        ReadTables {
            _not_send: PhantomData,
        }
    }
}

impl fmt::Debug for WriteTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteTables")
    }
}

impl fmt::Debug for ReadTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadTables")
    }
}

impl Tables for WriteTables {
    type Handle<'a, T> = TableHandle<'a, T>;
    fn handle<T: TableId>(&self) -> TableHandle<'_, T> {
        TableHandle {
            _tables: PhantomData,
            _row: PhantomData,
        }
    }
}

impl Tables for ReadTables {
    type Handle<'a, T> = ReadTableHandle<'a, T>;
    fn handle<T: TableId>(&self) -> ReadTableHandle<'_, T> {
        ReadTableHandle {
            _tables: PhantomData,
            _row: PhantomData,
        }
    }
}

/// Read-write access to table `T` in a write reducer:
/// `ctx.tables.accounts()`.
pub struct TableHandle<'a, T> {
    _tables: PhantomData<&'a WriteTables>,
    _row: PhantomData<fn() -> T>,
}

/// Read-only access to table `T` in a read reducer: `ctx.tables.accounts()`.
/// It has no `insert`, `update` or `delete`.
pub struct ReadTableHandle<'a, T> {
    _tables: PhantomData<&'a ReadTables>,
    _row: PhantomData<fn() -> T>,
}

macro_rules! copy_and_debug {
    ($h:ident) => {
        impl<T> Clone for $h<'_, T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $h<'_, T> {}
        impl<T: Table> fmt::Debug for $h<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($h), "({})"), T::NAME)
            }
        }
    };
}
copy_and_debug!(TableHandle);
copy_and_debug!(ReadTableHandle);

fn decode_row<T: Table>(bytes: &[u8]) -> T {
    T::from_bytes(bytes).unwrap_or_else(|e| {
        panic!(
            "interstice: a row of table `{}` does not decode as `{}`: {e}",
            T::NAME,
            T::ty().display_name()
        )
    })
}

fn get<T: TableId>(key: &T::Key) -> Option<T> {
    sys::get(T::ID, &key.to_bytes()).map(|b| decode_row(&b))
}

fn iter<'a, T: TableId>() -> TableIter<'a, T> {
    TableIter {
        handle: Some(sys::scan_open(T::ID)),
        _scope: PhantomData,
        _row: PhantomData,
    }
}

impl<'a, T: TableId> TableHandle<'a, T> {
    /// Inserts `row` and returns the row as stored: for an `auto_inc` table
    /// a key of 0 is replaced by the next id. The transaction fails with a
    /// constraint violation (the host traps) if the key already exists.
    pub fn insert(&self, row: T) -> T {
        let bytes = row.to_bytes();
        if T::AUTO_INC {
            decode_row(&sys::insert(T::ID, &bytes))
        } else {
            sys::insert_discard(T::ID, &bytes);
            row
        }
    }

    /// Replaces the row with the same primary key. Returns `false` (and
    /// writes nothing) if there is no such row.
    pub fn update(&self, row: impl std::borrow::Borrow<T>) -> bool {
        sys::update(T::ID, &row.borrow().to_bytes())
    }

    /// Deletes the row with this key; `true` if there was one.
    pub fn delete(&self, key: &T::Key) -> bool {
        sys::delete(T::ID, &key.to_bytes())
    }

    /// The row with this key. A reducer sees its own writes.
    pub fn get(&self, key: &T::Key) -> Option<T> {
        get::<T>(key)
    }

    /// Number of rows.
    pub fn count(&self) -> u64 {
        sys::count(T::ID)
    }

    /// All rows in primary-key order. Rows written during the scan are seen
    /// if their key is after the last row returned.
    pub fn iter(&self) -> TableIter<'a, T> {
        iter()
    }
}

impl<'a, T: TableId> ReadTableHandle<'a, T> {
    /// The row with this key.
    pub fn get(&self, key: &T::Key) -> Option<T> {
        get::<T>(key)
    }

    /// Number of rows.
    pub fn count(&self) -> u64 {
        sys::count(T::ID)
    }

    /// All rows in primary-key order.
    pub fn iter(&self) -> TableIter<'a, T> {
        iter()
    }
}

impl<'a, T: TableId> IntoIterator for TableHandle<'a, T> {
    type Item = T;
    type IntoIter = TableIter<'a, T>;
    fn into_iter(self) -> TableIter<'a, T> {
        self.iter()
    }
}

impl<'a, T: TableId> IntoIterator for ReadTableHandle<'a, T> {
    type Item = T;
    type IntoIter = TableIter<'a, T>;
    fn into_iter(self) -> TableIter<'a, T> {
        self.iter()
    }
}

/// A scan over a table in key order. The host-side scan is closed when the
/// iterator ends or is dropped.
pub struct TableIter<'a, T> {
    handle: Option<i32>,
    _scope: PhantomData<&'a ()>,
    _row: PhantomData<fn() -> T>,
}

impl<T: Table> Iterator for TableIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        let handle = self.handle?;
        match sys::scan_next(handle) {
            Some(bytes) => Some(decode_row(&bytes)),
            None => {
                self.handle = None;
                sys::scan_close(handle);
                None
            }
        }
    }
}

impl<T: Table> std::iter::FusedIterator for TableIter<'_, T> {}

impl<T> Drop for TableIter<'_, T> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            sys::scan_close(h);
        }
    }
}

impl<T: Table> fmt::Debug for TableIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableIter")
            .field("table", &T::NAME)
            .field("open", &self.handle.is_some())
            .finish()
    }
}
