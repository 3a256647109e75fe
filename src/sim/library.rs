//! The simulated live response library's contents: which scripts and files it holds and
//! how an admin described them. Plain data over the corpus, for the routes and the dataset.

use super::corpus::{OsFamily, corpus};

/// A library file whose description an admin wrote with escape sequences in it: untrusted
/// text that clients must show inert.
pub(super) const HOSTILE_FILE: (&str, &str) = (
    "Invoke-Cleanup.ps1",
    "Cleans temp folders\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J\u{202e}gnp.exe",
);

/// What each of the corpus's scripts and tools is for, as an admin would describe it.
pub(super) fn description(name: &str) -> String {
    let known = [
        (
            "Get-ProcessList.ps1",
            "Running processes with command lines and parents",
        ),
        (
            "Get-NetConnections.ps1",
            "TCP connections and owning processes",
        ),
        (
            "Get-Autoruns.ps1",
            "Autostart entries (Run keys, services, tasks)",
        ),
        (
            "Get-ScheduledTasks.ps1",
            "Scheduled tasks with actions and triggers",
        ),
        (
            "Get-Services.ps1",
            "Services, start mode, binary path and signer",
        ),
        (
            "Get-SecurityEvents.ps1",
            "Security log logons and process creations",
        ),
        ("Get-LoggedOnUsers.ps1", "Interactive and RDP sessions"),
        ("Get-FileHashes.ps1", "SHA-256 of files under a path"),
        (
            "Get-DefenderStatus.ps1",
            "Defender engine, signatures and exclusions",
        ),
        ("Get-DnsCache.ps1", "The DNS client cache"),
        (
            "Get-RegistryRunKeys.ps1",
            "Run and RunOnce keys for every hive",
        ),
        (
            "Get-InstalledSoftware.ps1",
            "Installed programs from the uninstall keys",
        ),
        (
            "collect_triage.sh",
            "Linux/macOS triage: users, processes, sockets, cron",
        ),
        (
            "persistence_check.sh",
            "systemd units, cron, shell profiles, launch agents",
        ),
        ("handle64.exe", "Sysinternals Handle"),
        ("autorunsc64.exe", "Sysinternals Autoruns (command line)"),
        ("Sysmon64.exe", "Sysinternals Sysmon installer"),
        ("yara64.exe", "YARA scanner"),
    ];
    known
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map_or_else(
            || format!("Uploaded by the SOC: {name}"),
            |(_, d)| (*d).to_string(),
        )
}

/// The library's one script the corpus has no output for: it is not signed, so it fails
/// when run, as unsigned scripts do where signing is enforced.
pub(super) fn is_unsigned_script(name: &str) -> bool {
    HOSTILE_FILE.0.eq_ignore_ascii_case(name)
}

/// Whether the library holds `name` (for runs that name a script or file).
pub(super) fn in_library(name: &str, family: OsFamily) -> bool {
    let c = corpus();
    c.scripts
        .iter()
        .any(|s| s.name.eq_ignore_ascii_case(name) && s.os == family)
        || c.putfiles.iter().any(|f| f.eq_ignore_ascii_case(name))
        || HOSTILE_FILE.0.eq_ignore_ascii_case(name)
}
