//! Exit-code review across machines: the same script's runs grouped, outcomes counted,
//! outputs normalised and clustered, and an outlier's output diffed against the majority.
//! UI-free: the CLI's `lrx review` and the TUI's review view both use it.

use std::collections::BTreeMap;

pub mod baseline;
mod digest;

use digest::first_meaningful_line;
pub use digest::{Digest, Normaliser};

use crate::api::models::{ActionStatus, Command, CommandStatus, CommandType, MachineAction};
use crate::transcript::decode::ExitCode;

/// What one run came to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Exit(i64),
    /// An exit code that is not an integer (kept as text).
    ExitUnusual(String),
    CommandFailed,
    TimeOut,
    Cancelled,
    Running,
    NotFetched,
    /// A `GetFile` that was fetched: a file has no exit code, and none is made up.
    Collected,
}

impl Outcome {
    pub fn label(&self) -> String {
        match self {
            Self::Exit(code) => format!("exit {code}"),
            Self::ExitUnusual(text) => format!("exit {}", crate::sanitize::line(text)),
            Self::CommandFailed => "command failed".into(),
            Self::TimeOut => "timed out".into(),
            Self::Cancelled => "cancelled".into(),
            Self::Running => "pending/in progress".into(),
            Self::NotFetched => "not yet fetched".into(),
            Self::Collected => "collected".into(),
        }
    }

    /// Anything but a clean exit 0 or an unfinished run.
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            Self::Exit(0) | Self::Running | Self::NotFetched | Self::Collected
        )
    }
}

/// One command of one action.
#[derive(Debug, Clone)]
pub struct Row {
    pub action_id: String,
    pub machine: String,
    pub index: u32,
    pub status: String,
    pub outcome: Outcome,
    pub duration_seconds: Option<i64>,
    /// First error line, or else the first line of output worth reading.
    pub summary: String,
    /// Cluster label (A, B, …) when the output is known.
    pub cluster: Option<ClusterLabel>,
    pub output_hash: Option<String>,
    /// Control, escape or invisible characters in the output: shown as placeholders, but
    /// worth a mark, since a clean exit does not make such output clean.
    pub control_characters: usize,
    /// The teammate whose download this result was, when it came from the team's store.
    pub teammate: Option<String>,
    /// Against the previous run of the same script on the same machine, when asked for.
    pub vs_previous: Option<baseline::VsPrevious>,
}

/// A cluster's name: A … Z, then AA, AB … as spreadsheet columns go, so a fleet with
/// fifty distinct outputs still names each one apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterLabel(pub u32);

impl ClusterLabel {
    /// The largest cluster: the majority, when there is one.
    pub fn is_first(self) -> bool {
        self.0 == 0
    }
}

impl std::fmt::Display for ClusterLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut letters = Vec::new();
        let mut n = self.0 + 1;
        while n > 0 {
            let rest = (n - 1) % 26;
            letters.push(char::from(b'A' + u8::try_from(rest).unwrap_or(0)));
            n = (n - 1) / 26;
        }
        letters.iter().rev().try_for_each(|c| write!(f, "{c}"))
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub label: ClusterLabel,
    pub hash: String,
    pub size: usize,
    /// A row whose output represents the cluster (index into the group's rows).
    pub representative: usize,
}

#[derive(Debug, Clone)]
pub struct Group {
    /// Script name plus args, or `GetFile <path>`.
    pub key: String,
    pub rows: Vec<Row>,
    pub outcomes: BTreeMap<Outcome, usize>,
    pub clusters: Vec<Cluster>,
}

impl Group {
    pub fn machines(&self) -> usize {
        let mut machines: Vec<&str> = self.rows.iter().map(|r| r.machine.as_str()).collect();
        machines.sort_unstable();
        machines.dedup();
        machines.len()
    }

    /// `48 machines · 3 distinct outputs: 45 × A · 2 × B · 1 × C`.
    pub fn summary(&self) -> String {
        let machines = self.machines();
        let mut text = format!("{machines} machine{}", if machines == 1 { "" } else { "s" });
        if !self.clusters.is_empty() {
            let clusters: Vec<String> = self
                .clusters
                .iter()
                .map(|c| format!("{} × {}", c.size, c.label))
                .collect();
            text.push_str(&format!(
                " · {} distinct output{}: {}",
                self.clusters.len(),
                if self.clusters.len() == 1 { "" } else { "s" },
                clusters.join(" · ")
            ));
        }
        text
    }

