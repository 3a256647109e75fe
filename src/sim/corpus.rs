//! The simulator's script corpus (`assets/sim/`): which scripts analysts run, what their
//! output looks like, and the template language that turns a template into one machine's
//! output. Kept in assets so the data can grow without touching code.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::sync::OnceLock;

use super::rng::SimRng;

#[derive(Debug, Deserialize)]
pub(super) struct Corpus {
    pub scripts: Vec<ScriptDef>,
    pub large: Vec<LargeDef>,
    pub hostile: HostileDef,
    pub fleet: Vec<FleetDef>,
    pub putfiles: Vec<String>,
    pub getfiles: Vec<GetFileDef>,
    pub missing_paths: Vec<String>,
    pub requestors: Vec<String>,
    pub comments: Vec<String>,
    pub machines: MachineNames,
}

#[derive(Debug, Deserialize)]
pub(super) struct ScriptDef {
    pub name: String,
    pub args: Option<String>,
    pub os: OsFamily,
    pub output: String,
    pub errors: Option<String>,
    #[serde(default)]
    pub failure_rate: f64,
    #[serde(default)]
    pub failure_exit_code: i64,
    pub weight: u64,
    pub body_lines: Option<[u64; 2]>,
}

#[derive(Debug, Deserialize)]
pub(super) struct LargeDef {
    pub name: String,
    pub args: Option<String>,
    pub output: String,
    pub megabytes: usize,
}

#[derive(Debug, Deserialize)]
pub(super) struct HostileDef {
    pub name: String,
    pub args: Option<String>,
    pub output: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct FleetDef {
    pub name: String,
    pub args: Option<String>,
    pub machines: usize,
    pub outliers: usize,
    pub failures: usize,
    pub comment: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct GetFileDef {
    pub path: String,
    pub kind: String,
    pub kilobytes: [u64; 2],
}

#[derive(Debug, Deserialize)]
pub(super) struct MachineNames {
    pub domain: String,
    pub workstation_prefixes: Vec<String>,
    pub servers: Vec<String>,
    pub linux: Vec<String>,
    pub mac: Vec<String>,
    pub users: Vec<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OsFamily {
    Windows,
    Unix,
}

const CORPUS_JSON: &str = include_str!("../../assets/sim/corpus.json");

const TEMPLATES: &[(&str, &str)] = &[
    (
        "processes.txt",
        include_str!("../../assets/sim/outputs/processes.txt"),
    ),
    (
        "netconnections.txt",
        include_str!("../../assets/sim/outputs/netconnections.txt"),
    ),
    (
        "autoruns.csv",
        include_str!("../../assets/sim/outputs/autoruns.csv"),
    ),
    (
        "scheduledtasks.xml",
        include_str!("../../assets/sim/outputs/scheduledtasks.xml"),
    ),
    (
        "services.txt",
        include_str!("../../assets/sim/outputs/services.txt"),
    ),
    (
        "securityevents.txt",
        include_str!("../../assets/sim/outputs/securityevents.txt"),
    ),
    (
        "loggedonusers.txt",
        include_str!("../../assets/sim/outputs/loggedonusers.txt"),
    ),
    (
        "loggedonusers-hostile.txt",
        include_str!("../../assets/sim/outputs/loggedonusers-hostile.txt"),
    ),
    (
        "filehashes.json",
        include_str!("../../assets/sim/outputs/filehashes.json"),
    ),
    (
        "defenderstatus.txt",
        include_str!("../../assets/sim/outputs/defenderstatus.txt"),
    ),
    (
        "defenderstatus-errors.txt",
        include_str!("../../assets/sim/outputs/defenderstatus-errors.txt"),
    ),
    (
        "dnscache.txt",
        include_str!("../../assets/sim/outputs/dnscache.txt"),
    ),
    (
        "runkeys.txt",
        include_str!("../../assets/sim/outputs/runkeys.txt"),
    ),
    (
        "installedsoftware.csv",
        include_str!("../../assets/sim/outputs/installedsoftware.csv"),
    ),
    (
        "triage.sh.txt",
        include_str!("../../assets/sim/outputs/triage.sh.txt"),
    ),
    (
        "persistence.sh.txt",
        include_str!("../../assets/sim/outputs/persistence.sh.txt"),
    ),
    (
        "linux-errors.txt",
        include_str!("../../assets/sim/outputs/linux-errors.txt"),
    ),
];

pub(super) fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        #[expect(
            clippy::expect_used,
            reason = "the corpus is compiled in; a test parses it"
        )]
        let corpus: Corpus = serde_json::from_str(CORPUS_JSON).expect("assets/sim/corpus.json");
        corpus
    })
}

