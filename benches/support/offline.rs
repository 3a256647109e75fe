//! What the benchmarks that drive the release binary share: which binary, a home of its
//! own, and an offline cache filled as a sweep would leave it.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use lrx::fetch::ResultKey;
use lrx::fetch::cache::{Cache, EntryMeta};
use sha2::Digest as _;

/// The binary under test: this build's, or another's (`LRX_BENCH_BIN`, to compare a build
/// from before a change on the same data).
pub(crate) fn lrx() -> String {
    std::env::var("LRX_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lrx").to_string())
}

pub(crate) struct Env {
    _dir: tempfile::TempDir,
    pub(crate) home: PathBuf,
    pub(crate) cache: PathBuf,
}

impl Env {
    /// A home and a cache root of their own, gone when dropped.
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        Self {
            cache: dir.path().join("cache"),
            home,
            _dir: dir,
        }
    }

    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(lrx());
        self.apply(&mut command);
        command.args(self.args());
        command
    }

    pub(crate) fn apply(&self, command: &mut Command) {
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env("XDG_STATE_HOME", self.home.join("state"))
            .env("XDG_DATA_HOME", self.home.join("data"))
            .env("XDG_CACHE_HOME", self.home.join("cache"))
            .env("TERM", "xterm-256color");
    }

    pub(crate) fn args(&self) -> Vec<String> {
        [
            "--offline",
            "--tenant",
            "8b1a3c52-0d4e-4f6a-9b7c-2e5d1f0a9c31",
            "--client-id",
            "4f2d7e90-6a1b-4c3d-8e5f-0a9b8c7d6e51",
            "--cache-dir",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .chain([self.cache.display().to_string()])
        .collect()
    }
}

/// A cache of `count` results (one per action, five scripts in turn), each output made by
/// `output`, under the scope lrx itself picks for this connection (found by letting it
/// create the directory).
pub(crate) fn fill_with(env: &Env, count: usize, output: impl Fn(usize) -> String) {
    let made = env
        .command()
        .args(["actions", "--json"])
        .output()
        .expect("lrx");
    assert!(made.status.success(), "{made:?}");
    let scope = std::fs::read_dir(&env.cache)
        .expect("cache root")
        .flatten()
        .find(|e| e.path().is_dir())
        .expect("lrx made its scope directory")
        .file_name();
    let cache = Cache::open(&env.cache, &scope.to_string_lossy(), 4 << 30).expect("cache");
    let now = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut actions = Vec::with_capacity(count);
    for i in 0..count {
        let (action, payload) = lrx::fixtures::sweep_result(i, now, &output(i));
        let key = ResultKey::new(action.id.clone(), 0);
        let temp = cache.temp_path(&key);
        std::fs::File::create(&temp)
            .and_then(|mut f| f.write_all(payload.as_bytes()))
            .expect("payload");
        let meta = EntryMeta {
            sha256: hex::encode(sha2::Sha256::digest(payload.as_bytes())),
            size: payload.len() as u64,
            file_name: None,
            fetched_at: now,
        };
        cache.put(&key, &temp, meta).expect("put");
        actions.push(action);
    }
    // As a list page keeps them: one file for them all.
    cache.put_actions(&actions).expect("actions");
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub(crate) const HUGE: usize = 100 * 1024 * 1024;
pub(crate) const FIRST_TEXT: &str = "An account was successfully logged on";

pub(crate) fn huge_output() -> String {
    let mut text = String::with_capacity(HUGE + 256);
    text.push_str("Transcript started, output file is C:\\ProgramData\\x\\PSScript.txt\n");
    let mut i = 0u64;
    while text.len() < HUGE {
        text.push_str(&format!(
            "2026-11-20T12:{:02}:{:02}.{:03}Z  4624  An account was successfully logged on. Logon Type: 3 Process: C:\\Windows\\System32\\lsass.exe {i}\n",
            i % 60,
            (i / 60) % 60,
            i % 1000
        ));
        i += 1;
    }
    text
}