    pub fn outcome_summary(&self) -> String {
        self.outcomes
            .iter()
            .map(|(o, n)| format!("{n} × {}", o.label()))
            .collect::<Vec<_>>()
            .join(" · ")
    }

    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| r.outcome.is_failure()).count()
    }

    /// Runs whose results came from teammates through the team's store.
    pub fn from_teammates(&self) -> usize {
        self.rows.iter().filter(|r| r.teammate.is_some()).count()
    }

    /// Runs whose output carries control or invisible characters.
    pub fn marked(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.control_characters > 0)
            .count()
    }
}

/// What a member reviewing these actions tells the team: `reviewing Get-Autoruns.ps1 · 40
/// machines`, or how many scripts when they differ.
pub fn activity(actions: &[MachineAction]) -> String {
    let scripts: std::collections::BTreeSet<String> = actions
        .iter()
        .flat_map(|a| {
            a.commands
                .iter()
                .filter(|c| c.has_result())
                .map(Command::target)
        })
        .collect();
    let machines: std::collections::BTreeSet<&str> = actions
        .iter()
        .map(|a| a.computer_dns_name.as_str())
        .collect();
    let what = match scripts.len() {
        1 => scripts.into_iter().next().unwrap_or_default(),
        n => format!("{n} scripts"),
    };
    let machines = match machines.len() {
        1 => "1 machine".to_string(),
        n => format!("{n} machines"),
    };
    crate::sanitize::line(&format!("reviewing {what} · {machines}"))
}

pub fn group_key(command: &Command) -> String {
    match command.command.command_type {
        CommandType::GetFile => format!("GetFile {}", command.target()),
        _ => command.target(),
    }
}

fn outcome(action: &MachineAction, command: &Command, fetched: Option<&Digest>) -> Outcome {
    match command.command_status {
        CommandStatus::Failed => {
            return if action.status == ActionStatus::TimeOut {
                Outcome::TimeOut
            } else {
                Outcome::CommandFailed
            };
        }
        CommandStatus::Completed => {}
        _ => {
            return match action.status {
                ActionStatus::Cancelled => Outcome::Cancelled,
                ActionStatus::TimeOut => Outcome::TimeOut,
                ActionStatus::Failed => Outcome::CommandFailed,
                _ => Outcome::Running,
            };
        }
    }
    match fetched.map(|d| &d.exit_code) {
        Some(Some(ExitCode::Code(code))) => Outcome::Exit(*code),
        Some(Some(ExitCode::Unusual(text))) => Outcome::ExitUnusual(text.clone()),
        Some(Some(ExitCode::Missing)) => Outcome::ExitUnusual("?".into()),
        Some(None) => Outcome::Collected,
        None => Outcome::NotFetched,
    }
}

/// Builds the review of `actions`' commands (`PutFile` excluded). `fetched` gives the digest of
/// each (action id, index) whose result is in.
pub fn build<'a>(
    actions: &[MachineAction],
    fetched: impl Fn(&str, u32) -> Option<&'a Digest>,
) -> Vec<Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    // Each group's rows' opening lines, in row order, for the summaries that tell runs apart.
    let mut openings: BTreeMap<String, Vec<&'a [(u64, String)]>> = BTreeMap::new();
    for action in actions {
        for command in action
            .commands
            .iter()
            .filter(|c| c.command.command_type != CommandType::PutFile)
        {
            let known = fetched(&action.id, command.index);
            let outcome = outcome(action, command, known);
            let control_characters = known.map_or(0, |d| d.control_characters);
            let teammate = known.and_then(|d| d.teammate.clone());
            let (summary, output_hash) = match known {
                Some(digest) => (digest.summary.clone(), Some(digest.hash.clone())),
                None => (
                    command
                        .errors
                        .first()
                        .map(|e| first_meaningful_line(e))
                        .unwrap_or_default(),
                    None,
                ),
            };
            let key = group_key(command);
            openings
                .entry(key.clone())
                .or_default()
                .push(known.map_or(&[][..], |d| d.opening_lines.as_slice()));
            let group = groups.entry(key.clone()).or_insert_with(|| Group {
                key,
                rows: Vec::new(),
                outcomes: BTreeMap::new(),
                clusters: Vec::new(),
            });
            *group.outcomes.entry(outcome.clone()).or_default() += 1;
            group.rows.push(Row {
                action_id: action.id.clone(),
                machine: action.computer_dns_name.clone(),
                index: command.index,
                status: command.command_status.as_str().to_string(),
                outcome,
                duration_seconds: command.duration().map(|d| d.num_seconds()),
                summary,
                cluster: None,
                output_hash,
                control_characters,
                teammate,
                vs_previous: None,
            });
        }
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    for group in &mut groups {
        cluster(group);
        if let Some(openings) = openings.get(&group.key) {
            tell_apart(&mut group.rows, openings);
        }
    }
    // The biggest sweeps first.
    groups.sort_by(|a, b| {
        b.machines()
            .cmp(&a.machines())
            .then_with(|| a.key.cmp(&b.key))
    });
    groups
}

