//! Acting from the explorer: `X` opens the run dialog for the marked machines (or, in the
//! review, the outliers and failed runs), `C` the cancel dialog for the selected action.
//! Nothing is posted before the analyst types the machine count (or, to cancel, presses
//! Enter on a comment); a read-only profile opens neither.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use crate::act::{self, Preview};
use crate::api::act::{LibraryFile, RunCommand, RunPlan};
use crate::api::models::MachineAction;
use crate::fetch::Priority;
use crate::sanitize;
use crate::tui::app::App;
use crate::tui::message::Effect;
use crate::tui::state::act::{CancelDialog, Field, Library, RunDialog, RunStage, RunTarget};
use crate::tui::state::dialogs::Prompt;

const READ_ONLY: &str =
    "read-only: this profile does not start or cancel sessions (read_only = true or --read-only)";

impl App {
    /// `X`: the run dialog for the machines the analyst pointed at.
    pub(crate) fn open_run_dialog(&mut self) -> Vec<Effect> {
        if self.settings.read_only {
            self.toast(READ_ONLY);
            return Vec::new();
        }
        let from_review = self.in_review();
        let targets = if from_review {
            self.review_targets()
        } else {
            self.browse_targets()
        };
        if targets.is_empty() {
            self.toast("no machine to run on: select an action, or mark some with Space");
            return Vec::new();
        }
        let comment = format!(
            "{} · ",
            act::default_comment(&self.settings.analyst, self.settings.case.as_deref())
        );
        self.prompt = Prompt::Run(Box::new(RunDialog::new(targets, from_review, comment)));
        vec![Effect::LoadLibrary]
    }

    /// The machines of the marked actions, or of the selected one.
    fn browse_targets(&self) -> Vec<RunTarget> {
        let actions: Vec<&MachineAction> = if self.marked.is_empty() {
            self.selected().into_iter().collect()
        } else {
            self.actions
                .iter()
                .filter(|a| self.marked.contains(&a.id))
                .collect()
        };
        targets_of(actions)
    }

    /// The review's outliers and failed runs in the group shown, or else the selected run.
    fn review_targets(&self) -> Vec<RunTarget> {
        let Some(review) = &self.review else {
            return Vec::new();
        };
        let rows = review.rows();
        let mut chosen: Vec<&str> = rows
            .iter()
            .filter(|r| r.outcome.is_failure() || r.cluster.is_some_and(|c| !c.is_first()))
            .map(|r| r.action_id.as_str())
            .collect();
        if chosen.is_empty() {
            chosen.extend(review.selected().map(|r| r.action_id.as_str()));
        }
        targets_of(
            chosen
                .into_iter()
                .filter_map(|id| review.scope.iter().find(|a| a.id == id))
                .collect(),
        )
    }

    /// `C`: the cancel dialog for the selected action, if it has not ended.
    pub(crate) fn open_cancel_dialog(&mut self) -> Vec<Effect> {
        if self.settings.read_only {
            self.toast(READ_ONLY);
            return Vec::new();
        }
        let Some(action) = self.selected() else {
            return Vec::new();
        };
        if action.status.is_final() {
            let text = format!(
                "{} has already ended ({}): there is nothing to cancel",
                sanitize::line(&action.id),
                action.status
            );
            self.toast(text);
            return Vec::new();
        }
        let dialog = CancelDialog {
            action_id: action.id.clone(),
            machine: sanitize::line(&action.computer_dns_name),
            status: action.status.to_string(),
            requestor: sanitize::line(&action.requestor),
            comment: format!(
                "{} · ",
                act::default_comment(&self.settings.analyst, self.settings.case.as_deref())
            ),
            sending: false,
        };
        self.prompt = Prompt::Cancel(Box::new(dialog));
        Vec::new()
    }

    pub(crate) fn edit_cancel(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Prompt::Cancel(dialog) = &mut self.prompt else {
            return Vec::new();
        };
        if dialog.sending {
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc => self.prompt = Prompt::None,
            KeyCode::Backspace => {
                dialog.comment.pop();
            }
            KeyCode::Enter if dialog.comment.trim().is_empty() => {}
            KeyCode::Enter => {
                dialog.sending = true;
                return vec![Effect::CancelAction {
                    action_id: dialog.action_id.clone(),
                    comment: dialog.comment.trim().to_string(),
                }];
            }
            KeyCode::Char(c) if !c.is_control() => dialog.comment.push(c),
            _ => {}
        }
        Vec::new()
    }

