//! The host calls of `interstice_abi::host`, and safe wrappers over them.
//!
//! On wasm32 they are imports from module `interstice`. On any other target
//! (docs, host-side tests) they are stubs that panic: a module only runs
//! inside the runtime.

// Pointers and lengths cross as i32 holding unsigned 32-bit values.
#[inline]
fn ptr(p: *const u8) -> i32 {
    p as usize as i32
}

#[inline]
fn len(n: usize) -> i32 {
    u32::try_from(n).expect("buffer longer than 4 GiB") as i32
}

macro_rules! host_calls {
    ($( fn $name:ident($($arg:ident: $t:ty),*) $(-> $ret:ty)?; )*) => {
        #[cfg(target_arch = "wasm32")]
        mod imports {
            #[link(wasm_import_module = "interstice")]
            unsafe extern "C" {
                $(
                    pub(super) fn $name($($arg: $t),*) $(-> $ret)?;
                )*
            }
        }

        #[cfg(not(target_arch = "wasm32"))]
        #[allow(clippy::missing_safety_doc)]
        mod imports {
            $(
                pub(super) unsafe fn $name($(_: $t),*) $(-> $ret)? {
                    super::unavailable(stringify!($name))
                }
            )*
        }
    };
}

host_calls! {
    fn table_insert(table: i32, ptr: i32, len: i32) -> i64;
    fn table_update(table: i32, ptr: i32, len: i32) -> i32;
    fn table_delete(table: i32, key_ptr: i32, key_len: i32) -> i32;
    fn table_get(table: i32, key_ptr: i32, key_len: i32) -> i64;
    fn table_count(table: i32) -> i64;
    fn scan_open(table: i32) -> i32;
    fn scan_next(handle: i32) -> i64;
    fn scan_close(handle: i32);
    fn query_open(table: i32, ptr: i32, len: i32) -> i32;
    fn query_page(handle: i32, max_rows: i32) -> i64;
    fn query_close(handle: i32);
    fn query_aggregate(table: i32, ptr: i32, len: i32) -> i64;
    fn query_first(table: i32, ptr: i32, len: i32) -> i64;
    fn return_read(ptr: i32, len: i32);
    fn log(level: i32, ptr: i32, len: i32);
    fn timestamp() -> i64;
    fn now_micros() -> i64;
    fn rng_seed(ptr: i32);
    fn call_async(ptr: i32, len: i32);
    fn call_async_reply(ptr: i32, len: i32);
    fn call_read(ptr: i32, len: i32) -> i64;
    fn panic(ptr: i32, len: i32);
}

#[cfg(not(target_arch = "wasm32"))]
#[cold]
fn unavailable(call: &str) -> ! {
    panic!(
        "interstice host call `{call}` is only available inside the Interstice runtime \
         (build the module for wasm32-unknown-unknown and load it into a runtime)"
    )
}

/// Copies the return buffer, `len` bytes long, into a new vector.
fn take_return(n: i64) -> Vec<u8> {
    let n = usize::try_from(n).expect("interstice: the host returned a negative length");
    let mut buf: Vec<u8> = Vec::with_capacity(n);
    // SAFETY: `buf` has room for `n` bytes; the host writes exactly `n`
    // (the length it just returned) before this returns.
    unsafe {
        imports::return_read(ptr(buf.as_mut_ptr()), len(n));
        buf.set_len(n);
    }
    buf
}

/// `Some(bytes)` for a length, `None` for [`NOT_FOUND`](interstice_abi::host::NOT_FOUND).
fn take_optional(n: i64) -> Option<Vec<u8>> {
    if n == interstice_abi::host::NOT_FOUND {
        None
    } else {
        Some(take_return(n))
    }
}

fn table_id(t: u32) -> i32 {
    t as i32
}

/// Inserts an encoded row; returns the stored row's encoding.
pub(crate) fn insert(table: u32, row: &[u8]) -> Vec<u8> {
    // SAFETY: the host reads `row` within its bounds.
    take_return(unsafe {
        imports::table_insert(table_id(table), ptr(row.as_ptr()), len(row.len()))
    })
}

/// Inserts an encoded row without reading the stored row back.
pub(crate) fn insert_discard(table: u32, row: &[u8]) {
    // SAFETY: as in `insert`.
    unsafe { imports::table_insert(table_id(table), ptr(row.as_ptr()), len(row.len())) };
}

/// Replaces the row with the same key; true if it existed.
pub(crate) fn update(table: u32, row: &[u8]) -> bool {
    // SAFETY: the host reads `row` within its bounds.
    unsafe { imports::table_update(table_id(table), ptr(row.as_ptr()), len(row.len())) != 0 }
}

