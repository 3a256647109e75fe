//! The review screen (`R`): the selected actions' runs grouped by script, outcome counts,
//! output clusters, and a diff of an outlier against the majority. It updates as results
//! arrive and is usable before everything is in.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Paragraph, Row};

use super::theme::Theme;
use super::widgets::{ListPane, pane_block, scroll_to_show};
use crate::api::models::MachineAction;
use crate::fetch::ResultKey;
use crate::review::{self, DiffLine, Digest, Group, Outcome};
use crate::sanitize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSort {
    Interesting,
    Machine,
    Action,
    Status,
    Outcome,
    Duration,
    Cluster,
    FirstLine,
}

impl RowSort {
    fn next(self) -> Self {
        match self {
            Self::Interesting => Self::Machine,
            Self::Machine => Self::Action,
            Self::Action => Self::Status,
            Self::Status => Self::Outcome,
            Self::Outcome => Self::Duration,
            Self::Duration => Self::Cluster,
            Self::Cluster => Self::FirstLine,
            Self::FirstLine => Self::Interesting,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Interesting => "outliers first",
            Self::Machine => "machine",
            Self::Action => "action",
            Self::Status => "status",
            Self::Outcome => "outcome",
            Self::Duration => "duration",
            Self::Cluster => "output cluster",
            Self::FirstLine => "first line",
        }
    }
}

pub struct DiffView {
    pub title: String,
    pub lines: Vec<DiffLine>,
    pub scroll: usize,
    /// Long lines (an autorun's image path) wrap instead of running off the edge.
    pub wrap: bool,
}

impl DiffView {
    /// While a diff is open the movement keys scroll it, as in the transcript.
    pub fn scroll_by(&mut self, delta: isize) {
        let last = self.lines.len().saturating_sub(1);
        self.scroll = self.scroll.saturating_add_signed(delta).min(last);
    }
}

pub struct ReviewScreen {
    pub scope: Vec<MachineAction>,
    pub digests: HashMap<ResultKey, Digest>,
    pub groups: Vec<Group>,
    pub selected_group: usize,
    pub selected_row: usize,
    pub rows_focused: bool,
    pub failed_only: bool,
    pub sort: RowSort,
    pub diff: Option<DiffView>,
    /// Results to collect, and when collecting started (for the ETA).
    pub wanted: usize,
    pub started: DateTime<Utc>,
    row_offset: usize,
    /// Results arrived since the groups were last built.
    stale: bool,
}

impl ReviewScreen {
    pub fn new(scope: Vec<MachineAction>, now: DateTime<Utc>) -> Self {
        let wanted = scope.iter().flat_map(ResultKey::of_action).count();
        let mut screen = Self {
            scope,
            digests: HashMap::new(),
            groups: Vec::new(),
            selected_group: 0,
            selected_row: 0,
            rows_focused: true,
            failed_only: false,
            sort: RowSort::Interesting,
            diff: None,
            wanted,
            started: now,
            row_offset: 0,
            stale: false,
        };
        screen.rebuild();
        screen
    }

    pub fn keys(&self) -> Vec<ResultKey> {
        self.scope.iter().flat_map(ResultKey::of_action).collect()
    }

    pub fn wants(&self, key: &ResultKey) -> bool {
        self.scope.iter().any(|a| {
            a.id == key.action_id
                && a.commands
                    .iter()
                    .any(|c| c.index == key.index && c.has_result())
        })
    }

    /// Takes a result in; the groups are rebuilt once before they are next looked at, not
    /// once per result (a burst of thousands would otherwise rebuild thousands of times).
    pub fn add(&mut self, key: ResultKey, digest: Digest) {
        self.digests.insert(key, digest);
        self.stale = true;
    }

    pub fn refresh(&mut self) {
        if std::mem::take(&mut self.stale) {
            self.rebuild();
        }
    }

    pub fn rebuild(&mut self) {
        let digests = &self.digests;
        let selected = self.groups.get(self.selected_group).map(|g| g.key.clone());
        self.groups = review::build(&self.scope, |id, index| {
            digests.get(&ResultKey::new(id, index))
        });
        if let Some(key) = selected {
            self.selected_group = self.groups.iter().position(|g| g.key == key).unwrap_or(0);
        }
    }

    pub fn group(&self) -> Option<&Group> {
        self.groups.get(self.selected_group)
    }

