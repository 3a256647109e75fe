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

/// The actions' searchable text, lower-cased once per action (and again only when the action
/// changes), so that each keystroke of `/` over 10,000 actions is a scan of ready strings
/// rather than a lower-casing of every column.
#[derive(Debug, Default)]
pub struct FilterIndex {
    /// By the action's position in the list, with what it was made from.
    rows: Vec<Option<Indexed>>,
}

#[derive(Debug)]
struct Indexed {
    id: String,
    status: String,
    last_update: Option<chrono::DateTime<chrono::Utc>>,
    commands: usize,
    text: String,
}

impl Indexed {
    fn is_of(&self, action: &crate::api::models::MachineAction) -> bool {
        self.id == action.id
            && self.status == action.status.as_str()
            && self.last_update == action.last_update_date_time_utc
            && self.commands == action.commands.len()
    }
}

impl FilterIndex {
    /// Whether the action at `position` in the list has `needle` (already lower-cased) in
    /// its status, machine, requestor, comment, id or a command's target.
    pub fn matches(
        &mut self,
        position: usize,
        action: &crate::api::models::MachineAction,
        needle: &str,
    ) -> bool {
        if needle.is_empty() {
            return true;
        }
        if self.rows.len() <= position {
            self.rows.resize_with(position + 1, || None);
        }
        let row = &mut self.rows[position];
        if !row.as_ref().is_some_and(|indexed| indexed.is_of(action)) {
            *row = Some(Indexed {
                id: action.id.clone(),
                status: action.status.as_str().to_string(),
                last_update: action.last_update_date_time_utc,
                commands: action.commands.len(),
                text: haystack(action),
            });
        }
        row.as_ref()
            .is_some_and(|indexed| indexed.text.contains(needle))
    }
}

/// The searchable columns, lower-cased, apart by a character no needle holds (so a match
/// never spans two columns).
fn haystack(action: &crate::api::models::MachineAction) -> String {
    let mut text = String::new();
    for field in [
        action.status.as_str(),
        &action.computer_dns_name,
        &action.requestor,
        &action.requestor_comment,
        &action.id,
    ] {
        text.push_str(&field.to_lowercase());
        text.push('\u{0}');
    }
    for command in &action.commands {
        text.push_str(&command.target().to_lowercase());
        text.push('\u{0}');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::FilterIndex;
    use crate::api::models::ActionStatus;

    #[test]
    fn an_action_is_indexed_once_and_again_when_it_changes() {
        let now = chrono::Utc::now();
        let mut action = crate::fixtures::action(1, "WKS-Fin-0001", &["Get-Autoruns.ps1"], now);
        action.status = ActionStatus::InProgress;
        let mut index = FilterIndex::default();
        assert!(index.matches(0, &action, "wks-fin"));
        assert!(index.matches(0, &action, "autoruns"));
        assert!(index.matches(0, &action, "inprogress"));
        // Columns never run into each other.
        assert!(!index.matches(0, &action, "inprogresswks"));
        action.status = ActionStatus::Succeeded;
        action.last_update_date_time_utc = Some(now + chrono::Duration::seconds(5));
        assert!(!index.matches(0, &action, "inprogress"), "re-indexed");
        assert!(index.matches(0, &action, "succeeded"));
        // Another action in the same place is indexed for itself.
        let other = crate::fixtures::action(2, "srv-dc01", &["Get-Services.ps1"], now);
        assert!(!index.matches(0, &other, "wks-fin"));
        assert!(index.matches(0, &other, "srv-dc01"));
    }
}
