//! Browsing: the actions list (loading, filtering, sorting, the selection) and the keys of
//! the three panes, mapped from the key map's actions onto state changes and effects.

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use crate::api::ListQuery;
use crate::api::models::{ActionStatus, Command, MachineAction};
use crate::fetch::ListRequest;
use crate::fetch::{Priority, ResultKey, ResultState};
use crate::transcript::document::Section;
use crate::tui::app::App;
use crate::tui::input::Action;
use crate::tui::message::Effect;
use crate::tui::state::browse::Pane;
use crate::tui::state::dialogs::{Prompt, Stage};
use crate::tui::state::search::Search;
use crate::tui::state::transcript::TranscriptView;

impl App {
    pub(crate) fn on_action(&mut self, action: Action) -> Vec<Effect> {
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
                    .position(|s| *s == self.transcript.section.tab())
                    .unwrap_or(0);
                self.show_section(Section::ALL[(at + step) % Section::ALL.len()]);
                Vec::new()
            }
            Action::NextPane => {
                self.focus = self.focus.next();
                self.on_focus()
            }
            Action::PrevPane => {
                self.focus = self.focus.previous();
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
                        self.transcript.fullscreen = false;
                    }
                    Pane::Transcript if !self.transcript.search.query.is_empty() => {
                        self.transcript.search = Search::cleared(self.transcript.search.regex);
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
            Action::Run => self.open_run_dialog(),
            Action::CancelAction => self.open_cancel_dialog(),
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
            Action::ShowDiff | Action::ShowBaseline => Vec::new(),
            Action::ShowRaw if self.transcript.section.tab() == Section::Raw => {
                self.toggle_raw_indent()
            }
            Action::ShowOutput | Action::ShowErrors | Action::ShowRaw => {
                self.show_section(match action {
                    Action::ShowErrors => Section::Errors,
                    Action::ShowRaw => Section::Raw,
                    _ => Section::Output,
                })
            }
        }
    }

    /// `3` on the Raw tab: the payload as received, or indented one member a line.
    fn toggle_raw_indent(&mut self) -> Vec<Effect> {
        if self.transcript.section == Section::RawIndented {
            return self.show_section(Section::Raw);
        }
        let document = self.selected_key().and_then(|key| self.documents.get(&key));
        match document {
            Some(document) if document.can_indent_raw() => self.show_section(Section::RawIndented),
            Some(_) => {
                self.toast("shown as received: the payload is not JSON, or over 4 MB to indent (s saves it for jq)");
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    fn show_section(&mut self, section: Section) -> Vec<Effect> {
        self.transcript.section = section;
        self.transcript.scroll = 0;
        self.refresh_search()
    }
}

impl App {
    pub(crate) fn query(&self, skip: usize) -> ListQuery {
        ListQuery {
            action_type: (!self.all_types).then(|| crate::api::LIVE_RESPONSE.into()),
            limit: self.settings.page_size,
            skip,
            ..ListQuery::default()
        }
    }

    /// The first page (small, so the list shows at once), or the next one: as large as the
    /// service allows, so 50,000 actions come in six calls rather than by scrolling.
    pub(crate) fn load(&mut self, append: bool) -> Effect {
        self.loading = true;
        let mut query = self.query(if append { self.actions.len() } else { 0 });
        query.limit = self.page_limit(append);
        Effect::List(ListRequest::Load { query, append })
    }

    /// How many actions a load asks for: a page shorter than that is the list's end.
    pub(crate) fn page_limit(&self, append: bool) -> usize {
        if append {
            self.settings.page_size.max(crate::tui::app::NEXT_PAGE)
        } else {
            self.settings.page_size
        }
    }

    pub fn selected(&self) -> Option<&MachineAction> {
        self.visible
            .get(self.selected_action)
            .and_then(|&i| self.actions.get(i))
    }

    pub fn selected_command(&self) -> Option<&Command> {
        self.selected()
            .and_then(|a| a.commands.get(self.selected_command))
    }

    pub fn selected_key(&self) -> Option<ResultKey> {
        let action = self.selected()?;
        let command = action.commands.get(self.selected_command)?;
        Some(ResultKey::new(action.id.clone(), command.index))
    }

    /// Failed or `TimeOut`, a failed command, or a non-zero exit code among fetched results.
    pub(crate) fn is_failed_or_nonzero(&self, action: &MachineAction) -> bool {
        matches!(action.status, ActionStatus::Failed | ActionStatus::TimeOut)
            || action.failed_count() > 0
            || action.commands.iter().any(|c| {
                self.exit_code(&ResultKey::new(action.id.clone(), c.index))
                    .is_some_and(|code| code.code() != Some(0))
            })
    }

    /// Not known to have failed, but with a script result whose exit code is not fetched.
    pub(crate) fn exit_code_unknown(&self, action: &MachineAction) -> bool {
        action.commands.iter().any(|c| {
            c.has_result()
                && c.command.command_type == crate::api::models::CommandType::RunScript
                && self
                    .exit_code(&ResultKey::new(action.id.clone(), c.index))
                    .is_none()
        })
    }

    /// Recomputes the visible rows, keeping the selected action selected. The list is
    /// sorted once per change of list or key, not per keystroke; a needle typed onto the
    /// last one looks only at the rows that one kept.
    pub fn refilter(&mut self) {
        let keep = self.selected().map(|a| a.id.clone());
        // A needle never holds the index's column separator.
        let needle = self.filter.to_lowercase().replace('\u{0}', "");
        let sort = self.sort;
        let narrowed = if self.failed_only {
            None
        } else {
            self.filter_memo
                .narrowing(&self.actions, sort, &needle)
                .map(<[usize]>::to_vec)
        };
        let candidates = match narrowed {
            Some(kept) => kept,
            None => self.filter_memo.order(&self.actions, sort).to_vec(),
        };
        let mut visible = Vec::new();
        let mut unknown = Vec::new();
        let generation = self.actions.generation();
        for i in candidates {
            let action = &self.actions[i];
            if !self.filter_index.matches(i, action, &needle, generation) {
                continue;
            }
            if !self.failed_only || self.is_failed_or_nonzero(action) {
                visible.push(i);
            } else if self.exit_code_unknown(action) {
                unknown.push(i);
            }
        }
        self.exit_unknown = unknown;
        if self.failed_only {
            self.filter_memo.forget();
        } else {
            self.filter_memo
                .remember(&self.actions, sort, &needle, &visible);
        }
        self.visible = visible;
        self.selected_action = keep
            .and_then(|id| self.visible.iter().position(|&i| self.actions[i].id == id))
            .unwrap_or(0)
            .min(self.visible.len().saturating_sub(1));
    }

    pub(crate) fn edit_filter(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => {
                self.filter.clear();
                self.prompt = Prompt::None;
            }
            KeyCode::Enter => self.prompt = Prompt::None,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) => self.filter.push(c),
            _ => return Vec::new(),
        }
        self.refilter();
        Vec::new()
    }

    pub(crate) fn commands_len(&self) -> usize {
        self.selected().map_or(0, |a| a.commands.len())
    }

    pub(crate) fn move_selection(&mut self, delta: isize) -> Vec<Effect> {
        let step = |current: usize, len: usize| -> usize {
            if len == 0 {
                return 0;
            }
            current.saturating_add_signed(delta).min(len - 1)
        };
        match self.focus {
            Pane::Actions => {
                let before = self.selected_action;
                self.selected_action = step(self.selected_action, self.visible.len());
                let mut effects = Vec::new();
                if before != self.selected_action {
                    self.selected_command = 0;
                    self.transcript.scroll = 0;
                }
                // Scrolling past the end loads older actions.
                if delta > 0
                    && before + 1 >= self.visible.len()
                    && self.more_available
                    && !self.loading
                {
                    effects.push(self.load(true));
                }
                effects
            }
            Pane::Commands => {
                self.selected_command = step(self.selected_command, self.commands_len());
                self.transcript = TranscriptView {
                    wrap: self.transcript.wrap,
                    line_numbers: self.transcript.line_numbers,
                    ..TranscriptView::default()
                };
                self.fetch_selected(false)
            }
            Pane::Transcript => {
                self.scroll_transcript_to(self.transcript.scroll.saturating_add_signed(delta));
                Vec::new()
            }
        }
    }

    /// Fetches the selected command's result at top priority and, with prefetch on, the
    /// action's other results behind it.
    pub(crate) fn fetch_selected(&mut self, force: bool) -> Vec<Effect> {
        let Some(action) = self.selected() else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        let mut notice = None;
        if let Some(command) = action
            .commands
            .get(self.selected_command)
            .filter(|c| c.has_result())
        {
            let key = ResultKey::new(action.id.clone(), command.index);
            match self.results.get(&key) {
                // Already on disk: an expired link has nothing left to renew. Say so, rather
                // than spend a call or do nothing without a word.
                Some(ResultState::Ready(fetched)) if force => {
                    let source = if fetched.from_cache {
                        "from the cache"
                    } else {
                        "for this session"
                    };
                    let expired = fetched.link_expires_at.is_some_and(|t| t <= self.now);
                    notice = Some(if expired {
                        format!(
                            "already fetched and kept {source}; its link expired, but nothing needs it any more"
                        )
                    } else {
                        format!("already fetched and kept {source}")
                    });
                }
                Some(ResultState::Ready(_)) => {}
                _ => effects.push(Effect::Fetch(key, Priority::Interactive)),
            }
        }
        if self.settings.prefetch {
            for key in ResultKey::of_action(action) {
                if !self.results.contains_key(&key) {
                    effects.push(Effect::Fetch(key, Priority::Prefetch));
                }
            }
        }
        if let Some(notice) = notice {
            self.toast(notice);
        }
        // On disk already, but digested for a review or let go for newer ones.
        effects.extend(self.decode_selected());
        effects
    }

    /// The selected action's results still waiting in the fetch queue.
    pub(crate) fn queued_results_of_selected(&self) -> Vec<ResultKey> {
        self.selected().map_or_else(Vec::new, |action| {
            ResultKey::of_action(action)
                .filter(|key| matches!(self.results.get(key), Some(ResultState::Queued)))
                .collect()
        })
    }

    /// A pane that shows a result fetches it when it gets the focus.
    pub(crate) fn on_focus(&mut self) -> Vec<Effect> {
        if self.focus == Pane::Actions {
            Vec::new()
        } else {
            self.fetch_selected(false)
        }
    }

    /// When the youngest age shown in the actions list ("12s ago", "5m ago") next changes.
    pub(crate) fn next_age_change(&self) -> Option<DateTime<Utc>> {
        if self.absolute_time || self.in_review() {
            return None;
        }
        let rows = self.page_rows.max(1);
        let youngest = self
            .visible
            .iter()
            .skip(self.actions_offset)
            .take(rows)
            .filter_map(|&i| self.actions.get(i)?.creation_date_time_utc)
            .max()?;
        let age = (self.now - youngest).num_seconds().max(0);
        let unit = match age {
            0..60 => 1,
            60..3600 => 60,
            3600..86_400 => 3600,
            _ => 86_400,
        };
        Some(youngest + chrono::Duration::seconds((age / unit + 1) * unit))
    }
}
