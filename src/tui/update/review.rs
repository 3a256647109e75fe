//! The review flows of the app: opening a review of marked or filtered actions, moving in
//! it, diffing an outlier against the majority, and opening a run's transcript from it.

use crate::api::models::MachineAction;
use crate::fetch::{Priority, ResultKey, ResultState};
use crate::tui::app::App;
use crate::tui::input::Action;
use crate::tui::message::Effect;
use crate::tui::state::browse::Pane;
use crate::tui::state::dialogs::{Prompt, Stage};
use crate::tui::state::transcript::TranscriptView;

impl App {
    /// Reviews the marked actions, or else every action the current filter shows.
    pub(crate) fn open_review(&mut self) -> Vec<Effect> {
        let scope: Vec<MachineAction> = if self.marked.is_empty() {
            self.visible
                .iter()
                .map(|&i| self.actions[i].clone())
                .filter(MachineAction::is_live_response)
                .collect()
        } else {
            self.actions
                .iter()
                .filter(|a| self.marked.contains(&a.id))
                .cloned()
                .collect()
        };
        let mut effects = vec![Effect::Activity(crate::review::activity(&scope))];
        let mut review = crate::tui::state::review::ReviewScreen::new(scope, self.now);
        for key in review.keys() {
            match self.digests.get(&key) {
                Some(digest) => {
                    review.digests.insert(key, digest.clone());
                }
                // Cached results come back first; the rest at the share a review may spend.
                None => effects.push(Effect::Fetch(key, Priority::Normal)),
            }
        }
        // Each run's previous run on its machine, among the actions listed. Baselines
        // outside the review are not fetched for it (that would spend the budget on runs
        // nobody asked for): those already in fill the column, `b` fetches the one it needs.
        let in_scope: std::collections::HashSet<&str> =
            review.scope.iter().map(|a| a.id.as_str()).collect();
        let earlier: Vec<MachineAction> = self
            .actions
            .iter()
            .filter(|a| a.is_live_response() && !in_scope.contains(a.id.as_str()))
            .cloned()
            .collect();
        let previous = crate::review::baseline::previous_runs(&review.scope, &earlier);
        if previous.values().any(Option::is_some) {
            review.baselines = previous;
            let outside: Vec<ResultKey> = review
                .baselines
                .values()
                .flatten()
                .filter(|key| !in_scope.contains(key.action_id.as_str()))
                .cloned()
                .collect();
            for key in outside {
                if let Some(digest) = self.digests.get(&key) {
                    review.add_baseline(key, digest.clone());
                }
            }
        }
        review.rebuild();
        self.review = Some(review);
        self.stage = Stage::Review;
        effects
    }

    pub(crate) fn on_review_action(&mut self, action: Action) -> Vec<Effect> {
        let page = isize::try_from(self.page_rows.max(1)).unwrap_or(10);
        let Some(review) = self.review.as_mut() else {
            self.stage = Stage::Browse;
            return Vec::new();
        };
        review.refresh();
        if let Some(diff) = review.diff.as_mut() {
            let moved = match action {
                Action::Up => Some(-1),
                Action::Down => Some(1),
                Action::PageUp => Some(-page),
                Action::PageDown => Some(page),
                Action::Top => Some(isize::MIN / 2),
                Action::Bottom => Some(isize::MAX / 2),
                _ => None,
            };
            if let Some(delta) = moved {
                diff.scroll_by(delta);
                return Vec::new();
            }
            if action == Action::ToggleWrap {
                diff.wrap = !diff.wrap;
                return Vec::new();
            }
        }
        match action {
            Action::Up => review.move_by(-1),
            Action::Down => review.move_by(1),
            Action::PageUp => review.move_by(-page),
            Action::PageDown => review.move_by(page),
            Action::Top => review.move_by(isize::MIN / 2),
            Action::Bottom => review.move_by(isize::MAX / 2),
            Action::NextPane | Action::PrevPane => review.rows_focused = !review.rows_focused,
            Action::ToggleFailedOnly => review.toggle_failed_only(),
            Action::CycleSort => review.cycle_sort(),
            Action::Back => {
                if review.diff.is_some() {
                    review.diff = None;
                } else {
                    self.stage = Stage::Browse;
                    return self.leave_review();
                }
            }
            Action::Review => return self.open_review(),
            Action::Run => return self.open_run_dialog(),
            Action::ShowDiff => return self.show_diff(),
            Action::ShowBaseline => return self.show_baseline_diff(),
            Action::Enter if !review.rows_focused => review.rows_focused = true,
            Action::Enter => return self.open_from_review(),
            Action::Help => self.prompt = Prompt::Help { scroll: 0 },
            Action::Quit | Action::ForceQuit => self.quit = true,
            _ => {}
        }
        Vec::new()
    }

    /// Leaving the review takes back its fetches still queued, so they no longer take the
    /// budget from what the analyst does next; what it fetched stays, and `R` picks up the
    /// rest again.
    fn leave_review(&mut self) -> Vec<Effect> {
        let Some(review) = self.review.as_ref() else {
            return Vec::new();
        };
        let browsing = Effect::Activity("browsing".into());
        let queued: Vec<ResultKey> = review
            .keys()
            .into_iter()
            .filter(|key| matches!(self.results.get(key), Some(ResultState::Queued)))
            .collect();
        if queued.is_empty() {
            return vec![browsing];
        }
        self.toast(format!(
            "left the review: {} queued {} taken back (what was fetched is kept; R reviews again and fetches the rest)",
            queued.len(),
            if queued.len() == 1 { "fetch" } else { "fetches" }
        ));
        vec![
            browsing,
            Effect::Withdraw {
                keys: queued,
                at_most: Priority::Normal,
            },
        ]
    }

