//! The source watcher of `interstice dev`: which paths of each crate are
//! watched (a [`WatchSet`], from the local packages its last build used),
//! the `notify` watcher over all of them, and the debounce that turns a
//! burst of file events into one change per crate.
//!
//! For each local package of a crate's build (the crate itself and its path
//! dependencies) the set holds:
//! - the directory of each target's root source file, recursively (`src/`),
//!   when it is inside the package and not the package's own directory;
//! - `Cargo.toml`, and root source files elsewhere (`build.rs` beside
//!   `Cargo.toml`), one by one: their directories are watched without
//!   recursion, so a crate's own `target/` never triggers a rebuild.
//!
//! Editors' temporaries (hidden files, `~` backups, `.swp`, vim's `4913`)
//! are ignored. Directories are watched rather than files, so an editor
//! that saves by renaming a new file over the old one is still seen; the
//! watches are set up again after every successful build (a package
//! added, a `src/` recreated).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::CliError;
use crate::guest_build::PackageSources;

/// The paths of one crate whose changes rebuild it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct WatchSet {
    /// Directories watched with everything under them.
    pub(super) trees: Vec<PathBuf>,
    /// Single files (their directory is watched without recursion).
    pub(super) files: Vec<PathBuf>,
}

impl WatchSet {
    /// The set of a crate whose last build used `sources`.
    pub(super) fn of(sources: &[PackageSources]) -> WatchSet {
        let mut set = WatchSet::default();
        for p in sources {
            set.files.push(p.dir.join("Cargo.toml"));
            for root in &p.roots {
                match root.parent() {
                    Some(parent) if parent != p.dir && parent.starts_with(&p.dir) => {
                        set.trees.push(parent.to_path_buf())
                    }
                    _ => set.files.push(root.clone()),
                }
            }
        }
        set.trees.sort();
        set.trees.dedup();
        // A tree inside another is watched by the outer one.
        let outer = set.trees.clone();
        set.trees
            .retain(|t| !outer.iter().any(|o| o != t && t.starts_with(o)));
        set.files.sort();
        set.files.dedup();
        let trees = set.trees.clone();
        set.files
            .retain(|f| !trees.iter().any(|t| f.starts_with(t)));
        set
    }

    /// Whether a change of `path` concerns this crate.
    pub(super) fn matches(&self, path: &Path) -> bool {
        if ignored(path) {
            return false;
        }
        self.files.iter().any(|f| f == path) || self.trees.iter().any(|t| path.starts_with(t))
    }
}

/// Whether `path` is an editor's temporary or backup file.
pub(super) fn ignored(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == "4913"
}

/// The events of the `notify` watcher, as they come.
type Events = mpsc::UnboundedReceiver<notify::Result<Event>>;

/// Watches every crate's [`WatchSet`].
pub(super) struct Watcher {
    sets: Vec<WatchSet>,
    tx: mpsc::UnboundedSender<notify::Result<Event>>,
    rx: Events,
    inner: RecommendedWatcher,
}