/// Deletes by encoded key; true if a row was deleted.
pub(crate) fn delete(table: u32, key: &[u8]) -> bool {
    // SAFETY: the host reads `key` within its bounds.
    unsafe { imports::table_delete(table_id(table), ptr(key.as_ptr()), len(key.len())) != 0 }
}

/// The encoded row with this encoded key.
pub(crate) fn get(table: u32, key: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: the host reads `key` within its bounds.
    take_optional(unsafe { imports::table_get(table_id(table), ptr(key.as_ptr()), len(key.len())) })
}

/// Number of rows.
pub(crate) fn count(table: u32) -> u64 {
    // SAFETY: no memory is passed.
    let n = unsafe { imports::table_count(table_id(table)) };
    u64::try_from(n).expect("interstice: the host returned a negative row count")
}

/// Opens a scan in key order.
pub(crate) fn scan_open(table: u32) -> i32 {
    // SAFETY: no memory is passed.
    unsafe { imports::scan_open(table_id(table)) }
}

/// The next encoded row of a scan.
pub(crate) fn scan_next(handle: i32) -> Option<Vec<u8>> {
    // SAFETY: no memory is passed.
    take_optional(unsafe { imports::scan_next(handle) })
}

/// Releases a scan.
pub(crate) fn scan_close(handle: i32) {
    // SAFETY: no memory is passed.
    unsafe { imports::scan_close(handle) }
}

/// Sends a log line.
pub(crate) fn log(level: i32, msg: &str) {
    // SAFETY: the host reads `msg` within its bounds.
    unsafe { imports::log(level, ptr(msg.as_ptr()), len(msg.len())) }
}

/// The transaction's logical timestamp.
pub(crate) fn timestamp() -> u64 {
    // SAFETY: no memory is passed.
    unsafe { imports::timestamp() as u64 }
}

/// Wall-clock microseconds, fixed for the transaction.
pub(crate) fn now_micros() -> u64 {
    // SAFETY: no memory is passed.
    unsafe { imports::now_micros() as u64 }
}

/// The transaction's 32-byte rng seed.
pub(crate) fn rng_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    // SAFETY: `seed` has the 32 bytes the host writes.
    unsafe { imports::rng_seed(ptr(seed.as_mut_ptr())) };
    seed
}

/// Queues `[module, reducer, args]` for delivery after this commit.
pub(crate) fn call_async(call: &[u8]) {
    // SAFETY: the host reads `call` within its bounds.
    unsafe { imports::call_async(ptr(call.as_ptr()), len(call.len())) }
}

/// Queues `[module, reducer, args, reply]`, a call whose outcome goes to
/// `reply`.
pub(crate) fn call_async_reply(call: &[u8]) {
    // SAFETY: the host reads `len` bytes at `ptr`, which stay valid for the call.
    unsafe { imports::call_async_reply(ptr(call.as_ptr()), len(call.len())) }
}

/// Runs `[module, reducer, args]` now; returns the encoded `[tag, value]`.
pub(crate) fn call_read(call: &[u8]) -> Vec<u8> {
    // SAFETY: the host reads `call` within its bounds.
    take_return(unsafe { imports::call_read(ptr(call.as_ptr()), len(call.len())) })
}

/// Records a panic message before the guest aborts.
pub(crate) fn panic(msg: &str) {
    // SAFETY: the host reads `msg` within its bounds.
    unsafe { imports::panic(ptr(msg.as_ptr()), len(msg.len())) }
}

/// Opens a query (`[index, lower, upper, filter]`) over a table.
pub(crate) fn query_open(table: u32, query: &[u8]) -> i32 {
    // SAFETY: the host reads `query` within its bounds.
    unsafe { imports::query_open(table_id(table), ptr(query.as_ptr()), len(query.len())) }
}

/// The next page of a query (a CBOR array of rows), or `None` at the end.
pub(crate) fn query_page(handle: i32, max_rows: u32) -> Option<Vec<u8>> {
    // SAFETY: no memory is passed.
    take_optional(unsafe { imports::query_page(handle, max_rows as i32) })
}

/// The first row of a query, or `None`.
pub(crate) fn query_first(table: u32, query: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: the host reads `query` within its bounds.
    take_optional(unsafe {
        imports::query_first(table_id(table), ptr(query.as_ptr()), len(query.len()))
    })
}

/// Releases a query.
pub(crate) fn query_close(handle: i32) {
    // SAFETY: no memory is passed.
    unsafe { imports::query_close(handle) }
}

/// Runs `[query, op, column]` host-side; returns the encoded result.
pub(crate) fn query_aggregate(table: u32, spec: &[u8]) -> Vec<u8> {
    // SAFETY: the host reads `spec` within its bounds.
    take_return(unsafe {
        imports::query_aggregate(table_id(table), ptr(spec.as_ptr()), len(spec.len()))
    })
}
