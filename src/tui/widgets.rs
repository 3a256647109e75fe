//! Small pieces the panes share, drawn from what they are given (no app state): a pane's
//! border, a list with headers and a selection, the rule for keeping a selection in view,
//! and the formats of sizes, countdowns and exit codes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Row, Table, TableState};

use super::theme::Theme;
use crate::sanitize;
use crate::transcript::decode::ExitCode;

pub(crate) fn pane_block<'a>(title: Line<'a>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(theme.border(focused))
        .title(title)
}

/// A pane's list: column headers, the rows on screen, the selected one highlighted.
pub(crate) struct ListPane<'a> {
    pub block: Block<'a>,
    pub columns: &'a [(&'a str, Constraint)],
    pub rows: Vec<Row<'a>>,
    /// Counted from the first row given.
    pub selected: usize,
    pub focused: bool,
}

impl ListPane<'_> {
    pub(crate) fn render(self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let table = Table::new(self.rows, self.columns.iter().map(|(_, width)| *width))
            .header(Row::new(self.columns.iter().map(|(title, _)| *title)).style(theme.dim()))
            .row_highlight_style(theme.selected(self.focused))
            .block(self.block);
        let mut state = TableState::default().with_selected(Some(self.selected));
        frame.render_stateful_widget(table, area, &mut state);
    }
}

pub(crate) fn countdown(seconds: i64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

pub(super) use crate::files::human_bytes;

pub(crate) fn exit_span(code: Option<&ExitCode>, theme: &Theme) -> Span<'static> {
    match code {
        Some(ExitCode::Code(0)) => {
            Span::styled(" exit 0 ", theme.ok().add_modifier(Modifier::REVERSED))
        }
        Some(ExitCode::Code(code)) => Span::styled(
            format!(" exit {code} "),
            theme.error().add_modifier(Modifier::REVERSED),
        ),
        Some(ExitCode::Unusual(text)) => Span::styled(
            format!(" exit {} ", sanitize::line(text)),
            theme.warn().add_modifier(Modifier::REVERSED),
        ),
        Some(ExitCode::Missing) => {
            Span::styled(" exit ? ", theme.dim().add_modifier(Modifier::REVERSED))
        }
        None => Span::raw(""),
    }
}
