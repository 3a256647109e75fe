//! What the cache holds, kept in memory: each entry's size and last use, so that storing a
//! payload costs O(log n) instead of a walk of the directory (which stat-ed every entry on
//! every write: quadratic over a fleet's sweep), and eviction takes the oldest first.
//!
//! The entries themselves persist it: sizes and modification times (a read touches the
//! payload) are read back by one walk when a process first needs them, and again now and
//! then, so that what other lrx processes stored or evicted is folded in.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How long a walk's picture of the directory is trusted before the next walk.
const RESCAN_AFTER: Duration = Duration::from_secs(300);

/// A temp file this old is a download that died: removed on the next walk.
const STALE_PART: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub(super) struct Index {
    entries: HashMap<PathBuf, Entry>,
    by_age: BTreeSet<(SystemTime, PathBuf)>,
    total: u64,
    walked_at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    last_use: SystemTime,
}

/// Files that count towards the cap: payloads and kept actions (`action`: one each, as
/// lrx kept them before they were kept by the page, left to age out).
fn counts(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "payload" || e == super::shelf::EXTENSION || e == "action")
}

impl Index {
    /// One walk of `dir`: every entry's size and last use; dead temp files removed.
    pub(super) fn walk(dir: &Path) -> Self {
        let mut index = Self {
            entries: HashMap::new(),
            by_age: BTreeSet::new(),
            total: 0,
            walked_at: Instant::now(),
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return index;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if path.extension().is_some_and(|e| e == "part") {
                if modified.elapsed().unwrap_or_default() > STALE_PART {
                    let _ = std::fs::remove_file(&path);
                }
            } else if counts(&path) {
                index.record(path, metadata.len(), modified);
            }
        }
        index
    }

    pub(super) fn is_old(&self) -> bool {
        self.walked_at.elapsed() > RESCAN_AFTER
    }

    #[cfg(test)]
    pub(super) fn total(&self) -> u64 {
        self.total
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// An entry stored or read: its size and when.
    pub(super) fn record(&mut self, path: PathBuf, size: u64, last_use: SystemTime) {
        self.forget(&path);
        self.total += size;
        self.by_age.insert((last_use, path.clone()));
        self.entries.insert(path, Entry { size, last_use });
    }

    pub(super) fn forget(&mut self, path: &Path) {
        if let Some(old) = self.entries.remove(path) {
            self.total = self.total.saturating_sub(old.size);
            self.by_age.remove(&(old.last_use, path.to_path_buf()));
        }
    }

    /// The least recently used entries to remove, oldest first, until the rest fit in
    /// `cap` — never `keep` (the entry just stored). They are forgotten here; the caller
    /// removes the files.
    pub(super) fn evict_beyond(&mut self, cap: u64, keep: Option<&Path>) -> Vec<PathBuf> {
        let mut gone = Vec::new();
        while self.total > cap {
            // At most one entry is skipped: the walk stays at the oldest end.
            let Some(oldest) = self
                .by_age
                .iter()
                .map(|(_, path)| path)
                .find(|path| Some(path.as_path()) != keep)
                .cloned()
            else {
                break;
            };
            self.forget(&oldest);
            gone.push(oldest);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn the_oldest_go_first_and_the_kept_one_never() {
        let mut index = Index::walk(Path::new("/nonexistent"));
        for (name, size, when) in [("a", 10, 1), ("b", 10, 2), ("c", 10, 3), ("d", 10, 4)] {
            index.record(PathBuf::from(name), size, at(when));
        }
        // `a` used again: `b` is now the oldest.
        index.record(PathBuf::from("a"), 10, at(5));
        assert_eq!(index.total(), 40);
        let gone = index.evict_beyond(20, Some(Path::new("b")));
        assert_eq!(gone, [PathBuf::from("c"), PathBuf::from("d")], "b is kept");
        assert_eq!((index.total(), index.len()), (20, 2));
        assert_eq!(index.evict_beyond(20, None), Vec::<PathBuf>::new());
        index.forget(Path::new("a"));
        assert_eq!(index.total(), 10);
    }
}
