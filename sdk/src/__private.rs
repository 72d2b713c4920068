//! Support code for the macros' generated code. Not a public API: names and
//! signatures here change without notice.

use std::cell::{OnceCell, RefCell};

use interstice_abi::cbor::{Reader, Writer};
use interstice_abi::host::{self, ResultTag};
use interstice_abi::types::Field;
use interstice_abi::{AbiError, IntersticeType, ModuleSchema, ReducerSchema, Type};

use crate::context::{Level, ReadContext, WriteContext};
use crate::sys;

// ---------------------------------------------------------------------------
// Type checks with readable errors.

/// `IntersticeType`, with an error message that says what went wrong.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the Interstice ABI: it does not implement `IntersticeType`",
    label = "not an Interstice type",
    note = "Interstice types are bool, u8–u128, i8–i128, f32, f64, String, Bytes, Option<T>, \
            Vec<T>, tuples of up to 8 of them, and structs/enums with #[derive(IntersticeType)] \
            or #[table]"
)]
pub trait AbiType: IntersticeType {}
impl<T: IntersticeType> AbiType for T {}

/// The three operations of an Interstice type, as function pointers; one
/// `const` per field or parameter, so a bad type is reported once.
pub struct FieldOps<T> {
    /// `T::ty`.
    pub ty: fn() -> Type,
    /// `T::encode`.
    pub encode: fn(&T, &mut Writer),
    /// `T::decode`.
    pub decode: fn(&mut Reader<'_>) -> Result<T, AbiError>,
}

/// The operations of `T`.
pub const fn field_ops<T: AbiType>() -> FieldOps<T> {
    FieldOps {
        ty: T::ty,
        encode: T::encode,
        decode: T::decode,
    }
}

/// A named field.
pub fn field(name: &str, ty: Type) -> Field {
    interstice_abi::codec::field(name, ty)
}

/// A type that can be a primary key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a primary key",
    label = "not a key type",
    note = "primary keys are bool, u8–u128, i8–i128, String or Bytes"
)]
pub trait KeyType {}

/// An unsigned integer type, which an `auto_inc` key must be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an auto_inc key",
    label = "not an unsigned integer",
    note = "an auto_inc key is u8, u16, u32, u64 or u128 (the runtime replaces 0 with the next id)"
)]
pub trait AutoIncKey {}

macro_rules! marker {
    ($tr:ident: $($t:ty),*) => { $(impl $tr for $t {})* };
}
marker!(KeyType: bool, u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, String, crate::Bytes);
marker!(AutoIncKey: u8, u16, u32, u64, u128);

pub use crate::query::assert_index_column;

/// Compile-time check that `T` can be a primary key.
pub const fn assert_key_type<T: KeyType>() {}

/// Compile-time check that `T` can be an auto_inc key.
pub const fn assert_auto_inc_key<T: AutoIncKey>() {}

pub(crate) const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The canonical CBOR of a column default (`#[default(…)]`), checked to be
/// of the column's type by the compiler.
pub fn default_value<T: IntersticeType>(value: T) -> Vec<u8> {
    value.to_bytes()
}

/// What a `#[migration]` reads: implemented by [`crate::OldTable`] only.
#[diagnostic::on_unimplemented(
    message = "a #[migration] reads the old rows through `OldTable<OldRow>`, not `{Self}`",
    note = "write `fn m(ctx: &mut WriteContext, old: OldTable<v1::Item>)`, where `v1::Item` is \
            the old row type declared with #[table(name = \"…\", version = N)]"
)]
pub trait MigrationSource: IntersticeType {
    /// The old row type.
    type Row: crate::Table;
}

/// Compile-time check of a `#[migration(from_version = …)]` against the
/// version of the old row type it reads.
pub const fn assert_migration_from<P: MigrationSource>(from_version: u32) {
    if <P::Row as crate::Table>::VERSION != from_version {
        panic!(
            "#[migration]: from_version differs from the version of the old row type \
             (its #[table(version = N)])"
        );
    }
}

/// The trigger of a migration reading `P` from `from_version` to
/// `to_version`.
pub fn migration_trigger<P: MigrationSource>(
    from_version: u32,
    to_version: u32,
) -> interstice_abi::Trigger {
    let columns = match <P::Row as IntersticeType>::ty() {
        Type::Struct(s) => s.fields,
        _ => unreachable!("a table row is a struct"),
    };
    interstice_abi::Trigger::Migration {
        table: <P::Row as crate::Table>::NAME.into(),
        from_version,
        to_version,
        columns,
    }
}