impl Watcher {
    /// Watches the crates whose last builds used `sources` (in crate order).
    pub(super) fn new<'a>(
        sources: impl Iterator<Item = &'a [PackageSources]>,
    ) -> Result<Watcher, CliError> {
        let sets: Vec<WatchSet> = sources.map(WatchSet::of).collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = arm(&tx, &sets)?;
        Ok(Watcher {
            sets,
            tx,
            rx,
            inner,
        })
    }

    /// Watches crate `idx` anew after a build that used `sources` (and
    /// every other crate's paths again). The new watches are set up before
    /// the old ones are dropped, so no event falls between them; if no new
    /// watcher can be made (the system's limit of watchers), the old one
    /// goes on, with a warning.
    pub(super) fn update(&mut self, idx: usize, sources: &[PackageSources]) {
        self.sets[idx] = WatchSet::of(sources);
        match arm(&self.tx, &self.sets) {
            Ok(w) => self.inner = w,
            Err(e) => tracing::warn!("{e}; the old watches stay"),
        }
    }

    /// `N directories and M files`, for the ready line.
    pub(super) fn describe(&self) -> String {
        let trees: usize = self.sets.iter().map(|s| s.trees.len()).sum();
        let files: usize = self.sets.iter().map(|s| s.files.len()).sum();
        format!(
            "{trees} source director{} and {files} file{} of {} crate{}",
            if trees == 1 { "y" } else { "ies" },
            if files == 1 { "" } else { "s" },
            self.sets.len(),
            if self.sets.len() == 1 { "" } else { "s" },
        )
    }

    /// Waits for a change and for the sources to stay unchanged for
    /// `quiet` after it; returns each crate that changed (by index) with
    /// the last path that changed it. `None` if the watcher stopped.
    pub(super) async fn next_change(
        &mut self,
        quiet: Duration,
    ) -> Option<BTreeMap<usize, PathBuf>> {
        let mut changed = BTreeMap::new();
        let mut deadline: Option<Instant> = None;
        loop {
            let event = match deadline {
                None => self.rx.recv().await,
                Some(d) => tokio::select! {
                    e = self.rx.recv() => e,
                    () = tokio::time::sleep_until(d) => return Some(changed),
                },
            };
            match event? {
                Ok(event) => {
                    if self.note(&event, &mut changed) {
                        deadline = Some(Instant::now() + quiet);
                    }
                }
                Err(e) => tracing::warn!("watching the sources: {e}"),
            }
        }
    }

    /// Adds the crates `event` concerns to `changed`; whether it concerned
    /// any.
    fn note(&self, event: &Event, changed: &mut BTreeMap<usize, PathBuf>) -> bool {
        if matches!(event.kind, EventKind::Access(_)) {
            return false;
        }
        let mut any = false;
        if event.need_rescan() {
            // Events were lost (the kernel's queue overflowed): rebuild
            // everything rather than miss a change.
            for (i, set) in self.sets.iter().enumerate() {
                let first = set.trees.first().or(set.files.first());
                changed
                    .entry(i)
                    .or_insert_with(|| first.cloned().unwrap_or_default());
            }
            return !self.sets.is_empty();
        }
        for path in &event.paths {
            for (i, set) in self.sets.iter().enumerate() {
                if set.matches(path) {
                    // The latest path: a save by rename ends on the file
                    // saved, not on the editor's temporary.
                    changed.insert(i, path.clone());
                    any = true;
                }
            }
        }
        any
    }
}

/// A `notify` watcher sending to `tx`, watching every set. A path that
/// cannot be watched (removed since the build) is skipped with a warning:
/// the next successful build watches it again.
fn arm(
    tx: &mpsc::UnboundedSender<notify::Result<Event>>,
    sets: &[WatchSet],
) -> Result<RecommendedWatcher, CliError> {
    let tx = tx.clone();
    let mut w = notify::recommended_watcher(move |e: notify::Result<Event>| {
        let _ = tx.send(e);
    })
    .map_err(|e| CliError::Build(format!("cannot watch the sources: {e}")))?;
    // Every tree, then the directories of single files not inside one (a
    // second, non-recursive watch of a path would replace its recursive
    // one).
    let mut trees: Vec<&Path> = sets
        .iter()
        .flat_map(|s| s.trees.iter().map(PathBuf::as_path))
        .collect();
    trees.sort();
    trees.dedup();
    let mut dirs: Vec<&Path> = sets
        .iter()
        .flat_map(|s| s.files.iter().filter_map(|f| f.parent()))
        .filter(|d| !trees.iter().any(|t| d.starts_with(t)))
        .collect();
    dirs.sort();
    dirs.dedup();
    let watches = trees
        .into_iter()
        .map(|t| (t, RecursiveMode::Recursive))
        .chain(dirs.into_iter().map(|d| (d, RecursiveMode::NonRecursive)));
    for (path, mode) in watches {
        if let Err(e) = w.watch(path, mode) {
            tracing::warn!("cannot watch {}: {e}", path.display());
        }
    }
    Ok(w)
}