    /// `d`: the selected run against the majority's. From the documents when both are
    /// decoded; else read from their payloads in the background (the review keeps digests,
    /// not documents).
    pub(crate) fn show_diff(&mut self) -> Vec<Effect> {
        let Some(review) = self.review.as_ref() else {
            return Vec::new();
        };
        let (Some(group), Some(row)) = (review.group(), review.selected()) else {
            return Vec::new();
        };
        let Some(majority) = group.clusters.first() else {
            self.toast("no output to compare yet");
            return Vec::new();
        };
        let representative = &group.rows[majority.representative];
        let majority_key = ResultKey::new(representative.action_id.clone(), representative.index);
        let row_key = ResultKey::new(row.action_id.clone(), row.index);
        // "The majority" only when one output is shared by more than one run.
        let against = if majority.size > 1 {
            format!("the majority {}", majority.label)
        } else {
            format!("run {} (every output differs)", majority.label)
        };
        let title = format!(
            "{} ({}) against {against}",
            row.machine.split('.').next().unwrap_or(&row.machine),
            row.cluster
                .map_or_else(|| "?".to_string(), |c| c.to_string()),
        );
        self.diff_against(&majority_key, &row_key, title)
    }

    /// `b`: the selected run against its previous run of the same script on its machine.
    pub(crate) fn show_baseline_diff(&mut self) -> Vec<Effect> {
        let Some(review) = self.review.as_ref() else {
            return Vec::new();
        };
        let Some(row) = review.selected() else {
            return Vec::new();
        };
        let row_key = ResultKey::new(row.action_id.clone(), row.index);
        let Some(Some(baseline)) = review.baselines.get(&row_key).cloned() else {
            self.toast("no previous run of this script on this machine among the actions listed");
            return Vec::new();
        };
        let title = format!(
            "{} against its previous run ({} #{})",
            row.machine.split('.').next().unwrap_or(&row.machine),
            baseline.action_id.get(..8).unwrap_or(&baseline.action_id),
            baseline.index
        );
        if !matches!(self.results.get(&baseline), Some(ResultState::Ready(_))) {
            self.toast("fetching the previous run's output: b again shows the diff");
            return vec![Effect::Fetch(baseline, Priority::Interactive)];
        }
        self.diff_against(&baseline, &row_key, title)
    }

    /// Diffs `row_key`'s output against `base_key`'s: at once from the decoded documents,
    /// else read from both payloads in the background.
    fn diff_against(
        &mut self,
        majority_key: &ResultKey,
        row_key: &ResultKey,
        title: String,
    ) -> Vec<Effect> {
        let text = |key: &ResultKey| {
            self.documents.get(key).map(|d| {
                d.section(crate::transcript::document::Section::Output)
                    .iter()
                    .map(|l| l.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        };
        if let (Some(old), Some(new)) = (text(majority_key), text(row_key)) {
            let lines = crate::review::diff(&old, &new, &crate::review::Normaliser::builtin(), 3);
            if let Some(review) = self.review.as_mut() {
                review.diff = Some(crate::tui::state::review::DiffView {
                    title,
                    lines,
                    scroll: 0,
                    wrap: false,
                });
            }
            return Vec::new();
        }
        let on_disk = |key: &ResultKey| match self.results.get(key) {
            Some(ResultState::Ready(fetched)) => Some((
                std::sync::Arc::clone(fetched),
                self.payload_kind(key, fetched),
            )),
            _ => None,
        };
        let (Some(majority), Some(outlier)) = (on_disk(majority_key), on_disk(row_key)) else {
            self.toast("both outputs must be fetched before they can be compared");
            return Vec::new();
        };
        vec![Effect::Diff {
            title,
            majority,
            outlier,
        }]
    }

    /// Opens the selected review row's transcript in the browse panes.
    pub(crate) fn open_from_review(&mut self) -> Vec<Effect> {
        let Some((action_id, index)) = self
            .review
            .as_ref()
            .and_then(|r| r.selected())
            .map(|r| (r.action_id.clone(), r.index))
        else {
            return Vec::new();
        };
        if !self
            .visible
            .iter()
            .any(|&i| self.actions[i].id == action_id)
        {
            self.filter.clear();
            self.failed_only = false;
            self.refilter();
        }
        let Some(position) = self
            .visible
            .iter()
            .position(|&i| self.actions[i].id == action_id)
        else {
            self.toast("that action is no longer in the list; press r to refresh");
            return Vec::new();
        };
        self.selected_action = position;
        self.selected_command = self
            .selected()
            .and_then(|a| a.commands.iter().position(|c| c.index == index))
            .unwrap_or(0);
        self.transcript = TranscriptView {
            wrap: self.transcript.wrap,
            line_numbers: self.transcript.line_numbers,
            ..TranscriptView::default()
        };
        self.focus = Pane::Transcript;
        self.stage = Stage::FromReview;
        self.fetch_selected(false)
    }
}
