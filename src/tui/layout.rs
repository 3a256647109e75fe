//! Where everything goes, worked out from the state and the terminal's size alone. The update
//! side uses it to keep selections in view, page by the rows really shown and find a click's
//! pane; drawing uses the same rectangles and only reads.

use ratatui::layout::{Constraint, Layout, Rect};

use super::app::App;
use super::state::browse::{Pane, PaneAreas};
use super::state::review::ReviewScreen;
use crate::transcript::document::Content;

/// The screen's parts for one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Screen {
    pub header: Rect,
    pub body: Rect,
    pub meter: Rect,
    pub hints: Rect,
    /// The panes on screen (an empty rectangle for a pane not shown).
    pub panes: PaneAreas,
    /// The rows the transcript's lines are drawn in (empty when there is nothing to read).
    pub transcript_text: Rect,
    /// The review's groups table, its rows table and the diff below them, when reviewing.
    pub review: Option<[Rect; 3]>,
}

/// Rows a bordered table has for its entries (two borders and the column headers).
pub fn table_rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(3)).max(1)
}

/// The inside of a bordered pane.
pub fn inner(area: Rect) -> Rect {
    Rect {
        x: area.x.saturating_add(1),
        y: area.y.saturating_add(1),
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    }
}

impl Screen {
    pub fn of(app: &App, area: Rect) -> Self {
        let rows = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(area);
        let mut screen = Self {
            header: rows[0],
            body: rows[1],
            meter: rows[2],
            hints: rows[3],
            ..Self::default()
        };
        let body = rows[1];
        if app.in_review() {
            screen.review = app.review.as_ref().map(|review| review_parts(review, body));
            return screen;
        }
        if app.transcript.fullscreen {
            screen.panes[Pane::Transcript] = body;
        } else if body.width >= 150 {
            let columns =
                Layout::horizontal([Constraint::Percentage(48), Constraint::Percentage(52)])
                    .split(body);
            let left = Layout::vertical([Constraint::Percentage(58), Constraint::Percentage(42)])
                .split(columns[0]);
            screen.panes[Pane::Actions] = left[0];
            screen.panes[Pane::Commands] = left[1];
            screen.panes[Pane::Transcript] = columns[1];
        } else {
            // Stacked: the focused pane gets the most room.
            let weights = match app.focus {
                Pane::Actions => [50, 22, 28],
                Pane::Commands => [28, 36, 36],
                Pane::Transcript => [22, 20, 58],
            };
            let rows = Layout::vertical(weights.map(Constraint::Percentage)).split(body);
            for (pane, row) in Pane::ALL.into_iter().zip(rows.iter()) {
                screen.panes[pane] = *row;
            }
        }
        screen.transcript_text = transcript_text(app, screen.panes[Pane::Transcript]);
        screen
    }

    /// The rows one page of the focused list or text is: what `PgDn` moves by.
    pub fn page_rows(&self, app: &App) -> usize {
        if let Some([_, rows, _]) = self.review {
            return table_rows(rows);
        }
        match app.focus {
            Pane::Actions | Pane::Commands => table_rows(self.panes[app.focus]),
            Pane::Transcript if self.transcript_text.height > 0 => {
                usize::from(self.transcript_text.height)
            }
            Pane::Transcript => usize::from(inner(self.panes[Pane::Transcript]).height).max(1),
        }
    }
}

/// The review's groups table, the selected group's rows and the diff, top to bottom.
fn review_parts(review: &ReviewScreen, area: Rect) -> [Rect; 3] {
    let group_rows = u16::try_from(review.groups.len().clamp(1, 8)).unwrap_or(8) + 3;
    let diff_rows = if review.diff.is_some() {
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

/// Below the transcript's header: two rows of who, what and when, and a third when the
/// payload had problems worth saying.
fn transcript_text(app: &App, pane: Rect) -> Rect {
    let Some(document) = app.selected_key().and_then(|key| app.documents.get(&key)) else {
        return Rect::default();
    };
    let has_problems =
        matches!(&document.content, Content::Script { problems, .. } if !problems.is_empty());
    let header_rows = if has_problems { 3 } else { 2 };
    let inside = inner(pane);
    Layout::vertical([Constraint::Length(header_rows), Constraint::Min(1)]).split(inside)[1]
}

impl App {
    /// Fits the state to a screen of `area`: remembers where the panes are (for clicks),
    /// how many rows a page is, keeps the selections in view, and asks for the lines now on
    /// screen to be highlighted. Called before every draw; drawing itself changes nothing.
    pub fn arrange(&mut self, area: Rect) -> Vec<super::message::Effect> {
        if let Some(review) = self.review.as_mut() {
            review.refresh();
        }
        let screen = Screen::of(self, area);
        self.areas = screen.panes;
        self.page_rows = screen.page_rows(self);
        if screen.panes[Pane::Actions].height > 0 {
            let rows = table_rows(screen.panes[Pane::Actions]);
            self.actions_offset =
                super::state::scroll_to_show(self.actions_offset, self.selected_action, rows)
                    .min(self.visible.len().saturating_sub(rows));
        }
        if let (Some(review), Some([_, rows, _])) = (self.review.as_mut(), screen.review) {
            review.keep_in_view(table_rows(rows));
        }
        self.highlight_on_screen(screen.transcript_text)
    }

    fn highlight_on_screen(&mut self, text: Rect) -> Vec<super::message::Effect> {
        if text.height == 0 || !self.settings.highlight {
            return Vec::new();
        }
        let Some(key) = self.selected_key() else {
            return Vec::new();
        };
        let Some(document) = self.documents.get(&key).map(std::sync::Arc::clone) else {
            return Vec::new();
        };
        let section = self.transcript.section;
        let Some(highlighter) = document.highlighter(section) else {
            return Vec::new();
        };
        let start = self
            .transcript
            .scroll
            .min(self.shown_count().saturating_sub(1));
        let lines = self.shown_window(start, usize::from(text.height));
        let tokens = self.highlights.shown(&key, section, &document, highlighter);
        tokens.touch(&lines);
        let wanted = tokens.wanted(&lines, highlighter.lines());
        if wanted.chunks.is_empty() {
            return Vec::new();
        }
        vec![super::message::Effect::Highlight {
            key,
            document: super::message::Shown(document),
            section,
            wanted,
        }]
    }

    /// Whether the lines on screen have syntax tokens yet (`exact`: final ones), for tests and
    /// benchmarks that wait for colour; true when there is nothing to colour.
    pub fn highlighted_on_screen(&self, exact: bool) -> bool {
        let Some(key) = self.selected_key() else {
            return true;
        };
        let Some(document) = self.documents.get(&key) else {
            return true;
        };
        if document.highlighter(self.transcript.section).is_none() {
            return true;
        }
        let start = self
            .transcript
            .scroll
            .min(self.shown_count().saturating_sub(1));
        let lines = self.shown_window(start, self.page_rows);
        self.highlights
            .get(&key, self.transcript.section, document)
            .is_some_and(|tokens| tokens.covers(&lines, exact))
    }
}
