//! Snapshots: the replayed state at a timestamp, so that startup can replay
//! only the log suffix after it and retention can delete the segments it
//! covers. The format is specified to the byte in `docs/SNAPSHOT_FORMAT.md`.
//!
//! A snapshot file is `snapshots/<ts:020>.snap`:
//!
//! ```text
//! magic "INTRSNAP" (8) ‖ version u32 LE (4) ‖ body (canonical CBOR) ‖ blake3(everything before) (32)
//! ```
//!
//! Everything read is untrusted: decoding never panics, and any flipped bit
//! or truncation is reported as [`PersistError::SnapshotInvalid`].

use std::fs;
use std::path::{Path, PathBuf};

use interstice_abi::cbor::{Reader, Writer};

use crate::error::{PersistError, Result};
use crate::record::{
    decode_cause, decode_engine, encode_cause, encode_engine, Cause, EngineInfo, Hash,
};
use crate::safe_fs::{self, sync_directory};

/// Name of the snapshot directory inside the data directory.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// File magic.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"INTRSNAP";
/// The format version this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 3;
/// The oldest version read (version 1 has no fan-out accounting).
pub const SNAPSHOT_VERSION_MIN: u32 = 1;
/// File name suffix.
pub const SNAPSHOT_SUFFIX: &str = ".snap";
/// Bytes before the body: magic and version.
const PREFIX_LEN: usize = 12;
/// Trailing checksum length.
const CHECKSUM_LEN: usize = 32;

/// The replayed state after every log entry with a timestamp ≤ `ts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Every entry up to and including this timestamp is applied.
    pub ts: u64,
    /// The hash of the log batch that ends at `ts` (the zero hash for
    /// `ts == 0`): the log suffix must chain from it.
    pub log_hash: Hash,
    /// Installed modules, in install order.
    pub modules: Vec<SnapshotModule>,
    /// Deliveries pending at `ts`, in the order they must run.
    pub pending: Vec<PendingDelivery>,
    /// The delivery trees the pending deliveries belong to, by root.
    pub fanout: Vec<FanOutTree>,
    /// The engine that wrote the log up to `ts` (the last one the log
    /// records), so that an open from the snapshot knows whether to record
    /// a new one; `None` for an empty log or a snapshot written before
    /// version 3.
    pub engine: Option<EngineInfo>,
}

/// One installed module and its logged tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotModule {
    /// Module name.
    pub name: String,
    /// Module version (as installed).
    pub version: String,
    /// Timestamp of its install entry.
    pub install_ts: u64,
    /// The canonical schema CBOR, exactly as logged by the install.
    pub schema: Vec<u8>,
    /// blake3 of `schema`.
    pub schema_hash: Hash,
    /// blake3 of the module binary in `modules/`.
    pub wasm_hash: Hash,
    /// Its logged tables (ephemeral tables are not in the snapshot).
    pub tables: Vec<SnapshotTable>,
    /// `Some(ts)`: the module was unloaded at `ts` keeping its tables (it
    /// is not loaded; loading it again brings these rows back). An
    /// 8th item only then, so snapshots without unloads are unchanged.
    pub unloaded: Option<u64>,
}

impl SnapshotModule {
    /// The install this module's entry stands for (its engine is not kept
    /// per module: [`Snapshot::engine`] holds the last one recorded).
    pub fn install(&self) -> crate::ModuleInstall {
        crate::ModuleInstall {
            ts: self.install_ts,
            name: self.name.clone(),
            version: self.version.clone(),
            schema: self.schema.clone(),
            schema_hash: self.schema_hash,
            wasm_hash: self.wasm_hash,
            engine: None,
        }
    }
}

/// A logged table's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTable {
    /// The table's index in the module schema.
    pub index: u32,
    /// The id the next `auto_inc` insert of key 0 receives.
    pub next_auto_inc: u128,
    /// `(memcomparable key, row CBOR)` in ascending key order.
    pub rows: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A delivery (init, async call or trigger) that was pending at the