/// Gives each clean run the first of its opening lines that not every run of the group
/// shares (compared normalised), so a CSV header or banner common to all does not stand for
/// every row. A run whose lines all are shared shows its second (a first data row).
fn tell_apart(rows: &mut [Row], openings: &[&[(u64, String)]]) {
    let known = openings.iter().filter(|lines| !lines.is_empty()).count();
    if known < 2 {
        return;
    }
    let mut runs_with: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for lines in openings {
        let mut distinct: Vec<u64> = lines.iter().map(|(print, _)| *print).collect();
        distinct.sort_unstable();
        distinct.dedup();
        for print in distinct {
            *runs_with.entry(print).or_default() += 1;
        }
    }
    for (row, lines) in rows.iter_mut().zip(openings) {
        let telling = lines
            .iter()
            .find(|(print, _)| runs_with.get(print) != Some(&known))
            // Nothing tells this run apart: its first data row says more than a header.
            .or_else(|| lines.get(1));
        if let Some((_, line)) = telling {
            row.summary.clone_from(line);
        }
    }
}

fn cluster(group: &mut Group) {
    let mut sizes: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, row) in group.rows.iter().enumerate() {
        if let Some(hash) = &row.output_hash {
            let entry = sizes.entry(hash.clone()).or_insert((0, i));
            entry.0 += 1;
        }
    }
    let mut ordered: Vec<(String, usize, usize)> = sizes
        .into_iter()
        .map(|(h, (n, first))| (h, n, first))
        .collect();
    ordered.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.2.cmp(&b.2)));
    group.clusters = ordered
        .into_iter()
        .enumerate()
        .map(|(i, (hash, size, representative))| Cluster {
            label: ClusterLabel(u32::try_from(i).unwrap_or(u32::MAX)),
            hash,
            size,
            representative,
        })
        .collect();
    for row in &mut group.rows {
        row.cluster = row
            .output_hash
            .as_ref()
            .and_then(|h| group.clusters.iter().find(|c| &c.hash == h))
            .map(|c| c.label);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    Same(String),
    /// Only in the majority's output.
    Removed(String),
    /// Only in the outlier's output.
    Added(String),
}

/// A line diff of `outlier` against `majority` (both normalised first), with `context`
/// unchanged lines kept around each change.
pub fn diff(
    majority: &str,
    outlier: &str,
    normaliser: &Normaliser,
    context: usize,
) -> Vec<DiffLine> {
    // A last line without its newline is the same line as one with it.
    let ended = |mut text: String| {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    };
    let old = ended(normaliser.normalise(majority));
    let new = ended(normaliser.normalise(outlier));
    let text_diff = similar::TextDiff::from_lines(&old, &new);
    let mut lines = Vec::new();
    for group in text_diff.grouped_ops(context) {
        if !lines.is_empty() {
            lines.push(DiffLine::Same("…".into()));
        }
        for op in group {
            for change in text_diff.iter_changes(&op) {
                let text = crate::sanitize::line(change.value().trim_end_matches('\n'));
                lines.push(match change.tag() {
                    similar::ChangeTag::Equal => DiffLine::Same(text),
                    similar::ChangeTag::Delete => DiffLine::Removed(text),
                    similar::ChangeTag::Insert => DiffLine::Added(text),
                });
            }
        }
    }
    lines
}

