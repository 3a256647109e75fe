//! What browsing holds: which pane has the focus, how the actions list is sorted, and where
//! the panes were drawn.

use ratatui::layout::{Position, Rect};

use crate::tui::input::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Actions,
    Commands,
    Transcript,
}

impl Pane {
    /// Left to right, top to bottom: the order Tab walks and Enter goes deeper in.
    pub const ALL: [Self; 3] = [Self::Actions, Self::Commands, Self::Transcript];

    fn position(self) -> usize {
        Self::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// The pane Tab goes to.
    #[must_use]
    pub fn next(self) -> Self {
        Self::ALL[(self.position() + 1) % Self::ALL.len()]
    }

    /// The pane Shift-Tab goes to.
    #[must_use]
    pub fn previous(self) -> Self {
        Self::ALL[(self.position() + Self::ALL.len() - 1) % Self::ALL.len()]
    }

    /// The key map's context while the pane has the focus.
    pub fn context(self) -> Context {
        match self {
            Self::Actions => Context::Actions,
            Self::Commands => Context::Commands,
            Self::Transcript => Context::Transcript,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Created,
    Machine,
    Status,
    Requestor,
}

impl SortKey {
    pub(crate) fn next(self) -> Self {
        match self {
            Self::Created => Self::Machine,
            Self::Machine => Self::Status,
            Self::Status => Self::Requestor,
            Self::Requestor => Self::Created,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Machine => "machine",
            Self::Status => "status",
            Self::Requestor => "requestor",
        }
    }
}

/// Where each pane was drawn last, so a click can find its pane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneAreas([Rect; Pane::ALL.len()]);

impl PaneAreas {
    /// The pane under a point, and where it is.
    pub fn at(&self, point: Position) -> Option<(Pane, Rect)> {
        Pane::ALL
            .into_iter()
            .map(|pane| (pane, self[pane]))
            .find(|(_, area)| area.contains(point))
    }
}

impl std::ops::Index<Pane> for PaneAreas {
    type Output = Rect;
    fn index(&self, pane: Pane) -> &Rect {
        &self.0[pane.position()]
    }
}

impl std::ops::IndexMut<Pane> for PaneAreas {
    fn index_mut(&mut self, pane: Pane) -> &mut Rect {
        &mut self.0[pane.position()]
    }
}
