//! A bundle's directory as one zip file, to attach to a case or hand over. Stored, not
//! compressed: payloads are kept byte for byte inside it too, anything can unzip it, and it
//! needs no dependency beyond the CRC-32 that `flate2` already brings.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// What the zip format (without its 64-bit extension) can hold.
const LIMIT: u64 = u32::MAX as u64;

struct Entry {
    name: String,
    crc: u32,
    size: u32,
    offset: u32,
}

/// Writes every file under `dir` into `target`, each under `prefix/` with its path inside
/// the directory (sorted, so the same bundle makes the same zip).
pub fn write(dir: &Path, prefix: &str, files: &[String], target: &Path) -> Result<(), String> {
    let (time, date) = dos_time(chrono::Utc::now());
    crate::files::write_atomic(target, |out| {
        let mut entries = Vec::new();
        let mut offset: u64 = 0;
        let mut sorted = files.to_vec();
        sorted.sort();
        for relative in &sorted {
            let path = dir.join(relative);
            let (crc, size) = crc_of(&path)?;
            let name = format!("{prefix}/{relative}");
            if size > LIMIT || offset > LIMIT {
                return Err(format!(
                    "{relative} does not fit in a zip (over 4 GiB): hand over the directory instead"
                ));
            }
            let entry = Entry {
                name,
                crc,
                size: u32::try_from(size).unwrap_or(u32::MAX),
                offset: u32::try_from(offset).unwrap_or(u32::MAX),
            };
            let header = local_header(&entry, time, date);
            out.write_all(&header).map_err(|e| e.to_string())?;
            let mut file = std::fs::File::open(&path).map_err(|e| format!("{relative}: {e}"))?;
            let copied = std::io::copy(&mut file, out).map_err(|e| format!("{relative}: {e}"))?;
            if copied != size {
                return Err(format!("{relative} changed while it was zipped"));
            }
            offset += header.len() as u64 + size;
            entries.push(entry);
        }
        let directory_start = offset;
        let mut directory = Vec::new();
        for entry in &entries {
            directory.extend(central_header(entry, time, date));
        }
        out.write_all(&directory).map_err(|e| e.to_string())?;
        let count = u16::try_from(entries.len()).map_err(|_| "too many files for a zip")?;
        let mut end = Vec::new();
        end.extend(0x0605_4b50u32.to_le_bytes());
        end.extend([0u8; 4]);
        end.extend(count.to_le_bytes());
        end.extend(count.to_le_bytes());
        end.extend(
            u32::try_from(directory.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        end.extend(
            u32::try_from(directory_start)
                .map_err(|_| "the zip would be over 4 GiB: hand over the directory instead")?
                .to_le_bytes(),
        );
        end.extend([0u8; 2]);
        out.write_all(&end).map_err(|e| e.to_string())
    })
}

fn crc_of(path: &Path) -> Result<(u32, u64), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut crc = flate2::Crc::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer).map_err(|e| e.to_string())?;
        if read == 0 {
            break;
        }
        crc.update(&buffer[..read]);
    }
    let size = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    Ok((crc.sum(), size))
}

/// Version 2.0, UTF-8 names, stored.
fn common(entry: &Entry, time: u16, date: u16) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend(20u16.to_le_bytes());
    bytes.extend(0x0800u16.to_le_bytes());
    bytes.extend(0u16.to_le_bytes());
    bytes.extend(time.to_le_bytes());
    bytes.extend(date.to_le_bytes());
    bytes.extend(entry.crc.to_le_bytes());
    bytes.extend(entry.size.to_le_bytes());
    bytes.extend(entry.size.to_le_bytes());
    bytes.extend(
        u16::try_from(entry.name.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    bytes.extend(0u16.to_le_bytes());
    bytes
}

fn local_header(entry: &Entry, time: u16, date: u16) -> Vec<u8> {
    let mut bytes = 0x0403_4b50u32.to_le_bytes().to_vec();
    bytes.extend(common(entry, time, date));
    bytes.extend(entry.name.as_bytes());
    bytes
}

fn central_header(entry: &Entry, time: u16, date: u16) -> Vec<u8> {
    let mut bytes = 0x0201_4b50u32.to_le_bytes().to_vec();
    // Made by: Unix, 2.0, so the mode below is read.
    bytes.extend(0x0314u16.to_le_bytes());
    bytes.extend(common(entry, time, date));
    bytes.extend(0u16.to_le_bytes()); // comment
    bytes.extend(0u16.to_le_bytes()); // disk
    bytes.extend(0u16.to_le_bytes()); // internal attributes
    bytes.extend((0o100_600u32 << 16).to_le_bytes()); // a private regular file
    bytes.extend(entry.offset.to_le_bytes());
    bytes.extend(entry.name.as_bytes());
    bytes
}

/// MS-DOS time and date (2-second resolution, from 1980).
fn dos_time(now: chrono::DateTime<chrono::Utc>) -> (u16, u16) {
    use chrono::{Datelike as _, Timelike as _};
    let time = (now.hour() << 11) | (now.minute() << 5) | (now.second() / 2);
    let year = u32::try_from(now.year() - 1980).unwrap_or(0);
    let date = (year << 9) | (now.month() << 5) | now.day();
    (
        u16::try_from(time).unwrap_or(0),
        u16::try_from(date).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unzip_gives_back_every_file_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bundle = dir.path().join("case");
        std::fs::create_dir_all(bundle.join("payloads")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(bundle.join("manifest.json"), b"{}\n").unwrap_or_else(|e| panic!("{e}"));
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        std::fs::write(bundle.join("payloads/a.bin"), &binary).unwrap_or_else(|e| panic!("{e}"));
        let target = dir.path().join("case.zip");
        write(
            &bundle,
            "case",
            &["payloads/a.bin".into(), "manifest.json".into()],
            &target,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&target).unwrap_or_default();
        assert_eq!(&bytes[..4], b"PK\x03\x04");
        assert_eq!(&bytes[bytes.len() - 22..bytes.len() - 18], b"PK\x05\x06");
        // Read back as an unzipper does: each local header, its name and its stored bytes.
        let mut at = 0;
        let mut found = std::collections::HashMap::new();
        while bytes[at..].starts_with(b"PK\x03\x04") {
            let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
            let u32_at =
                |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
            let crc = u32_at(at + 14);
            let size = usize::try_from(u32_at(at + 22)).unwrap_or(0);
            let name_len = usize::from(u16_at(at + 26));
            let name = String::from_utf8_lossy(&bytes[at + 30..at + 30 + name_len]).into_owned();
            let data = &bytes[at + 30 + name_len..at + 30 + name_len + size];
            let mut check = flate2::Crc::new();
            check.update(data);
            assert_eq!(check.sum(), crc, "{name}");
            found.insert(name, data.to_vec());
            at += 30 + name_len + size;
        }
        assert_eq!(found.get("case/payloads/a.bin"), Some(&binary));
        assert_eq!(
            found.get("case/manifest.json").map(Vec::as_slice),
            Some(&b"{}\n"[..])
        );
    }
}