    /// The selected group's rows as shown: filtered and sorted.
    pub fn rows(&self) -> Vec<&review::Row> {
        let Some(group) = self.group() else {
            return Vec::new();
        };
        let mut rows: Vec<&review::Row> = group
            .rows
            .iter()
            .filter(|r| !self.failed_only || r.outcome.is_failure())
            .collect();
        match self.sort {
            RowSort::Interesting => rows.sort_by_key(|r| {
                (
                    !r.outcome.is_failure(),
                    std::cmp::Reverse(r.cluster.map(|c| c.0)),
                    r.machine.clone(),
                )
            }),
            RowSort::Machine => rows.sort_by(|a, b| a.machine.cmp(&b.machine)),
            RowSort::Outcome => rows.sort_by(|a, b| a.outcome.cmp(&b.outcome)),
            RowSort::Duration => rows.sort_by_key(|r| std::cmp::Reverse(r.duration_seconds)),
            RowSort::Action => {
                rows.sort_by(|a, b| a.action_id.cmp(&b.action_id).then(a.index.cmp(&b.index)))
            }
            RowSort::Status => rows.sort_by(|a, b| a.status.cmp(&b.status)),
            RowSort::Cluster => rows.sort_by_key(|r| r.cluster),
            RowSort::FirstLine => rows.sort_by(|a, b| a.summary.cmp(&b.summary)),
        }
        rows
    }

    pub fn selected(&self) -> Option<&review::Row> {
        self.rows().get(self.selected_row).copied()
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.rows_focused {
            let len = self.rows().len();
            self.selected_row = if len == 0 {
                0
            } else {
                self.selected_row.saturating_add_signed(delta).min(len - 1)
            };
        } else if !self.groups.is_empty() {
            self.selected_group = self
                .selected_group
                .saturating_add_signed(delta)
                .min(self.groups.len() - 1);
            self.selected_row = 0;
        }
    }

