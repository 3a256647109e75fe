//! Searching the transcript, as in less: `/` opens the prompt, matches show as you type,
//! Enter keeps the search, `n`/`N` walk the matches, Ctrl-R switches between literal and
//! regex. Long documents are searched in the background; the count grows on screen. A
//! character typed (or text pasted) onto a literal query refines the search under way.

use std::sync::Arc;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::transcript::search::{self, Found, Pattern, Scope, SearchId};
use crate::tui::app::App;
use crate::tui::message::Effect;
use crate::tui::state::browse::Pane;
use crate::tui::state::dialogs::Prompt;
use crate::tui::state::search::{Search, Typed};

impl App {
    pub(crate) fn edit_search(&mut self, key: KeyEvent) -> Vec<Effect> {
        let search = &mut self.transcript.search;
        let mut effects = Vec::new();
        match key.code {
            KeyCode::Esc => {
                *search = Search::cleared(search.regex);
                self.prompt = Prompt::None;
            }
            KeyCode::Enter => {
                self.prompt = Prompt::None;
                search.typed = None;
                self.jump_from_origin();
            }
            KeyCode::Char('r') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                search.regex = !search.regex;
                effects = self.refresh_search();
                self.jump_from_origin();
            }
            KeyCode::Backspace => {
                search.query.pop();
                effects = self.refresh_search();
                self.jump_from_origin();
            }
            KeyCode::Char(c) => {
                search.query.push(c);
                effects = self.refine_search();
                // Incremental: show the first match as you type.
                self.jump_from_origin();
            }
            _ => {}
        }
        effects
    }

    /// Pasted text goes into the prompt that is open, as if typed (a search refines once
    /// for all of it); outside a prompt it is ignored rather than read as keys. Control
    /// characters (a pasted line's newline) are left out.
    pub(crate) fn paste(&mut self, text: &str) -> Vec<Effect> {
        let typed = text.chars().filter(|c| !c.is_control());
        match self.prompt {
            Prompt::Search => {
                self.transcript.search.query.extend(typed);
                let effects = self.refine_search();
                self.jump_from_origin();
                effects
            }
            Prompt::None | Prompt::Help { .. } => Vec::new(),
            Prompt::Run(_) | Prompt::Cancel(_) => {
                self.paste_into_dialog(text);
                Vec::new()
            }
            Prompt::Filter | Prompt::Goto(_) | Prompt::Command(_) => {
                let mut effects = Vec::new();
                for c in typed {
                    let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
                    effects.extend(self.update(crate::tui::message::Message::Key(key)));
                }
                effects
            }
        }
    }

    /// Starts the search over for the current query, section and document.
    /// The first lines are searched now; the rest, if any, is an effect.
    pub(crate) fn refresh_search(&mut self) -> Vec<Effect> {
        self.search(false)
    }

    /// The query grew: when it narrows the search being typed, only the lines that search
    /// matched (as far as it got) and those it had not reached are looked at.
    fn refine_search(&mut self) -> Vec<Effect> {
        self.search(true)
    }

    fn search(&mut self, refine: bool) -> Vec<Effect> {
        let lines = self
            .selected_key()
            .and_then(|key| self.documents.get(&key))
            .map(|document| document.shared_section(self.transcript.section));
        let search = &mut self.transcript.search;
        search.stop = None;
        search.id = search::next_id();
        let previous = search.typed.take();
        let previous_hits = std::mem::take(&mut search.hits);
        search.current = 0;
        search.counting = false;
        search.error = None;
        let pattern = match Pattern::new(&search.query, search.regex) {
            Ok(Some(pattern)) => pattern,
            Ok(None) => return Vec::new(),
            Err(error) => {
                search.error = Some(error);
                return Vec::new();
            }
        };
        let Some(lines) = lines else {
            return Vec::new();
        };
        let scope = match previous {
            Some(previous)
                if refine
                    && Arc::ptr_eq(&previous.lines, &lines)
                    && pattern.narrows(&previous.pattern) =>
            {
                search.scope.narrowed(&previous_hits, search.reached)
            }
            _ => Scope::default(),
        };
        if self.prompt == Prompt::Search {
            search.typed = Some(Typed {
                lines: Arc::clone(&lines),
                pattern: pattern.clone(),
            });
        }
        search.scope = scope.clone();
        let begun = search::begin(lines, pattern, scope);
        search.hits = begun.hits;
        search.reached = begun.reached;
        let Some((rest, stop)) = begun.rest else {
            return Vec::new();
        };
        search.counting = true;
        search.stop = Some(Arc::new(stop));
        vec![Effect::Search {
            id: search.id,
            rest,
        }]
    }

    /// Takes in what the background search found, if it is about the current one.
    pub(crate) fn on_search_found(&mut self, id: SearchId, found: Found) {
        let search = &mut self.transcript.search;
        if search.id != id {
            return;
        }
        search.hits.extend(found.hits);
        search.reached = found.reached;
        search.counting = !found.done;
        if found.done {
            search.stop = None;
        }
        if search.jump_pending {
            self.jump_from_origin();
        }
    }

    /// Shows the first match at or below where the search began, once it is known; wraps to
    /// the top when there is none below.
    fn jump_from_origin(&mut self) {
        let search = &mut self.transcript.search;
        let index = search.first_from(search.origin);
        search.jump_pending = false;
        if index < search.hits.len() {
            self.jump_to_match(index);
        } else if search.counting {
            search.jump_pending = true;
        } else if !search.hits.is_empty() {
            self.jump_to_match(0);
        }
    }

    pub(crate) fn jump_to_match(&mut self, index: usize) {
        let search = &mut self.transcript.search;
        if search.hits.is_empty() {
            return;
        }
        search.current = index % search.hits.len();
        let line = search.hits[search.current].line;
        // With `&` the pane lists matching lines only: scroll by position among them.
        let position = if self.transcript.only_matching {
            search.matching_lines_before(line)
        } else {
            line
        };
        self.scroll_transcript_to(position.saturating_sub(self.page_rows / 3));
        self.scroll_hit_into_view();
    }

    /// Unwrapped, a match past either edge of the pane is brought into view sideways, with
    /// some of what precedes it: a counter saying `1/1` over nothing visible helps no one.
    fn scroll_hit_into_view(&mut self) {
        if self.transcript.wrap {
            return;
        }
        let search = &self.transcript.search;
        let Some(hit) = search.hits.get(search.current).copied() else {
            return;
        };
        let lines = self.current_lines();
        let Some(text) = lines.get(hit.line).map(|l| l.text.as_str()) else {
            return;
        };
        let column = |byte: usize| {
            let end = byte.min(text.len());
            text.get(..end)
                .map_or(0, unicode_width::UnicodeWidthStr::width)
        };
        let (start, end) = (column(hit.start), column(hit.end));
        let gutter = if self.transcript.line_numbers {
            lines.len().to_string().len() + 1
        } else {
            0
        };
        let width = usize::from(self.areas[Pane::Transcript].width)
            .saturating_sub(2 + gutter)
            .max(1);
        let hscroll = &mut self.transcript.hscroll;
        if start < *hscroll || end > *hscroll + width {
            *hscroll = start.saturating_sub(width / 4);
        }
    }
}
