//! What the code `interstice generate rust` writes builds on (`docs/SDK.md`,
//! "Bindings"): the context trait typed read calls take, the trigger events
//! of a dependency's tables, and the binding record a module's schema
//! carries for each dependency it has bindings for.
//!
//! Module authors use the generated functions and types, not these items
//! directly; they are public so that generated code (a module of the user's
//! crate) can reach them.

use interstice_abi::{Args, Binding, BoundReducer, BoundTable, Field, IntersticeType, RowEvent};
use interstice_abi::{ReducerMode, Trigger, Type};

use crate::context::{ReadContext, WriteContext};

/// A context that can make read calls: [`WriteContext`] and
/// [`ReadContext`]. A generated read-call function takes `&impl
/// ReadCaller`, so it works in both kinds of reducer.
pub trait ReadCaller: sealed::Sealed {
    /// [`WriteContext::read_call`] / [`ReadContext::read_call`].
    #[track_caller]
    fn read_call<R: IntersticeType, E: IntersticeType>(
        &self,
        module: &str,
        reducer: &str,
        args: impl Args,
    ) -> Result<R, E>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::WriteContext {}
    impl Sealed for crate::ReadContext {}
}

impl ReadCaller for WriteContext {
    #[track_caller]
    fn read_call<R: IntersticeType, E: IntersticeType>(
        &self,
        module: &str,
        reducer: &str,
        args: impl Args,
    ) -> Result<R, E> {
        WriteContext::read_call(self, module, reducer, args)
    }
}

impl ReadCaller for ReadContext {
    #[track_caller]
    fn read_call<R: IntersticeType, E: IntersticeType>(
        &self,
        module: &str,
        reducer: &str,
        args: impl Args,
    ) -> Result<R, E> {
        ReadContext::read_call(self, module, reducer, args)
    }
}

/// The `Ok` value of a read call to a reducer that declares no error
/// type (so never returns `Err`).
///
/// # Panics
/// If it did return `Err` (its schema changed under the bindings), at
/// the caller's line.
#[track_caller]
pub fn infallible<T>(module: &str, reducer: &str, result: Result<T, ()>) -> T {
    match result {
        Ok(v) => v,
        Err(()) => panic!(
            "interstice: read_call {module}.{reducer} returned an error, but its bindings \
             declare none: regenerate them"
        ),
    }
}

/// A row event of a dependency's table, as the generated bindings name it:
/// `inventory::items::insert`. `#[reducer(on = inventory::items::insert)]`
/// takes one.
pub trait TableEvent {
    /// The module.
    const MODULE: &'static str;
    /// The table.
    const TABLE: &'static str;
    /// The event.
    const EVENT: RowEvent;
    /// The table's row type.
    type Row: IntersticeType;
}

/// Implemented by the row type of each generated table for that table's
/// events: the bound a typed trigger's parameters must meet.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not the row type of the table this trigger is on",
    label = "the trigger's table has another row type",
    note = "a trigger on `module::table::insert` takes `module::table::Row`"
)]
pub trait RowOf<E: TableEvent> {}

/// The trigger `E` is.
pub fn trigger<E: TableEvent>() -> Trigger {
    Trigger::Table {
        module: E::MODULE.to_owned(),
        table: E::TABLE.to_owned(),
        event: E::EVENT,
    }
}

/// Compile-time check that a trigger on `E` may take a `P`.
pub const fn assert_row<E: TableEvent, P: RowOf<E>>() {}

/// A binding record (`ModuleSchema::bindings`).
pub fn binding(
    module: &str,
    version: &str,
    hash: [u8; 32],
    reducers: Vec<BoundReducer>,
    tables: Vec<BoundTable>,
) -> Binding {
    Binding {
        module: module.to_owned(),
        version: version.to_owned(),
        hash,
        reducers,
        tables,
    }
}

/// A bound reducer's signature: `error` is `None` for a reducer that does
/// not return a `Result`.
pub fn reducer(
    name: &str,
    mode: ReducerMode,
    params: Vec<Field>,
    returns: Type,
    error: Option<Type>,
) -> BoundReducer {
    BoundReducer {
        name: name.to_owned(),
        mode,
        params,
        returns,
        error,
    }
}

/// A bound table: its name and the columns of its row type `R` (a
/// generated struct).
pub fn table<R: IntersticeType>(name: &str) -> BoundTable {
    let columns = match R::ty() {
        Type::Struct(s) => s.fields,
        other => vec![interstice_abi::codec::field("0", other)],
    };
    BoundTable {
        name: name.to_owned(),
        columns,
    }
}

/// Compile-time check of `interstice_module!`'s dependency list: no
/// dependency twice, none the module itself.
pub const fn assert_dependencies(module: &str, deps: &[&str]) {
    let mut i = 0;
    while i < deps.len() {
        if crate::__private::str_eq(deps[i], module) {
            panic!("interstice_module!: a module cannot depend on itself");
        }
        let mut j = i + 1;
        while j < deps.len() {
            if crate::__private::str_eq(deps[i], deps[j]) {
                panic!("interstice_module!: a dependency is listed twice");
            }
            j += 1;
        }
        i += 1;
    }
}
