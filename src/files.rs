//! Writing files that hold evidence or secrets: private (0600 in 0700 directories), never
//! through a planted symlink, never half-written under the final name, and named by lrx
//! rather than by the endpoint.
//!
//! Every write goes to a fresh temporary file created with `create_new` (`O_CREAT|O_EXCL`,
//! which refuses to open an existing path, symlinks included) and is renamed into place:
//! a rename replaces a symlink at the target instead of following it.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// File systems allow 255 bytes a name; lrx stays below, leaving room for ` (2)`.
pub const MAX_NAME_BYTES: usize = 200;

fn nonce() -> u64 {
    use rand_core::RngCore as _;
    rand_core::OsRng.next_u64()
}

/// Opens a new file only its owner can read; fails if anything (a symlink too) is there.
pub fn create_private_new(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates `dir` (and its parents) if missing. A directory lrx creates is 0700; one that
/// already exists is left as it is (it may be shared), but must be a real directory.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory", dir.display()),
        )),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)?;
            }
            create_private_dir(dir)
        }
        Err(error) => Err(error),
    }
}

/// A directory of lrx's own: created 0700, or, if it exists, checked to be a directory
/// (not a symlink) and made 0700 (which fails unless this user owns it).
pub fn own_private_dir(dir: &Path) -> io::Result<()> {
    ensure_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    match builder.create(dir) {
        Ok(()) => Ok(()),
        // Another lrx process made it meanwhile.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(error) => Err(error),
    }
}

/// Writes through `fill` into a private temporary file beside `target`, then renames it
/// over `target`. On any failure nothing is left behind: no partial file, no empty file.
pub fn write_atomic<T>(
    target: &Path,
    fill: impl FnOnce(&mut io::BufWriter<fs::File>) -> Result<T, String>,
) -> Result<T, String> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!(".lrx-{:016x}.part", nonce()));
    let file = create_private_new(&temp)
        .map_err(|e| format!("could not write in {}: {e}", dir.display()))?;
    let mut writer = io::BufWriter::new(file);
    let outcome = fill(&mut writer).and_then(|value| {
        writer
            .flush()
            .and_then(|()| writer.get_ref().sync_all())
            .map_err(|e| format!("could not write {}: {e}", target.display()))?;
        Ok(value)
    });
    drop(writer);
    match outcome {
        Ok(value) => match fs::rename(&temp, target) {
            Ok(()) => Ok(value),
            Err(error) => {
                let _ = fs::remove_file(&temp);
                Err(format!("could not write {}: {error}", target.display()))
            }
        },
        Err(error) => {
            let _ = fs::remove_file(&temp);
            Err(error)
        }
    }
}

/// A private temporary directory of lrx's own (0700, a name no one can guess), removed
/// when dropped: for files handed to another program, such as the pager.
pub struct PrivateTempDir(PathBuf);

impl PrivateTempDir {
    pub fn new() -> io::Result<Self> {
        let base = std::env::temp_dir();
        for _ in 0..8 {
            let dir = base.join(format!("lrx-{:016x}", nonce()));
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                builder.mode(0o700);
            }
            match builder.create(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no fresh temporary directory could be made",
        ))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateTempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A file name made from untrusted text: no separators, no controls or invisible
/// characters, no dot-files, at most [`MAX_NAME_BYTES`] bytes (cut at a character, the
/// extension kept), non-ASCII letters kept where they fit.
pub fn safe_name(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            let printable =
                crate::sanitize::placeholder(c).is_none() && !c.is_control() && !c.is_whitespace()
                    || c == ' ';
            if (c.is_alphanumeric() && printable) || "-_.+() ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c == ' ');
    let name = if trimmed.len() <= MAX_NAME_BYTES {
        trimmed.to_string()
    } else {
        // Keep a short extension (`.json`, `.txt`, `.dll`), cut the stem at a character.
        let (stem, extension) = match trimmed.rfind('.') {
            Some(dot) if trimmed.len() - dot <= 16 => trimmed.split_at(dot),
            _ => (trimmed, ""),
        };
        let room = MAX_NAME_BYTES - extension.len();
        let mut end = room.min(stem.len());
        while !stem.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{extension}", &stem[..end])
    };
    if name.is_empty() {
        "result".into()
    } else {
        name
    }
}

/// A size as people read it: `512 B`, `3.4 KB`, `16.0 MB`.
pub fn human_bytes(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let value = bytes as f64;
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", value / 1024.0),
        b if b < 1024 * 1024 * 1024 => format!("{:.1} MB", value / 1_048_576.0),
        _ => format!("{:.2} GB", value / 1_073_741_824.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_in_bytes_and_keep_their_extension() {
        let long = format!("{}.dll", "ünïcødé-".repeat(60));
        let name = safe_name(&long);
        assert!(name.len() <= MAX_NAME_BYTES, "{}", name.len());
        assert!(name.ends_with(".dll") && name.starts_with("ünïcødé"));
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name("a\u{1b}[2Jb.txt"), "a__2Jb.txt");
        assert_eq!(safe_name("x\u{202e}gpj.exe"), "x_gpj.exe");
        assert_eq!(safe_name("tag\u{e0041}ged"), "tag_ged");
        assert_eq!(safe_name(".."), "result");
        assert_eq!(safe_name("C:\\Windows\\x.pf.gz"), "C__Windows_x.pf.gz");
    }

    #[cfg(unix)]
    #[test]
    fn writes_replace_a_planted_symlink_instead_of_following_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").expect("victim");
        let target = dir.path().join("saved.json");
        std::os::unix::fs::symlink(&victim, &target).expect("symlink");
        write_atomic(&target, |w| {
            w.write_all(b"endpoint data").map_err(|e| e.to_string())
        })
        .expect("written");
        assert_eq!(fs::read(&victim).expect("victim"), b"precious");
        assert_eq!(fs::read(&target).expect("target"), b"endpoint data");
        let mode = fs::symlink_metadata(&target)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!fs::symlink_metadata(&target).expect("meta").is_symlink());
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("bomb");
        let error = write_atomic(&target, |w| {
            w.write_all(b"partial").map_err(|e| e.to_string())?;
            Err::<(), _>("refused".to_string())
        })
        .expect_err("fails");
        assert_eq!(error, "refused");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_shared_directory_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).expect("mkdir");
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).expect("chmod");
        ensure_dir(&shared).expect("exists");
        let mode = fs::metadata(&shared).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let fresh = dir.path().join("a/b");
        ensure_dir(&fresh).expect("made");
        let mode = fs::metadata(&fresh).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