/// snapshot's timestamp, with the key replay tracks it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    /// Timestamp of the entry that caused it.
    pub source_ts: u64,
    /// Its index among that entry's deliveries.
    pub index: u32,
    /// Target module.
    pub target: String,
    /// Target reducer.
    pub reducer: String,
    /// CBOR array of the arguments.
    pub args: Vec<u8>,
    /// The cause its commit will carry.
    pub cause: Cause,
    /// Trigger depth.
    pub depth: u32,
    /// The timestamp at the root of its delivery tree, whose fan-out budget
    /// it counts against; `None` for an init (a root itself). Always `None`
    /// in a version-1 snapshot.
    pub root: Option<u64>,
    /// Cut by the fan-out budget: it will be logged as failed, not run.
    pub cut: bool,
}

/// A delivery tree still open at the snapshot's timestamp (some of its
/// deliveries are pending): its root and how many deliveries it was
/// allowed so far (`Limits::fanout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOutTree {
    /// Timestamp of the external call (or init) at its root.
    pub root: u64,
    /// Deliveries it caused that were not cut.
    pub made: u64,
}

/// `snapshots/` file name for `ts`: 20 zero-padded digits and `.snap`.
pub fn snapshot_file_name(ts: u64) -> String {
    format!("{ts:020}{SNAPSHOT_SUFFIX}")
}