/// Neutralises spreadsheet formula injection: a cell starting with `= + - @`, tab or CR is
/// prefixed with a quote, then the cell is quoted for CSV.
pub fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) || guarded != text {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_masks_what_varies_between_runs() {
        let normaliser = Normaliser::new(&[r"pid=\d+".into()]).expect("masks");
        let a = "Transcript started, output file is C:\\x\\PSScript_Transcript_{A}.txt\nrun at 2026-11-20T12:00:01.123Z pid=42  \n11/19/2026 3:02:05 AM ok\n\0\0";
        let b = "Transcript started, output file is C:\\x\\PSScript_Transcript_{B}.txt\nrun at 2026-11-21T09:10:11Z pid=7\n11/20/2026 10:02:05 PM ok";
        assert_eq!(normaliser.normalise(a), normaliser.normalise(b));
        assert_eq!(normaliser.normalise(a), "run at <time> <masked>\n<time> ok");
        assert!(Normaliser::new(&["(".into()]).is_err());
    }

    #[test]
    fn csv_cells_cannot_become_formulas() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "\"'+1\"");
        assert_eq!(csv_cell("-2"), "\"'-2\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("\tx"), "\"'\tx\"");
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
    }

    #[test]
    fn a_clean_exit_with_escape_sequences_is_marked_and_files_get_no_exit_code() {
        let now = chrono::Utc::now();
        let actions = [
            crate::fixtures::action(1, "wks-1", &["Get-Users.ps1"], now),
            crate::fixtures::action(2, "wks-2", &["Get-Users.ps1"], now),
        ];
        let result = |output: &str| crate::transcript::decode::ScriptResult {
            script_output: output.into(),
            exit_code: crate::transcript::decode::ExitCode::Code(0),
            ..crate::transcript::decode::script_result(b"{}")
        };
        let normaliser = Normaliser::builtin();
        let clean = Digest::of_script(&result("alice\nbob\n"), &normaliser);
        let hostile = Digest::of_script(&result("alice\u{1b}]0;owned\u{7}\u{202e}\n"), &normaliser);
        assert_eq!(
            (clean.control_characters, hostile.control_characters),
            (0, 3)
        );
        let groups = build(&actions, |id, _| {
            Some(if id == actions[0].id {
                &clean
            } else {
                &hostile
            })
        });
        assert_eq!(groups[0].failures(), 0);
        assert_eq!(groups[0].marked(), 1, "the hostile run is marked");
        let file = Digest::of_file(&"ab".repeat(32));
        let groups = build(&actions[..1], |_, _| Some(&file));
        assert_eq!(groups[0].rows[0].outcome, Outcome::Collected);
        assert!(!groups[0].rows[0].outcome.is_failure());
    }

    #[test]
    fn the_summary_is_the_first_line_that_tells_runs_apart() {
        let now = chrono::Utc::now();
        let actions: Vec<_> = (1..=3)
            .map(|i| crate::fixtures::action(i, &format!("wks-{i}"), &["Get-ProcessList.ps1"], now))
            .collect();
        let result = |output: &str, errors: &str| crate::transcript::decode::ScriptResult {
            script_output: output.into(),
            script_errors: errors.into(),
            exit_code: crate::transcript::decode::ExitCode::Code(0),
            ..crate::transcript::decode::script_result(b"{}")
        };
        let normaliser = Normaliser::builtin();
        let header = "\"Name\",\"Id\",\"Path\"\n\"System\",\"4\",\"\"\n";
        let digests = [
            Digest::of_script(
                &result(
                    &format!("{header}\"svchost\",\"812\",\"C:\\Windows\"\n"),
                    "",
                ),
                &normaliser,
            ),
            Digest::of_script(
                &result(
                    &format!("{header}\"evil\",\"666\",\"C:\\Users\\Public\"\n"),
                    "",
                ),
                &normaliser,
            ),
            Digest::of_script(&result(header, "Access denied"), &normaliser),
        ];
        let groups = build(&actions, |id, _| {
            actions.iter().position(|a| a.id == id).map(|i| &digests[i])
        });
        let summaries: Vec<&str> = groups[0].rows.iter().map(|r| r.summary.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "\"svchost\",\"812\",\"C:\\Windows\"",
                "\"evil\",\"666\",\"C:\\Users\\Public\"",
                "Access denied",
            ],
            "not the header every run shares; an error stays the error"
        );
        let same = build(&actions[..2], |_, _| Some(&digests[0]));
        assert_eq!(same[0].rows[1].summary, "\"System\",\"4\",\"\"");
        // One run alone has nothing to be told apart from: its first line stands.
        let groups = build(&actions[..1], |_, _| Some(&digests[0]));
        assert_eq!(groups[0].rows[0].summary, "\"Name\",\"Id\",\"Path\"");
    }

    #[test]
    fn cluster_labels_go_on_past_z_and_errors_tell_runs_apart() {
        let names: Vec<String> = [0, 1, 25, 26, 27, 51, 52, 701, 702]
            .iter()
            .map(|&n| ClusterLabel(n).to_string())
            .collect();
        assert_eq!(names, ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
        let normaliser = Normaliser::builtin();
        let run = |errors: &str| crate::transcript::decode::ScriptResult {
            script_output: "same output".into(),
            script_errors: errors.into(),
            ..crate::transcript::decode::script_result(b"{}")
        };
        assert_ne!(
            Digest::of_script(&run(""), &normaliser).hash,
            Digest::of_script(&run("Access denied"), &normaliser).hash
        );
    }

    #[test]
    fn diffs_show_the_outliers_extra_lines() {
        let normaliser = Normaliser::new(&[]).expect("masks");
        let lines = diff("a\nb\nc\nd", "a\nb\nEVIL\nc\nd", &normaliser, 1);
        assert!(lines.contains(&DiffLine::Added("EVIL".into())));
        assert!(lines.contains(&DiffLine::Same("b".into())));
        assert!(!lines.iter().any(|l| matches!(l, DiffLine::Removed(_))));
    }
}
