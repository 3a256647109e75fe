//! Finding a secret where it must not be: a bearer token by its shape, and every file of a
//! directory tree searched for secrets (included with `#[path]` by the tests that use it).

use std::path::{Path, PathBuf};

/// Where a JWT starts in `text`, if one does: `eyJ…` and two more base64url parts. Only the
/// shape counts, because random bytes (a `GetFile`'s gzip) spell `eyJ` now and then.
pub(crate) fn jwt_at(text: &str) -> Option<usize> {
    let base64url = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    text.match_indices("eyJ").map(|(at, _)| at).find(|&at| {
        let mut parts = text.as_bytes()[at..].split(|b| *b == b'.');
        let header = parts.next().unwrap_or_default();
        let payload = parts.next().unwrap_or_default();
        header.len() >= 10
            && header.iter().all(base64url)
            && payload.starts_with(b"eyJ")
            && payload.iter().take(10).all(base64url)
    })
}

#[test]
fn a_token_is_found_by_its_shape_and_chance_letters_are_not() {
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsaXZlIn0.c2lnbmF0dXJl";
    assert_eq!(jwt_at(&format!("log: {token} end")), Some(5));
    assert_eq!(jwt_at("\u{1}\u{8f}eyJ\u{3}q random gzip bytes"), None);
    assert_eq!(jwt_at("keyJournal.eyJ"), None);
}

/// Every file under `root` that holds one of `secrets` or a token, with what it holds.
pub(crate) fn files_holding_secrets(root: &Path, secrets: &[&str]) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            if let Some(secret) = secrets.iter().find(|s| text.contains(**s)) {
                found.push((path, format!("the secret {secret:?}")));
            } else if let Some(at) = jwt_at(&text) {
                let end = (at + 40).min(text.len());
                found.push((path, format!("a token ({}…)", &text[at..end])));
            }
        }
    }
    found
}
