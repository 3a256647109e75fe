//! The payload cache. Completed results never change, so each raw payload is kept by
//! (tenant, action id, index): written atomically (temp file + rename, 0600 in a 0700
//! directory), verified by SHA-256 when a process first reads it (and whenever its size or
//! modification time has changed since), evicted least-recently-used past a cap.

use std::collections::HashMap;
use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ResultKey;
use crate::api::models::MachineAction;

mod index;
mod shelf;
use index::Index;
use shelf::Shelf;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EntryMeta {
    pub sha256: String,
    pub size: u64,
    /// From `Content-Disposition` for `GetFile` results.
    pub file_name: Option<String>,
    pub fetched_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    /// Sizes and last uses, walked from the directory when first needed.
    index: Arc<Mutex<Option<Index>>>,
    /// Payloads this process has verified (or stored from a verified download), with the
    /// size and modification time they had then: read again unchanged, they are not hashed
    /// again. Anything that rewrites a payload changes its modification time.
    verified: Arc<Mutex<HashMap<PathBuf, (u64, SystemTime)>>>,
    /// The finished actions kept, read from their files when first needed.
    shelf: Arc<Mutex<Option<Shelf>>>,
}

#[derive(Debug, Clone)]
pub struct CachedPayload {
    pub path: PathBuf,
    pub meta: EntryMeta,
}

/// What `lookup` found.
#[derive(Debug)]
pub enum Lookup {
    /// Hashed already by this process, and unchanged since.
    Verified(CachedPayload),
    /// Not hashed yet: `verify` before trusting it.
    Unverified(CachedPayload),
}

pub const DEFAULT_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

