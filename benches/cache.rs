//! Cache benchmarks at fleet scale, printed as plain numbers (run: `cargo bench --bench cache`).
//!
//! 1. 5,000 payloads stored one after another under a cap they overflow: the time per store
//!    for the first and the last 500 (flat, not growing with the entries held), and the
//!    total.
//! 2. 5,000 reads: the first read of each (hashed) and the second (verified already).

use std::io::Write as _;
use std::time::Instant;

use lrx::fetch::ResultKey;
use lrx::fetch::cache::{Cache, EntryMeta};
use sha2::Digest as _;

const ENTRIES: u32 = 5_000;
const PAYLOAD: usize = 16 * 1024;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Room for 4,000 of them: the last thousand stores each evict one.
    let cache = Cache::open(dir.path(), "bench", 4_000 * PAYLOAD as u64).expect("cache");
    let payload = vec![b'x'; PAYLOAD];
    let meta = EntryMeta {
        sha256: hex::encode(sha2::Sha256::digest(&payload)),
        size: PAYLOAD as u64,
        file_name: None,
        fetched_at: chrono::Utc::now(),
    };
    let key = |i: u32| ResultKey::new(format!("{i:08x}-0000-4000-8000-000000000000"), 0);
    let mut per_store = Vec::new();
    let started = Instant::now();
    for i in 0..ENTRIES {
        let at = Instant::now();
        let temp = cache.temp_path(&key(i));
        let mut file = std::fs::File::create(&temp).expect("temp");
        file.write_all(&payload).expect("write");
        drop(file);
        cache.put(&key(i), &temp, meta.clone()).expect("put");
        per_store.push(at.elapsed());
    }
    let total = started.elapsed();
    let mean_us = |slice: &[std::time::Duration]| {
        slice
            .iter()
            .map(std::time::Duration::as_secs_f64)
            .sum::<f64>()
            / slice.len() as f64
            * 1e6
    };
    println!(
        "store {ENTRIES} × {} KiB (cap 4000): {:.2} s in all · first 500 {:.0} µs/store · last 500 {:.0} µs/store",
        PAYLOAD / 1024,
        total.as_secs_f64(),
        mean_us(&per_store[..500]),
        mean_us(&per_store[per_store.len() - 500..]),
    );
    // Another process opening the same cache: it has verified nothing yet.
    let cache = Cache::open(dir.path(), "bench", 4_000 * PAYLOAD as u64).expect("cache");
    for pass in ["first read (hashed)", "second read (verified already)"] {
        let started = Instant::now();
        let hits = (ENTRIES - 4_000..ENTRIES)
            .filter(|i| cache.get(&key(*i)).is_some())
            .count();
        println!(
            "{pass}: {hits} hits in {:.0} ms ({:.0} µs/read)",
            started.elapsed().as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e6 / f64::from(4_000u32),
        );
    }
}
