//! Renders a completed command's result blob on demand: the JSON transcript of a `RunScript`,
//! or the gzipped file of a `GetFile`. Rendering is deterministic per (seed, action, index).

use std::io::Write as _;

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use super::corpus::{self, TemplateContext};
use super::dataset::{CommandSpec, Machine, MachineOs, ResultSpec, SimAction};
use super::rng::SimRng;

pub(super) struct Blob {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    /// `Some` for `GetFile` results, served as an attachment.
    pub file_name: Option<String>,
}

#[derive(Serialize)]
struct Transcript<'a> {
    script_name: &'a str,
    exit_code: i64,
    script_output: String,
    script_errors: String,
}

pub(super) fn render(
    action: &SimAction,
    index: usize,
    machine: &Machine,
    ran_at: DateTime<Utc>,
    spec: &ResultSpec,
) -> Option<Blob> {
    let command = &action.commands.get(index)?.spec;
    match (spec, command) {
        (
            ResultSpec::Script {
                template,
                errors_template,
                exit_code,
                outlier,
                body,
                salt,
            },
            CommandSpec::RunScript { script_name, .. },
        ) => {
            let mut rng = SimRng::new(*salt);
            let uname = match machine.os {
                MachineOs::MacOs => "Darwin 23.6.0 arm64",
                _ => "Linux 6.1.0-27-amd64 x86_64 GNU/Linux",
            };
            let context = TemplateContext {
                fqdn: &machine.fqdn,
                ip: &machine.ip,
                user: &machine.user,
                netbios_domain: "CONTOSO",
                uname,
                ran_at,
                outlier: *outlier,
            };
            let mut output = String::new();
            let windows = matches!(machine.os, MachineOs::Windows | MachineOs::WindowsServer);
            if windows {
                output.push_str(&format!(
                    "Transcript started, output file is C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\Temp\\PSScriptOutputs\\PSScript_Transcript_{{{}}}.txt\n",
                    rng.guid().to_ascii_uppercase()
                ));
            }
            output.push_str(&corpus::render(
                corpus::template(template),
                &context,
                &mut rng,
                *body,
            ));
            if windows {
                // Real Windows transcripts arrive padded with NULs.
                let padding = usize::try_from(rng.range(1, 24)).unwrap_or(1);
                output.extend(std::iter::repeat_n('\0', padding));
            }
            let errors = errors_template
                .as_deref()
                .map(|name| corpus::render(corpus::template(name), &context, &mut rng, *body))
                .unwrap_or_default();
            let bytes = serde_json::to_vec(&Transcript {
                script_name,
                exit_code: *exit_code,
                script_output: output,
                script_errors: errors,
            })
            .ok()?;
            Some(Blob {
                bytes,
                content_type: "application/octet-stream",
                file_name: None,
            })
        }
        (ResultSpec::File { kind, bytes, salt }, CommandSpec::GetFile { path }) => {
            let content = file_content(kind, *bytes, &mut SimRng::new(*salt), machine, ran_at);
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(&content).ok()?;
            let name = path.rsplit(['\\', '/']).next().unwrap_or(path);
            Some(Blob {
                bytes: encoder.finish().ok()?,
                content_type: "application/octet-stream",
                file_name: Some(format!("{name}.gz")),
            })
        }
        _ => None,
    }
}