impl Cache {
    /// `scope` keeps tenants and apps apart (e.g. a hash of tenant and client id).
    pub fn open(root: &Path, scope: &str, max_bytes: u64) -> std::io::Result<Self> {
        let dir = root.join(scope);
        // The root may be a directory the user shares (`--cache-dir /srv/ir`): left as it
        // is. The scope directory below it is lrx's own, 0700.
        crate::files::ensure_dir(root)?;
        crate::files::own_private_dir(&dir)?;
        Ok(Self {
            dir,
            max_bytes,
            index: Arc::default(),
            verified: Arc::default(),
            shelf: Arc::default(),
        })
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Whether a payload of this size can be kept at all (a bigger one would evict
    /// everything, itself included).
    pub fn fits(&self, size: u64) -> bool {
        size <= self.max_bytes
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn stem(key: &ResultKey) -> String {
        // Action ids are GUIDs, but they come from the service: never trust them as paths.
        let id = key.action_id.to_ascii_lowercase();
        let safe = id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') && !id.is_empty();
        if safe {
            format!("{id}-{}", key.index)
        } else {
            format!(
                "{}-{}",
                hex::encode(Sha256::digest(id.as_bytes())),
                key.index
            )
        }
    }

    fn paths(&self, key: &ResultKey) -> (PathBuf, PathBuf) {
        let stem = Self::stem(key);
        (
            self.dir.join(format!("{stem}.payload")),
            self.dir.join(format!("{stem}.json")),
        )
    }

    fn with_shelf<T>(&self, work: impl FnOnce(&mut Shelf) -> T) -> T {
        let mut guard = self.shelf.lock().unwrap_or_else(PoisonError::into_inner);
        work(guard.get_or_insert_with(|| Shelf::read(&self.dir)))
    }

    /// An action kept because it had reached a final state: it never changes again, so a
    /// revisit needs no call. Unreadable or unfinished entries count as absent.
    pub fn get_action(&self, id: &str) -> Option<MachineAction> {
        let (action, file) = self.with_shelf(|shelf| shelf.get(id))?;
        self.touch(&file);
        Some(action)
    }

    /// The kept actions this query lists, newest first, as the service would page them
    /// (offline, the list is made from these).
    pub fn list_actions(&self, query: &crate::api::ListQuery) -> Vec<MachineAction> {
        let mut actions: Vec<MachineAction> = shelf::all(&self.dir)
            .into_iter()
            .filter(|action| action.status.is_final() && query.matches(action))
            .collect();
        actions.sort_by(|a, b| {
            b.creation_date_time_utc
                .cmp(&a.creation_date_time_utc)
                .then_with(|| a.id.cmp(&b.id))
        });
        let limit = if query.limit == 0 {
            usize::MAX
        } else {
            query.limit
        };
        actions.into_iter().skip(query.skip).take(limit).collect()
    }

    /// Keeps an action that has reached a final state; an unfinished one is not kept.
    pub fn put_action(&self, action: &MachineAction) -> std::io::Result<()> {
        self.put_actions(std::slice::from_ref(action))
    }

    /// Keeps the actions of a list page that have reached a final state and are not kept
    /// yet, in one file.
    pub fn put_actions(&self, actions: &[MachineAction]) -> std::io::Result<()> {
        let nonce = rand_nonce();
        let temp = self.dir.join(format!(".{nonce:016x}.part"));
        let file = self.dir.join(format!("{nonce:016x}.{}", shelf::EXTENSION));
        if self.with_shelf(|shelf| shelf.keep(&temp, &file, actions))? {
            self.touch(&file);
            self.evict_keeping(Some(&file), false);
        }
        Ok(())
    }

    /// A fresh temp path in the cache directory, for a download to stream into.
    pub fn temp_path(&self, key: &ResultKey) -> PathBuf {
        let nonce: u64 = rand_nonce();
        self.dir
            .join(format!(".{}-{nonce:016x}.part", Self::stem(key)))
    }

    /// The cached payload, if present and intact; a corrupt entry is removed. A payload
    /// is hashed once per process: read again unchanged, it is not hashed again.
    pub fn get(&self, key: &ResultKey) -> Option<CachedPayload> {
        match self.lookup(key)? {
            Lookup::Verified(payload) => Some(payload),
            Lookup::Unverified(payload) => self.verify(key, payload),
        }
    }

    /// The cached payload without hashing it: whether this process has verified it already
    /// says which. Whoever takes an `Unverified` one calls `verify` before trusting it, so
    /// that the hashing can run beside other work (decoding it for the screen).
    pub fn lookup(&self, key: &ResultKey) -> Option<Lookup> {
        let (payload, meta_path) = self.paths(key);
        let meta: EntryMeta = serde_json::from_slice(&fs::read(&meta_path).ok()?).ok()?;
        let on_disk = fs::metadata(&payload).ok()?;
        let seen = (on_disk.len(), on_disk.modified().ok()?);
        let known_good = self
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&payload)
            == Some(&seen);
        let found = CachedPayload {
            path: payload,
            meta,
        };
        if known_good {
            self.touch(&found.path);
            return Some(Lookup::Verified(found));
        }
        Some(Lookup::Unverified(found))
    }

    /// Hashes a payload `lookup` found against its metadata: intact, it is remembered (and
    /// marked used); corrupt, the entry is removed.
    pub fn verify(&self, key: &ResultKey, payload: CachedPayload) -> Option<CachedPayload> {
        let intact = fs::metadata(&payload.path).is_ok_and(|m| m.len() == payload.meta.size)
            && sha256_file(&payload.path).is_ok_and(|sha| sha == payload.meta.sha256);
        if !intact {
            tracing::warn!(action = %key.action_id, index = key.index, "cache entry failed its SHA-256 check; refetching");
            self.remove_entry(&payload.path);
            return None;
        }
        self.touch(&payload.path);
        Some(payload)
    }

    /// Moves a completed download into the cache. The payload is renamed into place before
    /// its metadata, so a crash in between leaves an entry that `get` ignores.
    pub fn put(
        &self,
        key: &ResultKey,
        downloaded: &Path,
        meta: EntryMeta,
    ) -> std::io::Result<CachedPayload> {
        let (payload, meta_path) = self.paths(key);
        fs::rename(downloaded, &payload)?;
        let temp_meta = self.temp_path(key);
        {
            let mut file = crate::files::create_private_new(&temp_meta)?;
            file.write_all(&serde_json::to_vec(&meta).unwrap_or_default())?;
            file.sync_all()?;
        }
        fs::rename(&temp_meta, &meta_path)?;
        // Hashed as it downloaded: verified already.
        self.touch(&payload);
        self.evict_keeping(Some(&payload), false);
        Ok(CachedPayload {
            path: payload,
            meta,
        })
    }

    /// Removes stale temp files and the least recently used entries beyond the cap, from a
    /// fresh walk of the directory.
    pub fn evict(&self) {
        self.evict_keeping(None, true);
    }

    /// Marks an entry just used (its modification time is its last use, for every lrx
    /// process) and remembers it as it now is. A payload is only touched once it is known
    /// to be intact.
    fn touch(&self, path: &Path) {
        if let Ok(file) = fs::File::options().write(true).open(path) {
            let _ = file.set_modified(SystemTime::now());
        }
        let Ok(now) = fs::metadata(path) else { return };
        let Ok(modified) = now.modified() else { return };
        if path.extension().is_some_and(|e| e == "payload") {
            self.verified
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(path.to_path_buf(), (now.len(), modified));
        }
        // Only an index already walked is kept up to date: a single read need not walk.
        if let Some(index) = self
            .index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            index.record(path.to_path_buf(), now.len(), modified);
        }
    }

    /// Removes a payload (or kept action) with its metadata, and forgets it.
    fn remove_entry(&self, path: &Path) {
        let _ = fs::remove_file(path.with_extension("json"));
        let _ = fs::remove_file(path);
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(path);
        if let Some(index) = self
            .index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            index.forget(path);
        }
    }

