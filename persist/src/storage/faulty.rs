//! [`FaultyStorage`]: an in-memory [`Storage`] that injects I/O faults and
//! simulates crashes, deterministically from a seed.
//!
//! It models what a crash can leave behind under the durability contract of
//! [`crate::storage`]: per file, the bytes up to the last successful `sync`
//! survive; directory entries survive as of the last `create` or `sync_dir`.
//! [`FaultyStorage::crash`] applies that model (optionally keeping a random,
//! possibly zero-filled, prefix of the unsynced bytes, as a torn write
//! would), and every file handle opened before the crash becomes stale.
//!
//! ```
//! use std::sync::Arc;
//! use interstice_persist::{CrashMode, Fault, FaultPlan, FaultyStorage, Op, Storage};
//!
//! // Fail the second fsync; everything else works.
//! let disk = FaultyStorage::with_plan(FaultPlan::seeded(7).fail_nth(Op::Sync, 2, Fault::Error));
//! let storage: Arc<dyn Storage> = Arc::new(disk.clone());
//! let mut f = storage.create("a").unwrap();
//! f.append(b"kept").unwrap();
//! f.sync().unwrap();
//! f.append(b" lost").unwrap();
//! assert!(f.sync().is_err());
//! disk.crash(CrashMode::DropUnsynced);
//! assert_eq!(disk.file("a").unwrap(), b"kept");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::storage::{check_name, SegmentFile, Storage, TORN_WRITE_SECTOR};

/// A storage operation, as counted and matched by a [`FaultPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// [`Storage::list`].
    List,
    /// [`Storage::read`].
    Read,
    /// [`Storage::create`].
    Create,
    /// [`Storage::open_append`].
    OpenAppend,
    /// [`SegmentFile::append`].
    Write,
    /// [`SegmentFile::sync`].
    Sync,
    /// [`Storage::truncate`].
    Truncate,
    /// [`Storage::remove`].
    Remove,
    /// [`Storage::rename`].
    Rename,
    /// [`Storage::sync_dir`].
    SyncDir,
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with an I/O error. A failed `create` has made the file
    /// but not made its directory entry durable; a failed `sync` or `sync_dir`
    /// made nothing durable; other calls do nothing.
    Error,
    /// For writes: a random strict prefix of the buffer is written, then the
    /// call fails with an I/O error. Other calls: as [`Fault::Error`].
    ShortWrite,
    /// The call fails with [`io::ErrorKind::StorageFull`] (ENOSPC); a write
    /// first writes a random strict prefix of the buffer.
    NoSpace,
}

/// When a [`FaultRule`] fires, counting calls of its [`Op`] from 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultWhen {
    /// Only the `n`-th call.
    Nth(u64),
    /// The `n`-th call and every one after it.
    From(u64),
    /// Each call independently with this probability (from the plan's seed).
    Probability(f64),
}

/// One fault rule: which calls fail and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRule {
    /// Which operation.
    pub op: Op,
    /// Which calls of it.
    pub when: FaultWhen,
    /// What happens.
    pub fault: Fault,
}

/// A seeded list of fault rules. The first rule that fires wins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultPlan {
    /// Seed of every random choice (probabilistic rules, short-write and
    /// torn-crash lengths).
    pub seed: u64,
    /// The rules, tried in order.
    pub rules: Vec<FaultRule>,
}

impl FaultPlan {
    /// No faults; random choices seeded with 0.
    pub fn none() -> Self {
        Self::default()
    }

    /// No faults yet; random choices seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            rules: Vec::new(),
        }
    }

    /// Adds a rule.
    pub fn rule(mut self, op: Op, when: FaultWhen, fault: Fault) -> Self {
        self.rules.push(FaultRule { op, when, fault });
        self
    }

    /// Fails only the `n`-th call (1-based) of `op`.
    pub fn fail_nth(self, op: Op, n: u64, fault: Fault) -> Self {
        self.rule(op, FaultWhen::Nth(n), fault)
    }

    /// Fails the `n`-th call of `op` and every later one.
    pub fn fail_from(self, op: Op, n: u64, fault: Fault) -> Self {
        self.rule(op, FaultWhen::From(n), fault)
    }

    /// Fails each call of `op` with probability `p`.
    pub fn fail_randomly(self, op: Op, p: f64, fault: Fault) -> Self {
        self.rule(op, FaultWhen::Probability(p), fault)
    }
}