/// Compile-time check of every `#[migration]` of a module (`migrations`,
/// `None` for plain reducers) against the module's `(table, version)` list:
/// the table must be listed and its version must be the migration's
/// `to_version`.
pub const fn assert_migrations(tables: &[(&str, u32)], migrations: &[Option<(&str, u32)>]) {
    let mut i = 0;
    while i < migrations.len() {
        if let Some((name, to)) = migrations[i] {
            let mut found = false;
            let mut j = 0;
            while j < tables.len() {
                if str_eq(tables[j].0, name) {
                    found = true;
                    if tables[j].1 != to {
                        panic!(
                            "#[migration]: to_version differs from the version of the module's \
                             table of that name (its #[table(version = N)])"
                        );
                    }
                }
                j += 1;
            }
            if !found {
                panic!(
                    "#[migration]: the table it migrates is not in the module's `tables: [...]`"
                );
            }
        }
        i += 1;
    }
}

/// Compile-time check that no two tables of a module share a name.
pub const fn assert_unique_names(names: &[&str]) {
    let mut i = 0;
    while i < names.len() {
        let mut j = i + 1;
        while j < names.len() {
            if str_eq(names[i], names[j]) {
                panic!("interstice_module!: two tables have the same name");
            }
            j += 1;
        }
        i += 1;
    }
}

// ---------------------------------------------------------------------------
// Derived decoding.

/// Checks an enum variant's array length.
pub fn expect_variant_len(
    start: usize,
    found: usize,
    want: usize,
    ty: &str,
    variant: &str,
) -> Result<(), AbiError> {
    if found == want {
        Ok(())
    } else {
        Err(AbiError::Cbor {
            offset: start,
            reason: format!(
                "{ty}::{variant} takes {} fields, found {}",
                want - 1,
                found.saturating_sub(1)
            ),
        })
    }
}

/// The error for an unknown variant tag.
pub fn no_such_variant(start: usize, ty: &str, tag: u64) -> AbiError {
    AbiError::Cbor {
        offset: start,
        reason: format!("{ty} has no variant {tag}"),
    }
}

// ---------------------------------------------------------------------------
// Reducers.

/// What `#[reducer]` implements on its hidden marker type.
pub trait Reducer {
    /// The reducer's name.
    const NAME: &'static str;
    /// Its schema.
    fn schema() -> ReducerSchema;
    /// For a `#[migration]`: the migrated table's name and the version it
    /// migrates to (checked against the module's tables at compile time).
    const MIGRATION: Option<(&'static str, u32)> = None;
    /// Decodes the argument array, runs the reducer and appends `[0, ok]`
    /// or `[1, err]` to `out`.
    fn invoke(args: &[u8], out: &mut Writer);
}

/// A reducer's entry point.
pub type Invoke = fn(&[u8], &mut Writer);

/// Reads a reducer's argument array. The host checks arguments against the
/// schema before calling, so a mismatch here is a bug: it panics.
pub struct ArgReader<'a> {
    reducer: &'static str,
    r: Reader<'a>,
}

impl<'a> ArgReader<'a> {
    /// Starts on an array of `n` arguments.
    pub fn new(reducer: &'static str, bytes: &'a [u8], n: usize) -> Self {
        let mut r = Reader::new(bytes);
        if let Err(e) = r.array_of(n) {
            panic!(
                "interstice: reducer `{reducer}` takes {n} argument(s); bad argument array: {e}"
            );
        }
        ArgReader { reducer, r }
    }

    /// The next argument.
    pub fn arg<T>(&mut self, ops: &FieldOps<T>, name: &str) -> T {
        (ops.decode)(&mut self.r).unwrap_or_else(|e| {
            panic!(
                "interstice: reducer `{}`: argument `{name}` is not a {}: {e}",
                self.reducer,
                (ops.ty)().display_name()
            )
        })
    }

    /// Checks nothing follows the arguments.
    pub fn finish(self) {
        if let Err(e) = self.r.finish() {
            panic!(
                "interstice: reducer `{}`: bad argument array: {e}",
                self.reducer
            );
        }
    }
}

/// A fresh write context.
pub fn write_context() -> WriteContext {
    WriteContext::new()
}

/// A fresh read context.
pub fn read_context() -> ReadContext {
    ReadContext::new()
}

/// `[0, null]`.
pub fn write_unit(out: &mut Writer) {
    host::write_result_head(out, ResultTag::Ok);
    out.null();
}

/// `[0, value]`.
pub fn write_ok<T>(out: &mut Writer, ops: &FieldOps<T>, value: &T) {
    host::write_result_head(out, ResultTag::Ok);
    (ops.encode)(value, out);
}

/// `[1, error]`.
pub fn write_err<E>(out: &mut Writer, ops: &FieldOps<E>, err: &E) {
    host::write_result_head(out, ResultTag::Err);
    (ops.encode)(err, out);
}

