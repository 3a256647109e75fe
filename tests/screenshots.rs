//! The screenshots in `screenshots/` are what the UI draws today: regenerate them from the
//! simulated tenant and compare byte for byte. After a UI change, refresh them with
//! `cargo run --example screenshots` and commit the result.

#[path = "../examples/screenshots/shots.rs"]
mod shots;
#[path = "../examples/screenshots/svg.rs"]
mod svg;

// Two workers: the run dialog's lookups run as tasks while the harness waits for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_screenshots_match_the_ui() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = shots::generate(dir.path()).await.expect("screenshots");
    assert!(written.len() >= 5);
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    let mut stale = Vec::new();
    for path in &written {
        let name = path.file_name().expect("name");
        let fresh = std::fs::read(path).expect("fresh");
        let old = std::fs::read(committed.join(name)).unwrap_or_default();
        if fresh != old {
            stale.push(name.to_string_lossy().into_owned());
        }
    }
    assert!(
        stale.is_empty(),
        "screenshots out of date: {stale:?}; run `cargo run --example screenshots` and commit them"
    );
}