/// The timestamp a snapshot file name stands for, if it is one.
pub fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SNAPSHOT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encodes a snapshot: prefix, CBOR body, trailing checksum.
pub fn encode_snapshot(s: &Snapshot) -> Vec<u8> {
    let mut buf = Vec::with_capacity(PREFIX_LEN);
    buf.extend_from_slice(&SNAPSHOT_MAGIC);
    buf.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    let mut w = Writer::from_vec(buf);
    w.array(6);
    w.u64(s.ts);
    w.bytes(&s.log_hash);
    w.array(s.modules.len());
    for m in &s.modules {
        w.array(if m.unloaded.is_some() { 8 } else { 7 });
        w.str(&m.name);
        w.str(&m.version);
        w.u64(m.install_ts);
        w.bytes(&m.schema);
        w.bytes(&m.schema_hash);
        w.bytes(&m.wasm_hash);
        w.array(m.tables.len());
        for t in &m.tables {
            w.array(3);
            w.u64(u64::from(t.index));
            w.u128(t.next_auto_inc);
            w.array(t.rows.len());
            for (key, row) in &t.rows {
                w.array(2);
                w.bytes(key);
                w.bytes(row);
            }
        }
        if let Some(ts) = m.unloaded {
            w.u64(ts);
        }
    }
    w.array(s.pending.len());
    for d in &s.pending {
        w.array(9);
        w.u64(d.source_ts);
        w.u64(u64::from(d.index));
        w.str(&d.target);
        w.str(&d.reducer);
        w.bytes(&d.args);
        encode_cause(&d.cause, &mut w);
        w.u64(u64::from(d.depth));
        w.u64(d.root.unwrap_or(0));
        w.u64(u64::from(d.cut));
    }
    w.array(s.fanout.len());
    for t in &s.fanout {
        w.array(2);
        w.u64(t.root);
        w.u64(t.made);
    }
    match &s.engine {
        Some(e) => encode_engine(e, &mut w),
        None => w.null(),
    }
    let mut out = w.into_vec();
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// Decodes and verifies a snapshot (`file` names it in errors).
pub fn decode_snapshot(file: &str, bytes: &[u8]) -> Result<Snapshot> {
    let invalid = |reason: String| PersistError::SnapshotInvalid {
        file: file.to_owned(),
        reason,
    };
    if bytes.len() < PREFIX_LEN + CHECKSUM_LEN {
        return Err(invalid(format!("only {} bytes long", bytes.len())));
    }
    if bytes[..8] != SNAPSHOT_MAGIC {
        return Err(invalid("bad magic".into()));
    }
    let (covered, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if blake3::hash(covered).as_bytes() != sum {
        return Err(invalid("checksum mismatch".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if !(SNAPSHOT_VERSION_MIN..=SNAPSHOT_VERSION).contains(&version) {
        return Err(invalid(format!(
            "format version {version}; this build reads versions \
             {SNAPSHOT_VERSION_MIN} to {SNAPSHOT_VERSION}"
        )));
    }
    let mut r = Reader::new(&covered[PREFIX_LEN..]);
    let s = decode_body(&mut r, version).map_err(|e| invalid(e.to_string()))?;
    r.finish().map_err(|e| invalid(e.to_string()))?;
    Ok(s)
}

fn expect_array(r: &mut Reader<'_>, what: &str, n: usize) -> Result<()> {
    let at = r.position();
    let len = r.array()?;
    if len != n {
        return Err(PersistError::Decode {
            offset: at as u64,
            reason: format!("{what} must be an array of {n} items, found {len}"),
        });
    }
    Ok(())
}

fn u32_item(r: &mut Reader<'_>, what: &str) -> Result<u32> {
    let at = r.position();
    let v = r.u64()?;
    u32::try_from(v).map_err(|_| PersistError::Decode {
        offset: at as u64,
        reason: format!("{what} {v} does not fit in 32 bits"),
    })
}

/// Upper bound on capacity reserved for a decoded list before its items are read.
const PREALLOC_LIMIT: usize = 64;

fn decode_body(r: &mut Reader<'_>, version: u32) -> Result<Snapshot> {
    let v2 = version >= 2;
    let items = match version {
        1 => 4,
        2 => 5,
        _ => 6,
    };
    expect_array(r, "snapshot", items)?;
    let ts = r.u64()?;
    let log_hash = r.byte_array::<32>()?;
    let n = r.array()?;
    let mut modules = Vec::with_capacity(n.min(PREALLOC_LIMIT));
    for _ in 0..n {
        // 8 items for a module unloaded with its tables kept.
        let at = r.position();
        let items = r.array()?;
        if items != 7 && items != 8 {
            return Err(PersistError::Decode {
                offset: at as u64,
                reason: format!("snapshot module must be an array of 7 or 8 items, found {items}"),
            });
        }
        let name = r.str()?.to_owned();
        let version = r.str()?.to_owned();
        let install_ts = r.u64()?;
        let schema = r.bytes()?.to_vec();
        let schema_hash = r.byte_array::<32>()?;
        let wasm_hash = r.byte_array::<32>()?;
        let nt = r.array()?;
        let mut tables = Vec::with_capacity(nt.min(PREALLOC_LIMIT));
        for _ in 0..nt {
            expect_array(r, "snapshot table", 3)?;
            let index = u32_item(r, "table index")?;
            let next_auto_inc = r.u128()?;
            let nr = r.array()?;
            let mut rows = Vec::with_capacity(nr.min(PREALLOC_LIMIT));
            for _ in 0..nr {
                expect_array(r, "snapshot row", 2)?;
                let key = r.bytes()?.to_vec();
                let row = r.bytes()?.to_vec();
                rows.push((key, row));
            }
            tables.push(SnapshotTable {
                index,
                next_auto_inc,
                rows,
            });
        }
        let unloaded = if items == 8 { Some(r.u64()?) } else { None };
        modules.push(SnapshotModule {
            name,
            version,
            install_ts,
            schema,
            schema_hash,
            wasm_hash,
            tables,
            unloaded,
        });
    }
    let np = r.array()?;
    let mut pending = Vec::with_capacity(np.min(PREALLOC_LIMIT));
    for _ in 0..np {
        expect_array(r, "pending delivery", if v2 { 9 } else { 7 })?;
        let mut d = PendingDelivery {
            source_ts: r.u64()?,
            index: u32_item(r, "delivery index")?,
            target: r.str()?.to_owned(),
            reducer: r.str()?.to_owned(),
            args: r.bytes()?.to_vec(),
            cause: decode_cause(r)?,
            depth: u32_item(r, "delivery depth")?,
            root: None,
            cut: false,
        };
        if v2 {
            d.root = Some(r.u64()?).filter(|&root| root != 0);
            let at = r.position();
            d.cut = match r.u64()? {
                0 => false,
                1 => true,
                other => {
                    return Err(PersistError::Decode {
                        offset: at as u64,
                        reason: format!("delivery cut flag must be 0 or 1, found {other}"),
                    })
                }
            };
        }
        pending.push(d);
    }
    let mut fanout = Vec::new();
    if v2 {
        let nf = r.array()?;
        fanout.reserve(nf.min(PREALLOC_LIMIT));
        for _ in 0..nf {
            expect_array(r, "fan-out tree", 2)?;
            fanout.push(FanOutTree {
                root: r.u64()?,
                made: r.u64()?,
            });
        }
    }
    let engine = if version >= 3 && !r.try_null() {
        Some(decode_engine(r)?)
    } else {
        None
    };
    Ok(Snapshot {
        ts,
        log_hash,
        modules,
        pending,
        fanout,
        engine,
    })
}

/// Writes `s` crash-safely as `dir/<ts:020>.snap` (creating `dir`): the
/// bytes go to a new `.<name>.tmp` (created with `O_EXCL | O_NOFOLLOW`),
/// which is fsynced, renamed and the directory fsynced. Returns the file's
/// path. A `.tmp` left by a crash is removed when the data directory is
/// next opened ([`crate::DataDir::open`]).
pub fn write_snapshot(dir: &Path, s: &Snapshot) -> Result<PathBuf> {
    fs::create_dir_all(dir)
        .map_err(|e| PersistError::io(format!("creating {}", dir.display()), e))?;
    let name = snapshot_file_name(s.ts);
    let path = dir.join(&name);
    let tmp = format!(".{name}{}", crate::datadir::TMP_SUFFIX);
    safe_fs::write_atomically(dir, &tmp, &name, &encode_snapshot(s)).map_err(|e| {
        PersistError::io(
            format!("writing snapshot {} (via {tmp})", path.display()),
            e,
        )
    })?;
    Ok(path)
}

/// The snapshot files in `dir` as `(ts, path)`, newest first. A missing
/// directory has none; other names (such as `.tmp` leftovers) are ignored.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PersistError::io(format!("listing {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| PersistError::io(format!("listing {}", dir.display()), e))?;
        if let Some(ts) = entry.file_name().to_str().and_then(parse_snapshot_name) {
            out.push((ts, entry.path()));
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.0));
    Ok(out)
}

/// Reads and verifies one snapshot file.
pub fn read_snapshot(path: &Path) -> Result<Snapshot> {
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let bytes =
        safe_fs::read(path).map_err(|e| PersistError::io(format!("reading snapshot {file}"), e))?;
    let s = decode_snapshot(&file, &bytes)?;
    if parse_snapshot_name(&file).is_some_and(|ts| ts != s.ts) {
        return Err(PersistError::SnapshotInvalid {
            file,
            reason: format!("covers timestamp {}, not the one its name says", s.ts),
        });
    }
    Ok(s)
}

/// What retention deletes, decided from names alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionPlan {
    /// Snapshot timestamps to delete (all but the newest `keep`).
    pub delete_snapshots: Vec<u64>,
    /// `first_ts` of the segments to delete: every entry in them is ≤ the
    /// oldest retained snapshot's timestamp. Never the last segment.
    pub delete_segments: Vec<u64>,
}

/// Decides retention: keep the newest `keep` (at least 1) of `snapshots`
/// (timestamps, any order) and delete every segment (by `first_ts`, any
/// order) whose entries all precede or equal the oldest kept snapshot's
/// timestamp. A segment's last entry is one before the next segment's
/// `first_ts`, so the last segment (the one being written) is never deleted.
pub fn plan_retention(snapshots: &[u64], keep: usize, segments: &[u64]) -> RetentionPlan {
    let mut snaps = snapshots.to_vec();
    snaps.sort_unstable_by_key(|t| std::cmp::Reverse(*t));
    snaps.dedup();
    let keep = keep.max(1);
    if snaps.is_empty() {
        return RetentionPlan::default();
    }
    let kept = &snaps[..keep.min(snaps.len())];
    let oldest_kept = *kept.last().expect("at least one kept");
    let delete_snapshots = snaps[kept.len()..].to_vec();
    let mut segs = segments.to_vec();
    segs.sort_unstable();
    segs.dedup();
    let delete_segments = segs
        .windows(2)
        .filter(|w| w[1] - 1 <= oldest_kept)
        .map(|w| w[0])
        .collect();
    RetentionPlan {
        delete_snapshots,
        delete_segments,
    }
}

/// Removes a snapshot file (used by retention) and fsyncs its directory.
pub fn remove_snapshot(dir: &Path, ts: u64) -> Result<()> {
    let path = dir.join(snapshot_file_name(ts));
    fs::remove_file(&path)
        .map_err(|e| PersistError::io(format!("removing {}", path.display()), e))?;
    sync_directory(dir).map_err(|e| PersistError::io(format!("fsyncing {}", dir.display()), e))
}
