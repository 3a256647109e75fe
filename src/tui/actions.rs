//! What each key does in the browse panes: the one place actions from the key map turn into
//! state changes and effects.

use super::app::{App, Effect, Pane, Prompt, Search, Stage};
use super::input::Action;
use crate::api::models::Command;
use crate::fetch::{Priority, ResultKey};
use crate::transcript::document::Section;

impl App {
    pub(super) fn on_action(&mut self, action: Action) -> Vec<Effect> {
        let page = isize::try_from(self.page_rows.max(1)).unwrap_or(10);
        match action {
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-page),
            Action::PageDown => self.move_selection(page),
            Action::Top => self.move_selection(isize::MIN / 2),
            Action::Bottom => self.move_selection(isize::MAX / 2),
            // Fullscreen, there is no other pane to go to: Tab walks the sections instead.
            Action::NextPane | Action::PrevPane
                if self.focus == Pane::Transcript && self.transcript.fullscreen =>
            {
                let step = if action == Action::NextPane { 1 } else { 2 };
                let at = Section::ALL
                    .iter()
                    .position(|s| *s == self.transcript.section)
                    .unwrap_or(0);
                self.show_section(Section::ALL[(at + step) % Section::ALL.len()]);
                Vec::new()
            }
            Action::NextPane => {
                self.focus = match self.focus {
                    Pane::Actions => Pane::Commands,
                    Pane::Commands => Pane::Transcript,
                    Pane::Transcript => Pane::Actions,
                };
                self.on_focus()
            }
            Action::PrevPane => {
                self.focus = match self.focus {
                    Pane::Actions => Pane::Transcript,
                    Pane::Commands => Pane::Actions,
                    Pane::Transcript => Pane::Commands,
                };
                self.on_focus()
            }
            Action::Enter => match self.focus {
                Pane::Actions => {
                    self.focus = Pane::Commands;
                    if let Some(first) = self
                        .selected()
                        .and_then(|a| a.commands.iter().position(Command::has_result))
                    {
                        self.selected_command = first;
                    }
                    self.on_focus()
                }
                Pane::Commands => {
                    self.focus = Pane::Transcript;
                    self.fetch_selected(false)
                }
                Pane::Transcript => Vec::new(),
            },
            Action::Back => {
                if self.review.is_some() && self.stage == Stage::FromReview {
                    self.stage = Stage::Review;
                    return Vec::new();
                }
                match self.focus {
                    Pane::Transcript if self.transcript.fullscreen => {
                        self.transcript.fullscreen = false
                    }
                    Pane::Transcript if !self.transcript.search.query.is_empty() => {
                        self.transcript.search = Search::cleared(self.transcript.search.regex)
                    }
                    Pane::Transcript => self.focus = Pane::Commands,
                    Pane::Commands => self.focus = Pane::Actions,
                    Pane::Actions if !self.filter.is_empty() => {
                        self.filter.clear();
                        self.refilter();
                    }
                    Pane::Actions => {}
                }
                Vec::new()
            }
            Action::Search => {
                if self.focus == Pane::Transcript {
                    self.transcript.search =
                        Search::prompt(self.transcript.search.regex, self.transcript.scroll);
                    self.prompt = Prompt::Search;
                } else {
                    self.focus = Pane::Actions;
                    self.prompt = Prompt::Filter;
                }
                Vec::new()
            }
            Action::NextMatch => {
                let next = self.transcript.search.current + 1;
                self.jump_to_match(next);
                Vec::new()
            }
            Action::PrevMatch => {
                let len = self.transcript.search.hits.len().max(1);
                let previous = (self.transcript.search.current + len - 1) % len;
                self.jump_to_match(previous);
                Vec::new()
            }
            Action::Refresh => vec![self.load(false)],
            Action::Fetch => self.fetch_selected(true),
            // Under "failed or non-zero only", F completes the list: it fetches the results
            // whose exit codes are not known yet.
            Action::FetchAll if self.failed_only && !self.exit_unknown.is_empty() => {
                let effects: Vec<Effect> = self
                    .exit_unknown
                    .iter()
                    .flat_map(|&i| ResultKey::of_action(&self.actions[i]))
                    .map(|key| Effect::Fetch(key, Priority::Normal))
                    .collect();
                self.toast(format!(
                    "fetching {} results of {} actions to learn their exit codes",
                    effects.len(),
                    self.exit_unknown.len()
                ));
                effects
            }
            Action::FetchAll => {
                let Some(action) = self.selected() else {
                    return Vec::new();
                };
                ResultKey::of_action(action)
                    .map(|key| Effect::Fetch(key, Priority::Normal))
                    .collect()
            }
            Action::Help => {
                self.prompt = Prompt::Help { scroll: 0 };
                Vec::new()
            }
            Action::Quit | Action::ForceQuit => {
                self.quit = true;
                Vec::new()
            }
            Action::ToggleFailedOnly => {
                self.failed_only = !self.failed_only;
                self.refilter();
                Vec::new()
            }
            Action::ToggleAllTypes => {
                self.all_types = !self.all_types;
                vec![self.load(false)]
            }
            Action::CycleSort => {
                self.sort = self.sort.next();
                self.refilter();
                Vec::new()
            }
            Action::ToggleAbsoluteTime => {
                self.absolute_time = !self.absolute_time;
                Vec::new()
            }
            Action::ToggleWrap => {
                self.transcript.wrap = !self.transcript.wrap;
                self.transcript.hscroll = 0;
                Vec::new()
            }
            Action::ScrollLeft => {
                self.transcript.hscroll = self.transcript.hscroll.saturating_sub(8);
                Vec::new()
            }
            Action::ScrollRight => {
                if !self.transcript.wrap {
                    self.transcript.hscroll += 8;
                }
                Vec::new()
            }
            Action::ToggleLineNumbers => {
                self.transcript.line_numbers = !self.transcript.line_numbers;
                Vec::new()
            }
            Action::ToggleFullscreen => {
                self.transcript.fullscreen = !self.transcript.fullscreen;
                Vec::new()
            }
            Action::Pager => {
                let lines = self.current_lines();
                if lines.is_empty() {
                    self.toast("nothing to page: fetch the result first (f)");
                    return Vec::new();
                }
                let text: String = lines
                    .iter()
                    .map(|l| l.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n");
                self.needs_full_redraw = true;
                vec![Effect::Pager(text)]
            }
            Action::CommandLine => {
                self.prompt = Prompt::Command(String::new());
                Vec::new()
            }
            Action::GotoLine => {
                self.prompt = Prompt::Goto(String::new());
                Vec::new()
            }
            Action::OnlyMatching => {
                self.transcript.only_matching =
                    !self.transcript.only_matching && !self.transcript.search.hits.is_empty();
                self.transcript.scroll = 0;
                Vec::new()
            }
            Action::SavePayload => self.save(false),
            Action::SaveOutput => self.save(true),
            Action::Copy => self.copy_visible(),
            Action::CopyRaw => self.copy_raw(),
            Action::ToggleMark => {
                if let Some(id) = self.selected().map(|a| a.id.clone())
                    && !self.marked.remove(&id)
                {
                    self.marked.insert(id);
                }
                self.move_selection(1)
            }
            Action::Review => self.open_review(),
            Action::ShowDiff => Vec::new(),
            Action::ShowOutput | Action::ShowErrors | Action::ShowRaw => {
                self.show_section(match action {
                    Action::ShowErrors => Section::Errors,
                    Action::ShowRaw => Section::Raw,
                    _ => Section::Output,
                });
                Vec::new()
            }
        }
    }

    fn show_section(&mut self, section: Section) {
        self.transcript.section = section;
        self.transcript.scroll = 0;
        self.refresh_search();
    }
}
