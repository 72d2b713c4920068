//! Names and conventions of the guest/host boundary (`docs/ABI.md` §3–4).
//!
//! All pointers and lengths are `i32` holding unsigned 32-bit offsets into
//! the guest's exported `memory`. The host validates every pointer and length
//! and traps the call on a bad one; it never reads outside the memory.
//!
//! Variable-sized results go through the *return buffer*: a host call that
//! produces bytes stores them host-side and returns their length; the guest
//! allocates that many bytes and calls [`RETURN_READ`] to copy them in. The
//! buffer is overwritten by the next call that produces bytes.

/// Import module name of every host call.
pub const IMPORT_MODULE: &str = "interstice";

/// `table_insert(table: i32, ptr: i32, len: i32) -> i64`: inserts the row
/// (`[columns…]`). For an `auto_inc` table a key of 0 is replaced by the next
/// id. Returns the length of the stored row (with its key) in the return
/// buffer. Traps with a constraint violation if the key exists.
pub const TABLE_INSERT: &str = "table_insert";
/// `table_update(table: i32, ptr: i32, len: i32) -> i32`: replaces the row
/// with the same key; 1 if it existed, 0 if not (nothing written).
pub const TABLE_UPDATE: &str = "table_update";
/// `table_delete(table: i32, key_ptr: i32, key_len: i32) -> i32`: deletes by
/// key (the encoded key value); 1 if deleted, 0 if absent.
pub const TABLE_DELETE: &str = "table_delete";
/// `table_get(table: i32, key_ptr: i32, key_len: i32) -> i64`: the row's
/// length in the return buffer, or [`NOT_FOUND`].
pub const TABLE_GET: &str = "table_get";
/// `table_count(table: i32) -> i64`: number of rows.
pub const TABLE_COUNT: &str = "table_count";
/// `scan_open(table: i32) -> i32`: a scan handle over the table in key order.
pub const SCAN_OPEN: &str = "scan_open";
/// `scan_next(handle: i32) -> i64`: the next row's length in the return
/// buffer, or [`NOT_FOUND`] at the end. Rows written during the scan are seen
/// if their key is after the last row returned.
pub const SCAN_NEXT: &str = "scan_next";
/// `scan_close(handle: i32)`: releases a scan handle.
pub const SCAN_CLOSE: &str = "scan_close";
/// `query_open(table: i32, ptr: i32, len: i32) -> i32`: opens a query
/// (`[index, lower, upper, filter]`, [`crate::query`]) over the table; a
/// handle for [`QUERY_PAGE`] (at most 1024 open per call).
pub const QUERY_OPEN: &str = "query_open";
/// `query_page(handle: i32, max_rows: i32) -> i64`: the next page, a CBOR
/// array of at most `max_rows` rows (capped by the host), in the return
/// buffer, and its length; [`NOT_FOUND`] once nothing is left. A page may
/// be an empty array when the filter kept nothing of the entries examined.
pub const QUERY_PAGE: &str = "query_page";
/// `query_first(table: i32, ptr: i32, len: i32) -> i64`: the first row of
/// a query (`[index, lower, upper, filter]`) in the return buffer, and its
/// length; [`NOT_FOUND`] if it has none. One call for what `query_open`,
/// `query_page` and `query_close` do for one row: point lookups.
pub const QUERY_FIRST: &str = "query_first";
/// `query_close(handle: i32)`: releases a query handle.
pub const QUERY_CLOSE: &str = "query_close";
/// `query_aggregate(table: i32, ptr: i32, len: i32) -> i64`: evaluates
/// `[query, op, column]` host-side; the result value is in the return
/// buffer and its length is returned.
pub const QUERY_AGGREGATE: &str = "query_aggregate";
/// `return_read(ptr: i32, len: i32)`: copies the return buffer to `ptr`;
/// `len` must equal the buffer's length.
pub const RETURN_READ: &str = "return_read";
/// `log(level: i32, ptr: i32, len: i32)`: a UTF-8 log line; levels below.
pub const LOG: &str = "log";
/// `timestamp() -> i64`: the transaction's logical timestamp (0 in reads).
pub const TIMESTAMP: &str = "timestamp";
/// `now_micros() -> i64`: wall-clock microseconds since the Unix epoch,
/// captured once per transaction and recorded in the log.
pub const NOW_MICROS: &str = "now_micros";
/// `rng_seed(ptr: i32)`: writes the transaction's 32-byte rng seed, which is
/// recorded in the log.
pub const RNG_SEED: &str = "rng_seed";
/// `call_async(ptr: i32, len: i32)`: queues a call `[module, reducer, args]`
/// to another module's write reducer, delivered after this commit.
pub const CALL_ASYNC: &str = "call_async";
/// `call_async_reply(ptr: i32, len: i32)`: queues a call `[module, reducer,
/// args, reply]` like [`CALL_ASYNC`], whose outcome is delivered back to
/// `reply`, a write reducer of the calling module, as a transaction of its
/// own (`docs/ABI.md` §4.2, [`crate::reply`]).
pub const CALL_ASYNC_REPLY: &str = "call_async_reply";
/// `call_read(ptr: i32, len: i32) -> i64`: runs `[module, reducer, args]`, a
/// read reducer of a declared dependency, now; the result (`[0, ok]` or
/// `[1, err]`) is in the return buffer, and its length is returned.
pub const CALL_READ: &str = "call_read";
/// `panic(ptr: i32, len: i32)`: records a panic message before the guest
/// aborts, so the caller sees "panic: …" rather than a bare trap.
pub const PANIC: &str = "panic";