/// How much unsynced data a [`FaultyStorage::crash`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Power loss: every unsynced byte and every unsynced directory change is lost.
    DropUnsynced,
    /// Power loss with torn writes: each file keeps a random prefix of its
    /// unsynced bytes.
    TornUnsynced,
    /// As [`CrashMode::TornUnsynced`], but a random suffix of the kept
    /// unsynced bytes reads back as zeros (the file grew, its data never
    /// landed): from where the synced bytes end, or from a
    /// [`TORN_WRITE_SECTOR`] boundary (a disk writes whole sectors).
    TornZeroFill,
    /// Process crash: the OS survives, so every byte and directory change is
    /// kept (still not durable until synced).
    KeepAll,
}

/// A fault that [`FaultyStorage`] injected, for test diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// The operation.
    pub op: Op,
    /// Which call of it (1-based).
    pub nth: u64,
    /// The file it concerned (empty for `list` and `sync_dir`).
    pub name: String,
    /// What was injected.
    pub fault: Fault,
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} on {:?} call #{} ({:?})",
            self.fault, self.op, self.nth, self.name
        )
    }
}

/// A small deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    fn upto(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        }
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a float in [0, 1).
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

type FileId = u64;

#[derive(Debug, Default, Clone)]
struct MemFile {
    data: Vec<u8>,
    /// `data[..synced]` survives a crash.
    synced: usize,
}

#[derive(Debug)]
struct State {
    /// The directory as it is now.
    dir: BTreeMap<String, FileId>,
    /// The directory as a crash would leave it.
    durable_dir: BTreeMap<String, FileId>,
    files: HashMap<FileId, MemFile>,
    next_id: FileId,
    /// Bumped by every crash; handles from an older generation are stale.
    generation: u64,
    plan: FaultPlan,
    rng: SplitMix64,
    counts: BTreeMap<Op, u64>,
    capacity: Option<u64>,
    injected: Vec<InjectedFault>,
}

impl State {
    fn new(plan: FaultPlan) -> Self {
        Self {
            dir: BTreeMap::new(),
            durable_dir: BTreeMap::new(),
            files: HashMap::new(),
            next_id: 0,
            generation: 0,
            rng: SplitMix64(plan.seed),
            plan,
            counts: BTreeMap::new(),
            capacity: None,
            injected: Vec::new(),
        }
    }

    /// Counts a call of `op` and returns the fault to inject, if any.
    fn begin(&mut self, op: Op, name: &str) -> Option<Fault> {
        let count = self.counts.entry(op).or_insert(0);
        *count += 1;
        let nth = *count;
        let mut hit = None;
        for rule in self.plan.rules.iter().filter(|r| r.op == op) {
            let fires = match rule.when {
                FaultWhen::Nth(n) => nth == n,
                FaultWhen::From(n) => nth >= n,
                FaultWhen::Probability(p) => self.rng.chance(p),
            };
            if fires {
                hit = Some(rule.fault);
                break;
            }
        }
        if let Some(fault) = hit {
            self.injected.push(InjectedFault {
                op,
                nth,
                name: name.to_owned(),
                fault,
            });
        }
        hit
    }

    fn id(&self, name: &str) -> io::Result<FileId> {
        self.dir.get(name).copied().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no such file {name:?}"))
        })
    }

    fn used(&self) -> u64 {
        let live: std::collections::BTreeSet<FileId> = self.dir.values().copied().collect();
        live.iter()
            .filter_map(|id| self.files.get(id))
            .map(|f| f.data.len() as u64)
            .sum()
    }

    fn collect_garbage(&mut self) {
        let dir = &self.dir;
        let durable = &self.durable_dir;
        self.files
            .retain(|id, _| dir.values().any(|v| v == id) || durable.values().any(|v| v == id));
    }
}

fn injected_error(op: Op, fault: Fault) -> io::Error {
    match fault {
        Fault::NoSpace => io::Error::new(
            io::ErrorKind::StorageFull,
            format!("injected ENOSPC on {op:?}"),
        ),
        Fault::Error | Fault::ShortWrite => {
            io::Error::other(format!("injected I/O error on {op:?}"))
        }
    }
}