    pub(crate) fn edit_run(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Prompt::Run(dialog) = &mut self.prompt else {
            return Vec::new();
        };
        match &dialog.stage {
            RunStage::Editing if key.code == KeyCode::Esc => {
                self.prompt = Prompt::None;
                Vec::new()
            }
            RunStage::Editing => edit_fields(dialog, key),
            RunStage::Preparing => {
                if key.code == KeyCode::Esc {
                    self.prompt = Prompt::None;
                }
                Vec::new()
            }
            RunStage::Confirming(preview) => {
                let preview = preview.clone();
                match key.code {
                    KeyCode::Esc => {
                        dialog.stage = RunStage::Editing;
                        dialog.typed.clear();
                    }
                    KeyCode::Backspace => {
                        dialog.typed.pop();
                    }
                    KeyCode::Char(c) if c.is_ascii_digit() => dialog.typed.push(c),
                    KeyCode::Enter => {
                        let into_review = dialog.from_review;
                        let effects = confirm(dialog, preview);
                        if !effects.is_empty() {
                            self.run_into_review = into_review;
                        }
                        return effects;
                    }
                    _ => {}
                }
                Vec::new()
            }
            RunStage::Launching { .. } | RunStage::Done { .. } => {
                // The run goes on without the dialog; what it starts still joins the list.
                if matches!(key.code, KeyCode::Esc | KeyCode::Enter) {
                    self.prompt = Prompt::None;
                }
                Vec::new()
            }
        }
    }

    /// Pasted text goes into the dialog's field (a comment, an argument string).
    pub(crate) fn paste_into_dialog(&mut self, text: &str) {
        let typed = text.chars().filter(|c| !c.is_control());
        match &mut self.prompt {
            Prompt::Run(dialog) if dialog.stage == RunStage::Editing => {
                dialog.field_text().extend(typed);
                dialog.selected = 0;
            }
            Prompt::Cancel(dialog) if !dialog.sending => dialog.comment.extend(typed),
            _ => {}
        }
    }

    pub(crate) fn on_library(&mut self, result: Result<Vec<LibraryFile>, String>) {
        if let Prompt::Run(dialog) = &mut self.prompt
            && dialog.library == Library::Loading
        {
            dialog.library = match result {
                Ok(mut files) => {
                    files.sort_by_key(|f| f.file_name.to_lowercase());
                    Library::Ready(files)
                }
                Err(error) => Library::Unavailable(error),
            };
        }
    }

    pub(crate) fn on_run_prepared(&mut self, result: Result<Box<Preview>, String>) {
        if let Prompt::Run(dialog) = &mut self.prompt
            && dialog.stage == RunStage::Preparing
        {
            match result {
                Ok(preview) => {
                    dialog.typed.clear();
                    dialog.problem = None;
                    dialog.stage = RunStage::Confirming(preview);
                }
                Err(problem) => {
                    dialog.problem = Some(problem);
                    dialog.stage = RunStage::Editing;
                }
            }
        }
    }

    /// One machine of a run: its new action joins the list at once (and the review, when
    /// the run came from there), and is followed by the refresh of unfinished actions.
    pub(crate) fn on_run_started(
        &mut self,
        line: String,
        action: Option<Box<MachineAction>>,
    ) -> Vec<Effect> {
        if let Prompt::Run(dialog) = &mut self.prompt
            && let RunStage::Launching { lines, .. } = &mut dialog.stage
        {
            lines.push(line.clone());
        } else {
            self.toast(line);
        }
        let Some(action) = action else {
            return Vec::new();
        };
        if self.run_into_review
            && let Some(review) = self.review.as_mut()
        {
            review.take_action(&action, true);
        }
        if !self.actions.iter().any(|a| a.id == action.id) {
            self.actions.insert(0, *action);
            self.refilter();
        }
        Vec::new()
    }

    pub(crate) fn on_run_done(&mut self) {
        if let Prompt::Run(dialog) = &mut self.prompt
            && let RunStage::Launching { lines, .. } = &mut dialog.stage
        {
            let lines = std::mem::take(lines);
            dialog.stage = RunStage::Done { lines };
        }
    }

    pub(crate) fn on_cancel_done(&mut self, result: Result<Box<MachineAction>, String>) {
        if matches!(self.prompt, Prompt::Cancel(_)) {
            self.prompt = Prompt::None;
        }
        match result {
            Ok(action) => {
                self.toast(format!(
                    "{} on {}: now {}",
                    sanitize::line(&action.id),
                    sanitize::line(&action.computer_dns_name),
                    action.status
                ));
                if let Some(slot) = self.actions.iter_mut().find(|a| a.id == action.id) {
                    *slot = *action;
                }
                self.refilter();
            }
            Err(error) => self.toast(error),
        }
    }