/// Returned by lookups that find nothing.
pub const NOT_FOUND: i64 = -1;

/// `memory`: the guest's linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// `__interstice_abi_version() -> i32`.
pub const EXPORT_ABI_VERSION: &str = "__interstice_abi_version";
/// `__interstice_schema() -> i64`: `(ptr << 32) | len` of the schema CBOR.
pub const EXPORT_SCHEMA: &str = "__interstice_schema";
/// `__interstice_alloc(len: i32) -> i32`: a guest buffer the host fills with
/// reducer arguments; ownership passes to the guest with the call.
pub const EXPORT_ALLOC: &str = "__interstice_alloc";
/// `__interstice_call(reducer: i32, ptr: i32, len: i32) -> i64`: runs reducer
/// number `reducer` on the argument array at `ptr`; returns
/// `(ptr << 32) | len` of the result, `[0, ok]` or `[1, err]`, which stays
/// valid until the next call.
pub const EXPORT_CALL: &str = "__interstice_call";

/// Result tag for `Ok`.
pub const RESULT_OK: u64 = 0;
/// Result tag for `Err`.
pub const RESULT_ERR: u64 = 1;

/// Which side a reducer's `[tag, value]` result is on (`docs/ABI.md` §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultTag {
    /// [`RESULT_OK`]: the value is the reducer's return value.
    Ok,
    /// [`RESULT_ERR`]: the value is the reducer's `Err` value.
    Err,
}

/// Writes the head of a `[tag, value]` result; the value must follow.
pub fn write_result_head(w: &mut crate::cbor::Writer, tag: ResultTag) {
    w.array(2);
    w.u64(match tag {
        ResultTag::Ok => RESULT_OK,
        ResultTag::Err => RESULT_ERR,
    });
}

/// Reads the head of a `[tag, value]` result, leaving `r` at the value.
/// A tag other than 0 or 1 is an error naming it.
pub fn read_result_head(r: &mut crate::cbor::Reader<'_>) -> Result<ResultTag, crate::AbiError> {
    r.array_of(2)?;
    let offset = r.position();
    match r.u64()? {
        RESULT_OK => Ok(ResultTag::Ok),
        RESULT_ERR => Ok(ResultTag::Err),
        tag => Err(crate::AbiError::Cbor {
            offset,
            reason: format!("result tag {tag} is neither 0 (ok) nor 1 (err)"),
        }),
    }
}

/// Log levels for [`LOG`].
pub mod level {
    /// Error.
    pub const ERROR: i32 = 0;
    /// Warning.
    pub const WARN: i32 = 1;
    /// Info.
    pub const INFO: i32 = 2;
    /// Debug.
    pub const DEBUG: i32 = 3;
    /// Trace.
    pub const TRACE: i32 = 4;
}

/// Packs a pointer and length into the `i64` returned by exports.
pub fn pack(ptr: u32, len: u32) -> i64 {
    (((ptr as u64) << 32) | len as u64) as i64
}

/// Splits a packed `i64` into `(ptr, len)`.
pub fn unpack(v: i64) -> (u32, u32) {
    let v = v as u64;
    ((v >> 32) as u32, v as u32)
}