/// An in-memory, fault-injecting, crashable [`Storage`]. Clones share state:
/// keep one in the test, give another (in an `Arc<dyn Storage>`) to the log.
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    state: Arc<Mutex<State>>,
}

impl Default for FaultyStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultyStorage {
    /// An empty storage that injects no faults.
    pub fn new() -> Self {
        Self::with_plan(FaultPlan::none())
    }

    /// An empty storage following `plan`.
    pub fn with_plan(plan: FaultPlan) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::new(plan))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the fault plan (and reseeds); call counts keep running.
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut s = self.lock();
        s.rng = SplitMix64(plan.seed);
        s.plan = plan;
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.lock().plan.rules.clear();
    }

    /// Limits the total bytes of all files; writes past it fail with
    /// [`io::ErrorKind::StorageFull`] after writing what fits.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock().capacity = bytes;
    }

    /// How many calls of `op` were made so far.
    pub fn count(&self, op: Op) -> u64 {
        self.lock().counts.get(&op).copied().unwrap_or(0)
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<InjectedFault> {
        self.lock().injected.clone()
    }

    /// Simulates a crash (see [`CrashMode`]). File handles opened before it
    /// fail from now on.
    pub fn crash(&self, mode: CrashMode) {
        let mut guard = self.lock();
        let s = &mut *guard;
        s.generation += 1;
        if mode == CrashMode::KeepAll {
            return;
        }
        s.dir = s.durable_dir.clone();
        s.collect_garbage();
        let mut ids: Vec<FileId> = s.files.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(f) = s.files.get_mut(&id) else {
                continue;
            };
            let unsynced = f.data.len().saturating_sub(f.synced) as u64;
            let keep = match mode {
                CrashMode::DropUnsynced | CrashMode::KeepAll => 0,
                CrashMode::TornUnsynced | CrashMode::TornZeroFill => s.rng.upto(unsynced),
            } as usize;
            let end = f.synced + keep;
            f.data.truncate(end);
            if mode == CrashMode::TornZeroFill && keep > 0 {
                // Zeros start where the synced bytes end or at a sector
                // boundary in the kept bytes (a sector is written whole).
                let sector = TORN_WRITE_SECTOR as usize;
                let first = (f.synced + 1).next_multiple_of(sector);
                let boundaries = end.saturating_sub(first).div_ceil(sector) as u64;
                let zero_from = match s.rng.upto(boundaries) {
                    0 => f.synced,
                    k => first + (k as usize - 1) * sector,
                };
                f.data[zero_from..].fill(0);
            }
            f.synced = f.data.len();
        }
    }

    /// A file's current contents (synced or not).
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        let s = self.lock();
        let id = s.dir.get(name)?;
        s.files.get(id).map(|f| f.data.clone())
    }

    /// How many leading bytes of a file would survive a crash.
    pub fn synced_len(&self, name: &str) -> Option<u64> {
        let s = self.lock();
        let id = s.dir.get(name)?;
        s.files.get(id).map(|f| f.synced as u64)
    }

    /// Names of the files present now, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().dir.keys().cloned().collect()
    }

    /// Creates or replaces a file with `data`, durably, bypassing faults and
    /// counters. For staging test input.
    pub fn put(&self, name: &str, data: Vec<u8>) {
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        let synced = data.len();
        s.files.insert(id, MemFile { data, synced });
        s.dir.insert(name.to_owned(), id);
        s.durable_dir.insert(name.to_owned(), id);
        s.collect_garbage();
    }

    /// Edits a file in place (e.g. flips a bit), durably, bypassing faults.
    /// Returns false if there is no such file.
    pub fn modify(&self, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> bool {
        let mut s = self.lock();
        let Some(id) = s.dir.get(name).copied() else {
            return false;
        };
        match s.files.get_mut(&id) {
            Some(f) => {
                edit(&mut f.data);
                f.synced = f.data.len();
                true
            }
            None => false,
        }
    }

    fn handle(&self, name: &str, id: FileId, generation: u64, len: u64) -> Box<dyn SegmentFile> {
        Box::new(MemSegment {
            storage: self.clone(),
            name: name.to_owned(),
            id,
            generation,
            len,
        })
    }
}