pub(super) fn template(name: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|(file, _)| *file == name)
        .map_or("", |(_, text)| text)
}

/// Everything a template may refer to about the machine and the moment it ran on.
pub(super) struct TemplateContext<'a> {
    pub fqdn: &'a str,
    pub ip: &'a str,
    pub user: &'a str,
    pub netbios_domain: &'a str,
    pub uname: &'a str,
    pub ran_at: DateTime<Utc>,
    pub outlier: bool,
}

/// How much of a template's `@body` block to emit.
#[derive(Debug, Clone, Copy)]
pub enum BodySize {
    Lines(u64),
    Bytes(usize),
}

pub(super) fn render(
    template: &str,
    context: &TemplateContext,
    rng: &mut SimRng,
    body: BodySize,
) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut body_lines: Vec<&str> = Vec::new();
    let mut body_emitted = false;
    // Events in a log extract run backwards in time from when the script ran.
    let mut clock = context.ran_at;
    for line in template.lines() {
        if let Some(rest) = line.strip_prefix("@body ") {
            body_lines.push(rest);
            continue;
        }
        if !body_lines.is_empty() && !body_emitted {
            emit_body(&mut out, &body_lines, context, rng, body, &mut clock);
            body_emitted = true;
        }
        if let Some(rest) = line.strip_prefix("@outlier ") {
            if context.outlier {
                fill_line(&mut out, rest, context, rng, &mut clock);
            }
        } else if let Some(rest) = line.strip_prefix("@repeat ") {
            let (range, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let (low, high) = range.split_once("..").unwrap_or(("1", "1"));
            let low = low.parse().unwrap_or(1);
            let high = high.parse().unwrap_or(low);
            for _ in 0..rng.range(low, high.max(low)) {
                fill_line(&mut out, text, context, rng, &mut clock);
            }
        } else {
            fill_line(&mut out, line, context, rng, &mut clock);
        }
    }
    if !body_lines.is_empty() && !body_emitted {
        emit_body(&mut out, &body_lines, context, rng, body, &mut clock);
    }
    out
}

fn emit_body(
    out: &mut String,
    lines: &[&str],
    context: &TemplateContext,
    rng: &mut SimRng,
    size: BodySize,
    clock: &mut DateTime<Utc>,
) {
    let target_bytes = match size {
        BodySize::Bytes(bytes) => bytes,
        BodySize::Lines(_) => usize::MAX,
    };
    let mut emitted = 0u64;
    loop {
        match size {
            BodySize::Lines(count) if emitted >= count => break,
            BodySize::Bytes(_) if out.len() >= target_bytes => break,
            _ => {}
        }
        let secs = i64::try_from(rng.range(1, 90)).unwrap_or(1);
        *clock -= Duration::seconds(secs);
        let line = *rng.pick(lines);
        fill_line(out, line, context, rng, clock);
        emitted += 1;
    }
}

fn fill_line(
    out: &mut String,
    line: &str,
    context: &TemplateContext,
    rng: &mut SimRng,
    clock: &mut DateTime<Utc>,
) {
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let name = &rest[start + 2..start + end];
        placeholder(out, name, context, rng, clock);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out.push('\n');
}

