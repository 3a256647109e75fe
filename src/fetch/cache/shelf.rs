//! Where the cache keeps finished actions: a list page's worth in one file (`*.actions`, a
//! line per action), never a file per action — 50,000 actions listed are a handful of
//! writes, not 50,000 files created, renamed and stat-ed.
//!
//! A line is the action's id as a JSON string, a tab, and the action as JSON: the id can
//! be read without parsing the action, so finding one action among many reads only the
//! ids. Each file is written whole and renamed into place, so a reader never sees half of
//! one. Two processes may keep the same action twice; a final action never changes, so
//! either copy is the same and readers take the first.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use crate::api::models::MachineAction;

pub(super) const EXTENSION: &str = "actions";

/// Where one kept action's line is.
#[derive(Debug, Clone)]
struct Spot {
    file: PathBuf,
    offset: u64,
    len: usize,
}

/// The ids this process knows are kept, and where: read from the files once, then kept
/// up to date by what it keeps itself.
#[derive(Debug, Default)]
pub(super) struct Shelf {
    spots: HashMap<String, Spot>,
}

fn key(id: &str) -> String {
    id.to_ascii_lowercase()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == EXTENSION))
        .collect()
}

/// Each line of `bytes` with its offset, as (id, offset of the action's JSON, its length).
fn lines(bytes: &[u8]) -> impl Iterator<Item = (String, usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        loop {
            if start >= bytes.len() {
                return None;
            }
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |at| start + at);
            let line = &bytes[start..end];
            let line_start = start;
            start = end + 1;
            let Some(tab) = memchr::memchr(b'\t', line) else {
                continue;
            };
            let Ok(id) = serde_json::from_slice::<String>(&line[..tab]) else {
                continue;
            };
            return Some((id, line_start + tab + 1, line.len() - tab - 1));
        }
    })
}

/// Each kept line in `dir`: its file, the file's bytes, the id, and where the action's
/// JSON is in those bytes.
fn each_line(dir: &Path, mut take: impl FnMut(&Path, &[u8], String, usize, usize)) {
    for file in files(dir) {
        let Ok(bytes) = fs::read(&file) else { continue };
        for (id, offset, len) in lines(&bytes) {
            take(&file, &bytes, id, offset, len);
        }
    }
}

impl Shelf {
    /// Every kept id in `dir`, and where it is.
    pub(super) fn read(dir: &Path) -> Self {
        let mut shelf = Self::default();
        each_line(dir, |file, _, id, offset, len| {
            shelf.spots.entry(key(&id)).or_insert_with(|| Spot {
                file: file.to_path_buf(),
                offset: offset as u64,
                len,
            });
        });
        shelf
    }

    #[cfg(test)]
    pub(super) fn knows(&self, id: &str) -> bool {
        self.spots.contains_key(&key(id))
    }

    /// The kept action `id`, if its file is still there and its line reads back as it.
    pub(super) fn get(&mut self, id: &str) -> Option<(MachineAction, PathBuf)> {
        let spot = self.spots.get(&key(id))?.clone();
        let read = || -> std::io::Result<Vec<u8>> {
            let mut file = fs::File::open(&spot.file)?;
            file.seek(std::io::SeekFrom::Start(spot.offset))?;
            let mut line = vec![0; spot.len];
            file.read_exact(&mut line)?;
            Ok(line)
        };
        let action = read()
            .ok()
            .and_then(|line| serde_json::from_slice::<MachineAction>(&line).ok())
            .filter(|action| action.status.is_final() && action.id.eq_ignore_ascii_case(id));
        if let Some(action) = action {
            Some((action, spot.file))
        } else {
            // Evicted, or not what it claimed: as if never kept.
            self.spots.remove(&key(id));
            None
        }
    }