fn random_bytes(rng: &mut SimRng, count: usize, out: &mut Vec<u8>) {
    while out.len() < count {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(count);
}

fn file_content(
    kind: &str,
    size: usize,
    rng: &mut SimRng,
    machine: &Machine,
    ran_at: DateTime<Utc>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    match kind {
        "prefetch" => {
            out.extend_from_slice(b"MAM\x04");
            random_bytes(rng, size, &mut out);
        }
        "pe" => {
            out.extend_from_slice(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00");
            out.resize(0x4e, 0);
            out.extend_from_slice(b"This program cannot be run in DOS mode.\r\r\n$");
            random_bytes(rng, size, &mut out);
        }
        "binary" => {
            out.extend_from_slice(b"ElfFile\0");
            random_bytes(rng, size, &mut out);
        }
        "zip" => return zip_archive(rng, size, machine),
        "firewall-log" => {
            out.extend_from_slice(
                b"#Version: 1.5\r\n#Software: Microsoft Windows Firewall\r\n#Time Format: Local\r\n#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path\r\n",
            );
            let mut clock = ran_at - chrono::Duration::days(1);
            while out.len() < size {
                clock += chrono::Duration::seconds(i64::try_from(rng.range(1, 20)).unwrap_or(1));
                let action = if rng.chance(0.1) { "DROP" } else { "ALLOW" };
                let dst = rng.pick(&[
                    "10.20.0.10",
                    "52.113.194.132",
                    "185.220.101.47",
                    "20.190.160.20",
                ]);
                let line = format!(
                    "{} {action} TCP {} {dst} {} 443 0 - - - - - - - SEND\r\n",
                    clock.format("%Y-%m-%d %H:%M:%S"),
                    machine.ip,
                    rng.range(49_152, 65_535)
                );
                out.extend_from_slice(line.as_bytes());
            }
        }
        _ => {
            let host = machine.fqdn.split('.').next().unwrap_or("host");
            let mut clock = ran_at - chrono::Duration::days(2);
            while out.len() < size {
                clock += chrono::Duration::seconds(i64::try_from(rng.range(1, 120)).unwrap_or(1));
                let line = if rng.chance(0.15) {
                    format!(
                        "{} {host} sshd[{}]: Failed password for invalid user admin from 45.137.21.9 port {} ssh2\n",
                        clock.format("%b %e %H:%M:%S"),
                        rng.range(1000, 60_000),
                        rng.range(30_000, 60_000)
                    )
                } else {
                    format!(
                        "{} {host} sshd[{}]: Accepted publickey for deploy from 10.20.8.41 port {} ssh2: ED25519 SHA256:Vq3w9m\n",
                        clock.format("%b %e %H:%M:%S"),
                        rng.range(1000, 60_000),
                        rng.range(30_000, 60_000)
                    )
                };
                out.extend_from_slice(line.as_bytes());
            }
        }
    }
    out.truncate(size.max(64));
    out
}

/// A small but valid ZIP (stored entries), so a saved `GetFile` result opens in any tool.
fn zip_archive(rng: &mut SimRng, size: usize, machine: &Machine) -> Vec<u8> {
    let mut listing = format!("Triage collection from {}\r\n", machine.fqdn).into_bytes();
    while listing.len() < size / 2 {
        listing.extend_from_slice(
            format!(
                "C:\\Users\\{}\\AppData\\Local\\Temp\\{}.tmp\t{}\r\n",
                machine.user,
                rng.hex(8),
                rng.range(100, 90_000)
            )
            .as_bytes(),
        );
    }
    let mut blob = Vec::new();
    random_bytes(rng, size / 2, &mut blob);
    let entries: [(&str, &[u8]); 2] = [("listing.txt", &listing), ("memdump.bin", &blob)];
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let name_len = u16::try_from(name.len()).unwrap_or(0);
        for (buffer, central_entry) in [(&mut out, false), (&mut central, true)] {
            let signature: u32 = if central_entry {
                0x0201_4b50
            } else {
                0x0403_4b50
            };
            buffer.extend_from_slice(&signature.to_le_bytes());
            if central_entry {
                buffer.extend_from_slice(&20u16.to_le_bytes());
            }
            for value in [20u16, 0, 0, 0x6000, 0x5b7a] {
                buffer.extend_from_slice(&value.to_le_bytes());
            }
            for value in [crc.sum(), size, size] {
                buffer.extend_from_slice(&value.to_le_bytes());
            }
            buffer.extend_from_slice(&name_len.to_le_bytes());
            buffer.extend_from_slice(&0u16.to_le_bytes());
            if central_entry {
                for value in [0u16, 0, 0] {
                    buffer.extend_from_slice(&value.to_le_bytes());
                }
                buffer.extend_from_slice(&0u32.to_le_bytes());
                buffer.extend_from_slice(&offset.to_le_bytes());
            }
            buffer.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(data);
    }
    let central_offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
    let central_size = u32::try_from(central.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for value in [0u16, 0, 2, 2] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}