    /// Actions re-read by the refresh that belong to the open review: their new results
    /// are fetched for it.
    pub(crate) fn review_takes(&mut self, updated: &[MachineAction]) -> Vec<Effect> {
        let Some(review) = self.review.as_mut() else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        for action in updated {
            for key in review.take_action(action, false) {
                match self.digests.get(&key) {
                    Some(digest) => review.add(key, digest.clone()),
                    None if !self.results.contains_key(&key) => {
                        effects.push(Effect::Fetch(key, Priority::Normal));
                    }
                    None => {}
                }
            }
        }
        effects
    }
}

fn targets_of(actions: Vec<&MachineAction>) -> Vec<RunTarget> {
    let mut targets: Vec<RunTarget> = Vec::new();
    for action in actions {
        if action.machine_id.is_empty()
            || targets
                .iter()
                .any(|t| t.machine_id.eq_ignore_ascii_case(&action.machine_id))
        {
            continue;
        }
        targets.push(RunTarget {
            machine_id: action.machine_id.clone(),
            name: sanitize::line(if action.computer_dns_name.is_empty() {
                &action.machine_id
            } else {
                &action.computer_dns_name
            }),
        });
    }
    targets
}

fn edit_fields(dialog: &mut RunDialog, key: KeyEvent) -> Vec<Effect> {
    let choices = dialog.matching().len();
    match key.code {
        KeyCode::Tab => dialog.field = dialog.field.next(),
        KeyCode::BackTab => dialog.field = dialog.field.previous(),
        KeyCode::Down if dialog.field == Field::Script => {
            dialog.selected = (dialog.selected + 1).min(choices.saturating_sub(1));
        }
        KeyCode::Up if dialog.field == Field::Script => {
            dialog.selected = dialog.selected.saturating_sub(1);
        }
        KeyCode::Backspace => {
            dialog.field_text().pop();
            dialog.selected = 0;
        }
        KeyCode::Enter => return prepare(dialog),
        KeyCode::Char(c) if !c.is_control() => {
            dialog.field_text().push(c);
            if dialog.field == Field::Script {
                dialog.selected = 0;
            }
        }
        _ => {}
    }
    Vec::new()
}

/// Enter on the fields: the plan is checked here, then looked up in the background.
fn prepare(dialog: &mut RunDialog) -> Vec<Effect> {
    let Some(script) = dialog.chosen_script() else {
        dialog.problem = Some("choose a script: type to filter the library, ↑/↓ to pick".into());
        dialog.field = Field::Script;
        return Vec::new();
    };
    let args = Some(dialog.args.trim().to_string()).filter(|a| !a.is_empty());
    let comment = dialog.comment.trim().trim_end_matches('·').trim();
    let plan = match RunPlan::new(
        vec![RunCommand::RunScript { script, args }],
        act::stamped(comment, &act::new_run_id()),
    ) {
        Ok(plan) => plan,
        Err(problem) => {
            dialog.problem = Some(problem);
            return Vec::new();
        }
    };
    dialog.problem = None;
    dialog.stage = RunStage::Preparing;
    vec![Effect::PrepareRun {
        plan,
        machine_ids: dialog
            .targets
            .iter()
            .map(|t| t.machine_id.clone())
            .collect(),
    }]
}

/// Enter on the confirmation: only the machine count typed out starts the run.
fn confirm(dialog: &mut RunDialog, preview: Box<Preview>) -> Vec<Effect> {
    let ready = preview.ready().count();
    if ready == 0 {
        dialog.problem =
            Some("no machine can start a session now (see above); Esc goes back".into());
        return Vec::new();
    }
    if dialog.typed != ready.to_string() {
        dialog.problem = Some(format!(
            "type {ready} (the number of machines) to start, or Esc to go back"
        ));
        dialog.typed.clear();
        return Vec::new();
    }
    dialog.problem = None;
    dialog.stage = RunStage::Launching {
        total: preview.targets.len(),
        lines: Vec::new(),
    };
    vec![Effect::LaunchRun(preview)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_needs_a_script_and_a_comment_before_anything_is_looked_up() {
        let target = RunTarget {
            machine_id: "a".repeat(40),
            name: "wks".into(),
        };
        let mut dialog = RunDialog::new(vec![target], false, "lrx: ana@jump01 · ".into());
        dialog.library = Library::Ready(vec![LibraryFile {
            file_name: "Get-Services.ps1".into(),
            ..LibraryFile::default()
        }]);
        dialog.script = "nothing".into();
        assert!(prepare(&mut dialog).is_empty());
        assert!(dialog.problem.is_some());
        dialog.script = "serv".into();
        let effects = prepare(&mut dialog);
        let [Effect::PrepareRun { plan, machine_ids }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        assert_eq!(machine_ids.len(), 1);
        assert!(
            plan.comment.starts_with("lrx: ana@jump01 · run "),
            "{}",
            plan.comment
        );
        assert_eq!(dialog.stage, RunStage::Preparing);
    }
}