    /// Writes the final actions among `actions` that are not kept yet into a new file,
    /// `path` (through `temp`, renamed into place); false when there was nothing to keep.
    pub(super) fn keep(
        &mut self,
        temp: &Path,
        path: &Path,
        actions: &[MachineAction],
    ) -> std::io::Result<bool> {
        let mut seen = HashSet::new();
        let mut text = Vec::new();
        let mut placed = Vec::new();
        for action in actions {
            let id = key(&action.id);
            if !action.status.is_final() || self.spots.contains_key(&id) || !seen.insert(id) {
                continue;
            }
            serde_json::to_writer(&mut text, &action.id).map_err(std::io::Error::other)?;
            text.push(b'\t');
            let offset = text.len();
            serde_json::to_writer(&mut text, action).map_err(std::io::Error::other)?;
            placed.push((key(&action.id), offset, text.len() - offset));
            text.push(b'\n');
        }
        if placed.is_empty() {
            return Ok(false);
        }
        {
            let mut file = crate::files::create_private_new(temp)?;
            file.write_all(&text)?;
        }
        fs::rename(temp, path).inspect_err(|_| {
            let _ = fs::remove_file(temp);
        })?;
        for (id, offset, len) in placed {
            self.spots.insert(
                id,
                Spot {
                    file: path.to_path_buf(),
                    offset: offset as u64,
                    len,
                },
            );
        }
        Ok(true)
    }
}

/// Every kept action in `dir`, each once.
pub(super) fn all(dir: &Path) -> Vec<MachineAction> {
    let mut seen = HashSet::new();
    let mut actions = Vec::new();
    each_line(dir, |_, bytes, id, offset, len| {
        if seen.insert(key(&id))
            && let Ok(action) = serde_json::from_slice(&bytes[offset..offset + len])
        {
            actions.push(action);
        }
    });
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(id: &str, status: &str) -> MachineAction {
        serde_json::from_value(serde_json::json!({
            "id": id, "type": "LiveResponse", "status": status, "commands": [],
        }))
        .expect("action")
    }

    #[test]
    fn a_page_is_one_file_and_each_action_reads_back_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut shelf = Shelf::read(dir.path());
        let page = [
            action("a\t\"1\n", "Succeeded"),
            action("a2", "Pending"),
            action("A3", "Failed"),
            action("a3", "Failed"),
        ];
        let file = dir.path().join("p1.actions");
        assert!(
            shelf
                .keep(&dir.path().join(".p1.part"), &file, &page)
                .expect("keep")
        );
        assert_eq!(files(dir.path()), [file]);
        assert!(
            !shelf
                .keep(
                    &dir.path().join(".p2.part"),
                    &dir.path().join("p2.actions"),
                    &page
                )
                .expect("keep"),
            "nothing new to keep"
        );
        // Another process reads the same file from scratch.
        let mut again = Shelf::read(dir.path());
        assert_eq!(
            again.get("A\t\"1\n").map(|(a, _)| a.id),
            Some("a\t\"1\n".into())
        );
        assert_eq!(again.get("a3").map(|(a, _)| a.id), Some("A3".into()));
        assert!(!again.knows("a2"), "an unfinished action is never kept");
        let ids: Vec<String> = all(dir.path()).into_iter().map(|a| a.id).collect();
        assert_eq!(ids, ["a\t\"1\n", "A3"]);
    }

    #[test]
    fn a_torn_or_foreign_line_is_passed_over_and_an_evicted_file_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = serde_json::to_string(&action("g1", "Succeeded")).expect("json");
        fs::write(
            dir.path().join("x.actions"),
            format!("no tab here\n\"g1\"\t{good}\n\"t1\"\t{{\"id\":\"t1\",\"sta"),
        )
        .expect("write");
        let mut shelf = Shelf::read(dir.path());
        assert!(shelf.get("g1").is_some());
        assert!(shelf.get("t1").is_none(), "a torn line is not an action");
        fs::remove_file(dir.path().join("x.actions")).expect("remove");
        assert!(shelf.get("g1").is_none());
        assert!(!shelf.knows("g1"), "forgotten once its file is gone");
    }
}