    /// As `evict`, never removing `keep` (the entry just stored). The directory is walked
    /// only when the index is missing, old, or `walk` asks for it.
    fn evict_keeping(&self, keep: Option<&Path>, walk: bool) {
        let gone = {
            let mut guard = self.index.lock().unwrap_or_else(PoisonError::into_inner);
            let index = match guard.as_mut() {
                Some(index) if !walk && !index.is_old() => index,
                _ => guard.insert(Index::walk(&self.dir)),
            };
            index.evict_beyond(self.max_bytes, keep)
        };
        for path in gone {
            self.remove_entry(&path);
        }
    }
}

fn rand_nonce() -> u64 {
    use std::hash::BuildHasher as _;
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(index: u32) -> ResultKey {
        ResultKey {
            action_id: "c141bb71-8125-4234-a184-5d1e4f0c2a77".into(),
            index,
        }
    }

    fn store(cache: &Cache, key: &ResultKey, bytes: &[u8]) -> CachedPayload {
        let temp = cache.temp_path(key);
        let mut file = crate::files::create_private_new(&temp).expect("temp");
        file.write_all(bytes).expect("write");
        let meta = EntryMeta {
            sha256: hex::encode(Sha256::digest(bytes)),
            size: bytes.len() as u64,
            file_name: None,
            fetched_at: chrono::Utc::now(),
        };
        cache.put(key, &temp, meta).expect("put")
    }

    #[test]
    fn round_trips_and_detects_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path(), "tenant-app", DEFAULT_MAX_BYTES).expect("open");
        let stored = store(&cache, &key(0), b"payload");
        assert_eq!(cache.get(&key(0)).map(|c| c.meta.size), Some(7));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&stored.path)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = fs::metadata(cache.dir())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        // Verified once, a payload is not hashed again on the next read; but one rewritten
        // since (same size, other bytes) is caught.
        assert!(cache.get(&key(0)).is_some());
        fs::write(&stored.path, b"PAYLOAD").expect("corrupt");
        fs::File::options()
            .write(true)
            .open(&stored.path)
            .and_then(|f| f.set_modified(std::time::SystemTime::UNIX_EPOCH))
            .expect("age");
        assert!(cache.get(&key(0)).is_none(), "a corrupted entry is a miss");
        assert!(!stored.path.exists(), "and is removed");
        store(&cache, &key(0), b"payload");
        fs::write(cache.paths(&key(0)).0, b"tampered").expect("corrupt");
        assert!(cache.get(&key(0)).is_none(), "another size: a miss");
    }

    #[test]
    fn a_killed_download_leaves_no_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path(), "s", DEFAULT_MAX_BYTES).expect("open");
        let temp = cache.temp_path(&key(1));
        fs::write(&temp, b"half a paylo").expect("partial");
        assert!(cache.get(&key(1)).is_none());
    }

    #[test]
    fn evicts_least_recently_used_past_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path(), "s", 25).expect("open");
        store(&cache, &key(0), &[0u8; 10]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        store(&cache, &key(1), &[1u8; 10]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(
            cache.get(&key(0)).is_some(),
            "touch 0, so 1 is now the oldest"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        store(&cache, &key(2), &[2u8; 10]);
        assert!(cache.get(&key(0)).is_some());
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(2)).is_some());
    }

    #[test]
    fn the_entry_just_stored_is_never_the_one_evicted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path(), "s", 25).expect("open");
        store(&cache, &key(0), &[0u8; 10]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Older than everything else by its mtime, as a download that took long would be.
        let temp = cache.temp_path(&key(1));
        fs::write(&temp, [1u8; 20]).expect("write");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&temp)
            .and_then(|f| f.set_modified(old))
            .expect("age");
        let meta = EntryMeta {
            sha256: hex::encode(Sha256::digest([1u8; 20])),
            size: 20,
            file_name: None,
            fetched_at: chrono::Utc::now(),
        };
        cache.put(&key(1), &temp, meta).expect("put");
        assert!(cache.get(&key(1)).is_some(), "kept: it was just stored");
        assert!(cache.get(&key(0)).is_none(), "the other made room");
        assert!(cache.fits(25) && !cache.fits(26));
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_cache_root_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).expect("mkdir");
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).expect("chmod");
        let cache = Cache::open(&shared, "scope", DEFAULT_MAX_BYTES).expect("open");
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(
            mode(&shared),
            0o755,
            "the shared directory is left as it was"
        );
        assert_eq!(
            mode(cache.dir()),
            0o700,
            "lrx's own subdirectory is private"
        );
    }

    fn action(id: &str, status: &str, machine: &str, created: &str) -> MachineAction {
        serde_json::from_value(serde_json::json!({
            "id": id, "type": "LiveResponse", "status": status, "machineId": machine,
            "requestor": "Analyst@Contoso.com", "creationDateTimeUtc": created, "commands": [],
        }))
        .expect("action")
    }

    #[test]
    fn kept_actions_list_offline_as_the_service_would() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path(), "scope", 1 << 20).expect("cache");
        for kept in [
            action("a1", "Succeeded", "m1", "2026-11-30T10:00:00Z"),
            action("a2", "Failed", "m2", "2026-12-01T10:00:00Z"),
            action("a3", "Pending", "m1", "2026-12-01T11:00:00Z"),
            action("a4", "Cancelled", "M1", "2026-12-01T09:00:00Z"),
        ] {
            cache.put_action(&kept).expect("put");
        }
        let ids = |query: &crate::api::ListQuery| -> Vec<String> {
            cache
                .list_actions(query)
                .into_iter()
                .map(|a| a.id)
                .collect()
        };
        let all = crate::api::ListQuery::live_response(0);
        assert_eq!(
            ids(&all),
            ["a2", "a4", "a1"],
            "newest first; unfinished never kept"
        );
        let on_m1 = crate::api::ListQuery {
            machine_id: Some("m1".into()),
            requestor: Some("analyst@contoso.com".into()),
            ..all.clone()
        };
        assert_eq!(ids(&on_m1), ["a4", "a1"], "names compare without case");
        let paged = crate::api::ListQuery {
            limit: 1,
            skip: 1,
            ..all.clone()
        };
        assert_eq!(ids(&paged), ["a4"]);
        let recent = crate::api::ListQuery {
            statuses: vec!["Failed".into(), "Succeeded".into()],
            since: crate::api::models::parse_time("2026-12-01T00:00:00Z"),
            ..all.clone()
        };
        assert_eq!(ids(&recent), ["a2"]);
        let isolations = crate::api::ListQuery {
            action_type: Some("Isolate".into()),
            ..all
        };
        assert!(ids(&isolations).is_empty());
    }

    #[test]
    fn hostile_ids_cannot_escape_the_directory() {
        let stem = Cache::stem(&ResultKey {
            action_id: "../../etc/passwd".into(),
            index: 0,
        });
        assert!(!stem.contains('/') && !stem.contains(".."));
    }
}