    pub fn toggle_failed_only(&mut self) {
        self.failed_only = !self.failed_only;
        self.selected_row = 0;
    }

    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
    }

    pub fn done(&self) -> usize {
        self.digests.len()
    }

    /// `fetching 48 results · 12 done · ETA 0:31 at 100/min`, or a summary once complete.
    pub fn progress(&self, meter: &crate::fetch::MeterSnapshot) -> String {
        let done = self.done();
        if done >= self.wanted {
            let plural = if self.groups.len() == 1 { "" } else { "s" };
            return format!(
                "{} results in · {} group{plural}",
                self.wanted,
                self.groups.len()
            );
        }
        let remaining = self.wanted - done;
        match (meter.eta(remaining), meter.per_minute()) {
            (Some(eta), Some(per_minute)) => format!(
                "fetching {} results · {done} done · ETA {} at {per_minute}/min",
                self.wanted,
                crate::fetch::limiter::clock_duration(eta),
            ),
            _ => format!("fetching {} results · {done} done", self.wanted),
        }
    }

    /// The groups table, the selected group's rows and the diff, top to bottom.
    pub fn layout(&self, area: Rect) -> [Rect; 3] {
        let group_rows = u16::try_from(self.groups.len().clamp(1, 8)).unwrap_or(8) + 3;
        let diff_rows = if self.diff.is_some() {
            area.height / 2
        } else {
            0
        };
        let parts = Layout::vertical([
            Constraint::Length(group_rows),
            Constraint::Min(4),
            Constraint::Length(diff_rows),
        ])
        .split(area);
        [parts[0], parts[1], parts[2]]
    }

    /// Keeps the selected row among the `rows` on screen.
    pub fn keep_in_view(&mut self, rows: usize) {
        self.row_offset = scroll_to_show(self.row_offset, self.selected_row, rows);
    }

    pub fn render(
        &self,
        frame: &mut Frame,
        parts: [Rect; 3],
        meter: &crate::fetch::MeterSnapshot,
        theme: &Theme,
    ) {
        self.render_groups(frame, parts[0], meter, theme);
        self.render_rows(frame, parts[1], theme);
        if let Some(diff) = &self.diff {
            render_diff(frame, parts[2], diff, theme);
        }
    }

    fn render_groups(
        &self,
        frame: &mut Frame,
        area: Rect,
        meter: &crate::fetch::MeterSnapshot,
        theme: &Theme,
    ) {
        let title = Line::from(vec![
            Span::styled(" Review ", theme.accent()),
            Span::styled(format!("{} ", self.progress(meter)), theme.dim()),
        ]);
        let rows: Vec<Row> = self
            .groups
            .iter()
            .map(|g| {
                let (failures, marked) = (g.failures(), g.marked());
                let (text, style) = match (failures, marked) {
                    (0, 0) => ("no failures".to_string(), theme.ok()),
                    (0, marked) => (format!("{marked} with control chars"), theme.warn()),
                    (failures, 0) => (format!("{failures} failed/non-zero"), theme.error()),
                    (failures, marked) => (
                        format!("{failures} failed · {marked} control chars"),
                        theme.error(),
                    ),
                };
                Row::new(vec![
                    Cell::from(sanitize::line(&g.key)),
                    Cell::from(g.summary()),
                    Cell::from(Span::styled(text, style)),
                ])
            })
            .collect();
        ListPane {
            block: pane_block(title, !self.rows_focused, theme),
            columns: &[
                ("SCRIPT / PATH", Constraint::Percentage(30)),
                ("MACHINES · DISTINCT OUTPUTS", Constraint::Percentage(50)),
                ("OUTCOMES", Constraint::Percentage(20)),
            ],
            rows,
            selected: self.selected_group,
            focused: !self.rows_focused,
        }
        .render(frame, area, theme);
    }

    fn render_rows(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let height = usize::from(area.height.saturating_sub(3)).max(1);
        let (title, table_rows) = {
            let group = self.group();
            let title = Line::from(vec![
                Span::styled(
                    format!(
                        " {} ",
                        group.map_or_else(String::new, |g| sanitize::line(&g.key))
                    ),
                    theme.accent(),
                ),
                Span::styled(
                    format!(
                        "{} ",
                        group.map_or_else(String::new, Group::outcome_summary)
                    ),
                    theme.dim(),
                ),
                Span::styled(format!("· sort: {} ", self.sort.label()), theme.dim()),
                Span::styled(
                    if self.failed_only {
                        "· failed/non-zero only "
                    } else {
                        ""
                    },
                    theme.warn(),
                ),
            ]);
            let rows: Vec<Row> = self
                .rows()
                .into_iter()
                .skip(self.row_offset)
                .take(height)
                .map(|r| {
                    let outcome_style = match &r.outcome {
                        _ if r.control_characters > 0 && !r.outcome.is_failure() => theme.warn(),
                        Outcome::Exit(0) | Outcome::Collected => theme.ok(),
                        Outcome::Running | Outcome::NotFetched => theme.dim(),
                        _ => theme.error(),
                    };
                    let cluster_style = match r.cluster {
                        Some(label) if label.is_first() => theme.dim(),
                        Some(_) => theme.warn().add_modifier(Modifier::BOLD),
                        None => theme.dim(),
                    };
                    Row::new(vec![
                        Cell::from(sanitize::line(
                            r.machine.split('.').next().unwrap_or(&r.machine),
                        )),
                        Cell::from(sanitize::line(r.action_id.get(..8).unwrap_or(&r.action_id))),
                        Cell::from(r.index.to_string()),
                        Cell::from(Span::styled(
                            if r.control_characters > 0 {
                                format!("{} ⚠", r.outcome.label())
                            } else {
                                r.outcome.label()
                            },
                            outcome_style,
                        )),
                        Cell::from(
                            r.duration_seconds
                                .map(|d| format!("{d}s"))
                                .unwrap_or_default(),
                        ),
                        Cell::from(Span::styled(
                            r.cluster.map_or_else(|| "·".to_string(), |c| c.to_string()),
                            cluster_style,
                        )),
                        Cell::from(Span::styled(r.summary.clone(), theme.dim())),
                    ])
                })
                .collect();
            (title, rows)
        };
        ListPane {
            block: pane_block(title, self.rows_focused, theme),
            columns: &[
                ("MACHINE", Constraint::Length(18)),
                ("ACTION", Constraint::Length(9)),
                ("#", Constraint::Length(3)),
                ("OUTCOME", Constraint::Length(18)),
                ("TIME", Constraint::Length(6)),
                ("CL", Constraint::Length(3)),
                ("FIRST ERROR OR OUTPUT LINE", Constraint::Min(10)),
            ],
            rows: table_rows,
            selected: self.selected_row - self.row_offset.min(self.selected_row),
            focused: self.rows_focused,
        }
        .render(frame, area, theme);
    }
}

fn render_diff(frame: &mut Frame, area: Rect, diff: &DiffView, theme: &Theme) {
    let lines: Vec<Line> = diff
        .lines
        .iter()
        .skip(diff.scroll)
        .take(usize::from(area.height))
        .map(|line| match line {
            DiffLine::Same(text) => Line::from(Span::styled(format!("  {text}"), theme.dim())),
            DiffLine::Removed(text) => Line::from(Span::styled(format!("- {text}"), theme.error())),
            DiffLine::Added(text) => Line::from(Span::styled(
                format!("+ {text}"),
                theme.ok().add_modifier(Modifier::BOLD),
            )),
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.accent())
        .title(Line::from(vec![
            Span::styled(format!(" {} ", diff.title), theme.accent()),
            Span::styled("- majority  + this machine · Esc closes ", theme.dim()),
        ]));
    let body = if lines.is_empty() {
        vec![Line::from(Span::styled(
            "no difference after masking",
            theme.dim(),
        ))]
    } else {
        lines
    };
    let mut paragraph = Paragraph::new(body).block(block);
    if diff.wrap {
        paragraph = paragraph.wrap(ratatui::widgets::Wrap { trim: false });
    }
    frame.render_widget(paragraph, area);
}
