//! The review screen drawn: the groups with their outcome counts, the selected group's runs,
//! and the diff of an outlier against the majority.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Paragraph, Row};

use crate::review::baseline::VsPrevious;
use crate::review::{DiffLine, Group, Outcome};
use crate::sanitize;
use crate::tui::state::review::{DiffView, ReviewScreen};
use crate::tui::theme::Theme;
use crate::tui::widgets::{ListPane, pane_block};

impl ReviewScreen {
    pub fn render(
        &self,
        frame: &mut Frame,
        parts: [Rect; 3],
        meter: &crate::fetch::MeterSnapshot,
        now: chrono::DateTime<chrono::FixedOffset>,
        theme: &Theme,
    ) {
        self.render_groups(frame, parts[0], meter, now, theme);
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
        now: chrono::DateTime<chrono::FixedOffset>,
        theme: &Theme,
    ) {
        let title = Line::from(vec![
            Span::styled(" Review ", theme.accent()),
            Span::styled(format!("{} ", self.progress(meter, now)), theme.dim()),
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
        // Only when some run has a previous run on its machine among the actions listed.
        let baselines_shown = self
            .group()
            .is_some_and(|g| g.rows.iter().any(|r| r.vs_previous.is_some()));
        let (title, table_rows, teammates_shown) = {
            let group = self.group();
            let from_teammates = group.map_or(0, Group::from_teammates);
            let teammates_shown = from_teammates > 0;
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
                    if teammates_shown {
                        format!("· {from_teammates} from teammates ")
                    } else {
                        String::new()
                    },
                    theme.accent(),
                ),
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
                    let mut cells = vec![
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
                    ];
                    if baselines_shown {
                        let (text, style) = match &r.vs_previous {
                            Some(VsPrevious::Changed { .. }) => (
                                "changed".to_string(),
                                theme.warn().add_modifier(Modifier::BOLD),
                            ),
                            Some(VsPrevious::Same { .. }) => ("same".to_string(), theme.dim()),
                            Some(VsPrevious::FirstRun) => ("first run".to_string(), theme.dim()),
                            Some(VsPrevious::Unknown { .. }) | None => {
                                ("·".to_string(), theme.dim())
                            }
                        };
                        cells.push(Cell::from(Span::styled(text, style)));
                    }
                    if teammates_shown {
                        cells.push(Cell::from(Span::styled(
                            r.teammate.as_deref().map_or_else(String::new, |by| {
                                sanitize::line(by.split('@').next().unwrap_or(by))
                            }),
                            theme.accent(),
                        )));
                    }
                    cells.push(Cell::from(Span::styled(r.summary.clone(), theme.dim())));
                    Row::new(cells)
                })
                .collect();
            (title, rows, teammates_shown)
        };
        let mut columns = vec![
            ("MACHINE", Constraint::Length(18)),
            ("ACTION", Constraint::Length(9)),
            ("#", Constraint::Length(3)),
            ("OUTCOME", Constraint::Length(18)),
            ("TIME", Constraint::Length(6)),
            ("CL", Constraint::Length(3)),
        ];
        if baselines_shown {
            // Against the machine's previous run of the script: `b` shows the lines.
            columns.push(("VS PREV", Constraint::Length(10)));
        }
        if teammates_shown {
            // Whose download it was: the analyst's own results leave it blank.
            columns.push(("FROM", Constraint::Length(10)));
        }
        columns.push(("FIRST ERROR OR OUTPUT LINE", Constraint::Min(10)));
        ListPane {
            block: pane_block(title, self.rows_focused, theme),
            columns: &columns,
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
