//! What the analyst does with a transcript beyond reading it: go to a line, keep only the
//! matching lines, save, copy. Saving and raw copies run in the background; names of saved
//! files are sanitised, because they come from the payload.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use crate::fetch::ResultState;
use crate::sanitize;
use crate::transcript::decode::MAX_FILE_BYTES;
use crate::transcript::document::{self, Content, Line};
use crate::tui::app::App;
use crate::tui::message::{Effect, SaveKind};
use crate::tui::state::dialogs::Prompt;

/// What terminals reliably take through OSC 52 (xterm and tmux cut larger ones silently).
const OSC52_MAX_BYTES: usize = 100 * 1024;

impl App {
    pub(crate) fn edit_goto(&mut self, key: KeyEvent) {
        let Prompt::Goto(digits) = &mut self.prompt else {
            return;
        };
        match key.code {
            KeyCode::Char(c) if c.is_ascii_digit() => digits.push(c),
            KeyCode::Backspace => {
                digits.pop();
            }
            KeyCode::Enter => {
                let line: usize = digits.parse().unwrap_or(1);
                self.prompt = Prompt::None;
                self.transcript.only_matching = false;
                self.scroll_transcript_to(line.saturating_sub(1));
            }
            _ => self.prompt = Prompt::None,
        }
    }

    /// Puts shown line `position` at the top, as far as the last screenful allows: as in
    /// less, the pane is never scrolled past its last full screen.
    pub(crate) fn scroll_transcript_to(&mut self, position: usize) {
        let last_top = self.shown_count().saturating_sub(self.page_rows);
        self.transcript.scroll = position.min(last_top);
    }

    /// How many lines the transcript body shows: all, or with `&` only those with a hit.
    pub fn shown_count(&self) -> usize {
        let file = self
            .selected_key()
            .and_then(|key| self.documents.get(&key))
            .and_then(|d| match &d.content {
                Content::File(file) => Some(file.view_rows()),
                Content::Script { .. } => None,
            });
        if let Some(rows) = file {
            return rows;
        }
        if self.transcript.only_matching && !self.transcript.search.hits.is_empty() {
            self.transcript.search.matching_lines_before(usize::MAX)
        } else {
            self.current_lines().len()
        }
    }

    /// The line numbers of `rows` shown lines from position `start`, without listing the
    /// others (a 100 MB transcript has 635,000).
    pub fn shown_window(&self, start: usize, rows: usize) -> Vec<usize> {
        if self.transcript.only_matching && !self.transcript.search.hits.is_empty() {
            let hits = &self.transcript.search.hits;
            hits.iter()
                .enumerate()
                .filter(|(i, hit)| *i == 0 || hits[i - 1].line != hit.line)
                .map(|(_, hit)| hit.line)
                .skip(start)
                .take(rows)
                .collect()
        } else {
            let count = self.current_lines().len();
            (start.min(count)..start.saturating_add(rows).min(count)).collect()
        }
    }

    fn target_name(&self, suffix: &str) -> Option<String> {
        let action = self.selected()?;
        let command = self.selected_command()?;
        let host = action.computer_dns_name.split('.').next().unwrap_or("host");
        let what = command.target();
        let what = what.split_whitespace().next().unwrap_or("result");
        let what = what.rsplit(['\\', '/']).next().unwrap_or(what);
        Some(crate::files::safe_name(&format!(
            "{host}-{}-{}-{what}{suffix}",
            action.id.get(..8).unwrap_or(&action.id),
            command.index
        )))
    }

    pub(crate) fn save(&mut self, output_text: bool) -> Vec<Effect> {
        let Some(key) = self.selected_key() else {
            return Vec::new();
        };
        let Some(ResultState::Ready(fetched)) = self.results.get(&key) else {
            self.toast("fetch the result first (f)");
            return Vec::new();
        };
        let source = fetched.path.clone();
        let is_file = matches!(
            self.documents.get(&key).map(|d| &d.content),
            Some(Content::File(_))
        );
        let (kind, suffix) = match (is_file, output_text) {
            (true, _) => (
                SaveKind::File {
                    limit: MAX_FILE_BYTES,
                },
                String::new(),
            ),
            (false, true) => (SaveKind::OutputText, ".txt".to_string()),
            (false, false) => (SaveKind::Payload, ".json".to_string()),
        };
        let Some(name) = self.target_name(&suffix) else {
            return Vec::new();
        };
        vec![Effect::Save {
            source,
            target: self.save_dir.join(name),
            kind,
            key,
        }]
    }

    pub(crate) fn copy_visible(&mut self) -> Vec<Effect> {
        let lines: &[Line] = self.current_lines();
        let text: Vec<&str> = self
            .shown_window(self.transcript.scroll, self.page_rows.max(1))
            .iter()
            .filter_map(|&i| lines.get(i).map(|l| l.text.as_str()))
            .collect();
        if text.is_empty() {
            self.toast("nothing to copy");
            return Vec::new();
        }
        let count = text.len();
        let joined = text.join("\n");
        self.toast(format!("copied {count} lines (sanitised) to the clipboard"));
        let record = self.copy_record(&joined);
        [Effect::Copy(joined)].into_iter().chain(record).collect()
    }

    /// The raw output, read in the background, goes to the clipboard only if the terminal
    /// can take it, and never without saying what it carries.
    pub(crate) fn copy_raw_text(&mut self, text: String) -> Vec<Effect> {
        if text.len() > OSC52_MAX_BYTES {
            self.toast(format!(
                "the raw output is {} KB: too large for the terminal clipboard (OSC 52 takes about {} KB); s saves it to a file",
                text.len().div_ceil(1024),
                OSC52_MAX_BYTES / 1024
            ));
            return Vec::new();
        }
        let live = text
            .chars()
            .filter(|&c| !matches!(c, '\n' | '\t') && sanitize::placeholder(c).is_some())
            .count();
        if live > 0 {
            self.toast(format!(
                "copied {} bytes of raw output with {live} control or invisible characters: paste with care (y copies the sanitised text)",
                text.len()
            ));
        } else {
            self.toast(format!(
                "copied {} bytes of raw output to the clipboard",
                text.len()
            ));
        }
        let record = self.copy_record(&text);
        [Effect::Copy(text)].into_iter().chain(record).collect()
    }

    /// The custody log's entry for text of the selected result put on the clipboard.
    fn copy_record(&self, text: &str) -> Option<Effect> {
        use sha2::Digest as _;
        let key = self.selected_key()?;
        Some(Effect::Custody(crate::custody::Event::Copy {
            action_id: key.action_id,
            index: key.index,
            sha256: hex::encode(sha2::Sha256::digest(text.as_bytes())),
            size: text.len() as u64,
        }))
    }

    pub(crate) fn copy_raw(&mut self) -> Vec<Effect> {
        let Some(key) = self.selected_key() else {
            return Vec::new();
        };
        if let Some(ResultState::Ready(fetched)) = self.results.get(&key) {
            vec![Effect::CopyRaw(fetched.path.clone())]
        } else {
            self.toast("fetch the result first (f)");
            Vec::new()
        }
    }
}

impl App {
    pub fn current_lines(&self) -> &[document::Line] {
        self.selected_key()
            .and_then(|key| self.documents.get(&key))
            .map_or(&[], |d| d.section(self.transcript.section))
    }
}