/// Decodes `[0, ok]` / `[1, err]`.
pub fn decode_result<R: IntersticeType, E: IntersticeType>(
    bytes: &[u8],
) -> Result<Result<R, E>, AbiError> {
    let mut r = Reader::new(bytes);
    let out = match host::read_result_head(&mut r)? {
        ResultTag::Ok => Ok(R::decode(&mut r)?),
        ResultTag::Err => Err(E::decode(&mut r)?),
    };
    r.finish()?;
    Ok(out)
}

/// A log line at `level`.
pub fn log(level: Level, msg: &str) {
    sys::log(level.as_i32(), msg);
}

// ---------------------------------------------------------------------------
// Exports.

thread_local! {
    /// The last call's result; valid until the next call.
    static RESULT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The schema's canonical bytes, built once.
    static SCHEMA: OnceCell<Vec<u8>> = const { OnceCell::new() };
    static HOOK_INSTALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn addr(p: *const u8) -> u32 {
    p as usize as u32
}

/// `__interstice_schema`: `(ptr << 32) | len` of the canonical schema bytes.
pub fn schema_export(build: fn() -> ModuleSchema) -> i64 {
    SCHEMA.with(|s| {
        let bytes = s.get_or_init(|| build().canonical_bytes());
        host::pack(addr(bytes.as_ptr()), bytes.len() as u32)
    })
}

/// `__interstice_alloc`: a buffer of `len` bytes the host fills and then
/// hands back with `__interstice_call`, which frees it. Traps when out of
/// memory.
pub fn alloc(len: i32) -> i32 {
    let len = len as u32 as usize;
    if len == 0 {
        return addr(std::ptr::NonNull::<u8>::dangling().as_ptr()) as i32;
    }
    let layout = std::alloc::Layout::array::<u8>(len).expect("allocation too large");
    // SAFETY: `layout` has a non-zero size.
    let p = unsafe { std::alloc::alloc(layout) };
    if p.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    addr(p) as i32
}

/// Frees a buffer from [`alloc`].
///
/// # Safety
/// `ptr` and `len` must come from one [`alloc`] call, and the buffer must
/// not be used afterwards.
unsafe fn free(ptr: *mut u8, len: usize) {
    if len != 0 {
        let layout = std::alloc::Layout::array::<u8>(len).expect("allocation too large");
        // SAFETY: the caller guarantees the buffer came from `alloc(len)`.
        unsafe { std::alloc::dealloc(ptr, layout) };
    }
}

/// The host keeps at most this much of a panic message (`docs/ABI.md` §4).
const MAX_PANIC_MESSAGE: usize = 64 * 1024;

/// Cuts `s` to at most `max` bytes, at a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

fn install_panic_hook() {
    if HOOK_INSTALLED.with(|h| h.replace(true)) {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let msg = info.payload_as_str().unwrap_or("Box<dyn Any>");
        let mut msg = match info.location() {
            Some(l) => format!("{msg} (at {}:{}:{})", l.file(), l.line(), l.column()),
            None => msg.to_owned(),
        };
        truncate(&mut msg, MAX_PANIC_MESSAGE);
        sys::panic(&msg);
    }));
}

/// `__interstice_call`: runs reducer number `index` on the argument array
/// the host wrote at `ptr` (from `__interstice_alloc(len)`), and returns
/// `(ptr << 32) | len` of its `[0, ok]` / `[1, err]` result, which stays
/// valid until the next call.
pub fn dispatch(index: i32, ptr: i32, len: i32, reducers: &[Invoke]) -> i64 {
    install_panic_hook();
    let len = len as u32 as usize;
    let args_ptr = ptr as u32 as usize as *mut u8;
    let args: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: the host wrote `len` bytes into the buffer it got from
        // `alloc(len)`; the guest owns it from now on.
        unsafe { std::slice::from_raw_parts(args_ptr, len) }
    };
    let invoke = match usize::try_from(index).ok().and_then(|i| reducers.get(i)) {
        Some(f) => *f,
        None => panic!(
            "interstice: no reducer #{index} (this module has {})",
            reducers.len()
        ),
    };
    let mut out = Writer::from_vec(RESULT.with(|r| {
        let mut v = r.take();
        v.clear();
        v
    }));
    invoke(args, &mut out);
    // SAFETY: `args` is not used past this point; the buffer came from
    // `alloc(len)`.
    unsafe { free(args_ptr, len) };
    let out = out.into_vec();
    let packed = host::pack(addr(out.as_ptr()), out.len() as u32);
    RESULT.with(|r| *r.borrow_mut() = out);
    packed
}

#[cfg(test)]
mod tests;
