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

    /// How two actions of `actions` (by position) order under this key.
    pub(crate) fn compare(
        self,
        actions: &[crate::api::models::MachineAction],
        a: usize,
        b: usize,
    ) -> std::cmp::Ordering {
        let (a, b) = (&actions[a], &actions[b]);
        match self {
            // Newest first.
            Self::Created => b.creation_date_time_utc.cmp(&a.creation_date_time_utc),
            Self::Machine => a.computer_dns_name.cmp(&b.computer_dns_name),
            Self::Status => a.status.as_str().cmp(b.status.as_str()),
            Self::Requestor => a.requestor.cmp(&b.requestor),
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

/// The machine actions as listed. Every mutable use counts as a change (it goes through
/// `DerefMut`), so what is worked out from the list — its sorted order, the rows the last
/// filter kept — can be reused until the list really changes, without any caller having
/// to say so.
#[derive(Debug, Default)]
pub struct Actions {
    list: Vec<crate::api::models::MachineAction>,
    generation: u64,
}

impl Actions {
    /// Changes with every mutable use of the list.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl From<Vec<crate::api::models::MachineAction>> for Actions {
    fn from(list: Vec<crate::api::models::MachineAction>) -> Self {
        Self {
            list,
            generation: 0,
        }
    }
}

impl std::ops::Deref for Actions {
    type Target = Vec<crate::api::models::MachineAction>;
    fn deref(&self) -> &Self::Target {
        &self.list
    }
}

impl std::ops::DerefMut for Actions {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.generation += 1;
        &mut self.list
    }
}

/// What the last re-filter worked out, for the next one to start from.
#[derive(Debug, Default)]
pub struct FilterMemo {
    /// Every action's position, in the order of `sort`, for the list's `generation`.
    order: Option<(u64, SortKey, Vec<usize>)>,
    /// The needle the last filter used and the rows it kept (in order), for the list's
    /// `generation` and `sort`: a needle that contains it can only keep fewer of them.
    last: Option<(u64, SortKey, String, Vec<usize>)>,
}

impl FilterMemo {
    /// Every position in the order of `sort`, sorted again only when the list or the key
    /// changed.
    pub fn order(&mut self, actions: &Actions, sort: SortKey) -> &[usize] {
        let generation = actions.generation();
        if !matches!(&self.order, Some((g, k, _)) if *g == generation && *k == sort) {
            let mut order: Vec<usize> = (0..actions.len()).collect();
            order.sort_by(|a, b| sort.compare(actions, *a, *b));
            self.order = Some((generation, sort, order));
        }
        self.order.as_ref().map_or(&[], |(_, _, order)| order)
    }

    /// The rows the last filter kept, when `needle` can only narrow them.
    pub fn narrowing(&self, actions: &Actions, sort: SortKey, needle: &str) -> Option<&[usize]> {
        match &self.last {
            Some((generation, key, last, kept))
                if *generation == actions.generation()
                    && *key == sort
                    && !last.is_empty()
                    && needle.contains(last.as_str()) =>
            {
                Some(kept)
            }
            _ => None,
        }
    }

    pub fn remember(&mut self, actions: &Actions, sort: SortKey, needle: &str, kept: &[usize]) {
        self.last = Some((
            actions.generation(),
            sort,
            needle.to_string(),
            kept.to_vec(),
        ));
    }

    pub fn forget(&mut self) {
        self.last = None;
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
    /// The list's generation when this row was last found to be of its action: within
    /// one generation the action cannot have changed, so it is not compared again.
    checked: u64,
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
    /// its status, machine, requestor, comment, id or a command's target. `generation` is
    /// the list's (see `Actions`).
    pub fn matches(
        &mut self,
        position: usize,
        action: &crate::api::models::MachineAction,
        needle: &str,
        generation: u64,
    ) -> bool {
        if needle.is_empty() {
            return true;
        }
        if self.rows.len() <= position {
            self.rows.resize_with(position + 1, || None);
        }
        let row = &mut self.rows[position];
        match row {
            Some(indexed) if indexed.checked == generation => {}
            Some(indexed) if indexed.is_of(action) => indexed.checked = generation,
            _ => {
                *row = Some(Indexed {
                    checked: generation,
                    id: action.id.clone(),
                    status: action.status.as_str().to_string(),
                    last_update: action.last_update_date_time_utc,
                    commands: action.commands.len(),
                    text: haystack(action),
                });
            }
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
        assert!(index.matches(0, &action, "wks-fin", 1));
        assert!(index.matches(0, &action, "autoruns", 1));
        assert!(index.matches(0, &action, "inprogress", 1));
        // Columns never run into each other.
        assert!(!index.matches(0, &action, "inprogresswks", 1));
        action.status = ActionStatus::Succeeded;
        action.last_update_date_time_utc = Some(now + chrono::Duration::seconds(5));
        // Changing the action changed the list's generation.
        assert!(!index.matches(0, &action, "inprogress", 2), "re-indexed");
        assert!(index.matches(0, &action, "succeeded", 2));
        // Another action in the same place is indexed for itself.
        let other = crate::fixtures::action(2, "srv-dc01", &["Get-Services.ps1"], now);
        assert!(!index.matches(0, &other, "wks-fin", 3));
        assert!(index.matches(0, &other, "srv-dc01", 3));
    }
}
