//! What browsing holds: which pane has the focus, how the actions list is sorted, and where
//! the panes were drawn.

use ratatui::layout::Rect;

use crate::tui::input::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Actions,
    Commands,
    Transcript,
}

impl Pane {
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
pub struct PaneAreas {
    pub actions: Rect,
    pub commands: Rect,
    pub transcript: Rect,
}