fn placeholder(
    out: &mut String,
    name: &str,
    context: &TemplateContext,
    rng: &mut SimRng,
    clock: &mut DateTime<Utc>,
) {
    use std::fmt::Write as _;
    let host = context.fqdn.split('.').next().unwrap_or(context.fqdn);
    match name {
        "pid" => {
            let _ = write!(out, "{}", rng.range(100, 15_000) * 4);
        }
        "n1" | "n2" | "n3" | "n4" | "n5" => {
            let digits = u32::from(name.as_bytes()[1] - b'0');
            let _ = write!(
                out,
                "{}",
                rng.range(10u64.pow(digits - 1), 10u64.pow(digits) - 1)
            );
        }
        "ts" => out.push_str(&clock.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        "date" => {
            let back = i64::try_from(rng.range(60, 86_400 * 3)).unwrap_or(60);
            let when = context.ran_at - Duration::seconds(back);
            out.push_str(&when.format("%-m/%-d/%Y %-I:%M:%S %p").to_string());
        }
        "yyyymmdd" => {
            let back = i64::try_from(rng.range(5, 700)).unwrap_or(5);
            out.push_str(
                &(context.ran_at - Duration::days(back))
                    .format("%Y%m%d")
                    .to_string(),
            );
        }
        "hhmm" => out.push_str(&context.ran_at.format("%H:%M").to_string()),
        "lastdate" => out.push_str(&context.ran_at.format("%a %b %e %H:%M").to_string()),
        "user" => out.push_str(context.user),
        "domain" => out.push_str(context.netbios_domain),
        "fqdn" => out.push_str(context.fqdn),
        "host" => out.push_str(host),
        "ip" => out.push_str(context.ip),
        "uname" => out.push_str(context.uname),
        "remoteip" => {
            let _ = write!(
                out,
                "{}",
                rng.pick(&[
                    "45.137.21.9",
                    "103.251.167.20",
                    "185.220.101.47",
                    "10.20.8.41",
                    "91.240.118.172"
                ])
            );
        }
        "logontype" => out.push_str(rng.pick::<&str>(&["2", "3", "3", "3", "10", "5"])),
        "proc" => out.push_str(rng.pick::<&str>(&[
            "cmd.exe",
            "powershell.exe",
            "rundll32.exe",
            "conhost.exe",
            "whoami.exe",
            "net.exe",
            "schtasks.exe",
        ])),
        "esc" => out.push('\u{1b}'),
        "bel" => out.push('\u{7}'),
        "bs" => out.push('\u{8}'),
        "rlo" => out.push('\u{202e}'),
        "pdf" => out.push('\u{202c}'),
        "csi8" => out.push('\u{9b}'),
        "inc" => {
            let _ = write!(out, "{}", rng.range(20_400, 20_480));
        }
        "hex12" => out.push_str(&rng.hex(12)),
        other => {
            let _ = write!(out, "{{{{{other}}}}}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(outlier: bool) -> TemplateContext<'static> {
        TemplateContext {
            fqdn: "wks-fin-0142.corp.contoso.com",
            ip: "10.20.3.7",
            user: "jalvarez",
            netbios_domain: "CONTOSO",
            uname: "Linux",
            ran_at: DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            outlier,
        }
    }

    #[test]
    fn corpus_parses_and_every_template_exists() {
        let corpus = corpus();
        assert!(corpus.scripts.len() >= 10);
        for script in &corpus.scripts {
            assert!(!template(&script.output).is_empty(), "{}", script.output);
            if let Some(errors) = &script.errors {
                assert!(!template(errors).is_empty(), "{errors}");
            }
        }
        assert!(!template(&corpus.hostile.output).is_empty());
    }

    #[test]
    fn outlier_lines_appear_only_on_outliers() {
        let text = template("autoruns.csv");
        let normal = render(
            text,
            &context(false),
            &mut SimRng::new(1),
            BodySize::Lines(0),
        );
        let outlier = render(
            text,
            &context(true),
            &mut SimRng::new(1),
            BodySize::Lines(0),
        );
        assert!(!normal.contains("onedriveupdater.exe"));
        assert!(outlier.contains("onedriveupdater.exe"));
        assert!(!outlier.contains("@outlier"));
    }

    #[test]
    fn large_bodies_reach_their_size() {
        let text = template("securityevents.txt");
        let out = render(
            text,
            &context(false),
            &mut SimRng::new(1),
            BodySize::Bytes(200_000),
        );
        assert!(out.len() >= 200_000);
        assert!(out.contains("4624"));
        assert!(!out.contains("{{"));
    }
}