impl Storage for FaultyStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut s = self.lock();
        if let Some(f) = s.begin(Op::List, "") {
            return Err(injected_error(Op::List, f));
        }
        Ok(s.dir.keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        check_name(name)?;
        let mut s = self.lock();
        if let Some(f) = s.begin(Op::Read, name) {
            return Err(injected_error(Op::Read, f));
        }
        let id = s.id(name)?;
        Ok(s.files.get(&id).map(|f| f.data.clone()).unwrap_or_default())
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        check_name(name)?;
        let mut s = self.lock();
        let fault = s.begin(Op::Create, name);
        if s.dir.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("file {name:?} exists"),
            ));
        }
        let id = s.next_id;
        s.next_id += 1;
        s.files.insert(id, MemFile::default());
        s.dir.insert(name.to_owned(), id);
        if let Some(f) = fault {
            // The file exists, but the directory fsync failed.
            return Err(injected_error(Op::Create, f));
        }
        s.durable_dir.insert(name.to_owned(), id);
        let generation = s.generation;
        drop(s);
        Ok(self.handle(name, id, generation, 0))
    }

    fn open_append(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        check_name(name)?;
        let mut s = self.lock();
        if let Some(f) = s.begin(Op::OpenAppend, name) {
            return Err(injected_error(Op::OpenAppend, f));
        }
        let id = s.id(name)?;
        let len = s.files.get(&id).map_or(0, |f| f.data.len() as u64);
        let generation = s.generation;
        drop(s);
        Ok(self.handle(name, id, generation, len))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        check_name(name)?;
        let mut s = self.lock();
        if let Some(f) = s.begin(Op::Truncate, name) {
            return Err(injected_error(Op::Truncate, f));
        }
        let id = s.id(name)?;
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        if let Some(f) = s.files.get_mut(&id) {
            f.data.resize(len, 0);
            f.synced = len;
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        let mut s = self.lock();
        if let Some(f) = s.begin(Op::Remove, name) {
            return Err(injected_error(Op::Remove, f));
        }
        s.id(name)?;
        s.dir.remove(name);
        s.collect_garbage();
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        let mut s = self.lock();
        if let Some(f) = s.begin(Op::Rename, from) {
            return Err(injected_error(Op::Rename, f));
        }
        let id = s.id(from)?;
        s.dir.remove(from);
        s.dir.insert(to.to_owned(), id);
        s.collect_garbage();
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut s = self.lock();
        if let Some(f) = s.begin(Op::SyncDir, "") {
            return Err(injected_error(Op::SyncDir, f));
        }
        s.durable_dir = s.dir.clone();
        s.collect_garbage();
        Ok(())
    }
}

/// A file handle on a [`FaultyStorage`].
#[derive(Debug)]
struct MemSegment {
    storage: FaultyStorage,
    name: String,
    id: FileId,
    generation: u64,
    len: u64,
}

impl MemSegment {
    fn check_fresh(&self, s: &State) -> io::Result<()> {
        if s.generation != self.generation {
            return Err(io::Error::other(format!(
                "file handle for {:?} is stale: the storage crashed since it was opened",
                self.name
            )));
        }
        Ok(())
    }
}

impl SegmentFile for MemSegment {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut s = self.storage.lock();
        self.check_fresh(&s)?;
        let fault = s.begin(Op::Write, &self.name);
        let room = match s.capacity {
            Some(cap) => usize::try_from(cap.saturating_sub(s.used())).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let (n, result) = match fault {
            Some(Fault::Error) => (0, Err(injected_error(Op::Write, Fault::Error))),
            Some(f @ (Fault::ShortWrite | Fault::NoSpace)) => {
                let max = buf.len().saturating_sub(1).min(room) as u64;
                (s.rng.upto(max) as usize, Err(injected_error(Op::Write, f)))
            }
            None if buf.len() > room => (
                room,
                Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    format!("storage capacity exhausted writing {:?}", self.name),
                )),
            ),
            None => (buf.len(), Ok(())),
        };
        if let Some(f) = s.files.get_mut(&self.id) {
            f.data.extend_from_slice(&buf[..n]);
            self.len = f.data.len() as u64;
        }
        result
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.storage.lock();
        self.check_fresh(&s)?;
        if let Some(f) = s.begin(Op::Sync, &self.name) {
            return Err(injected_error(Op::Sync, f));
        }
        if let Some(f) = s.files.get_mut(&self.id) {
            f.synced = f.data.len();
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }
}
