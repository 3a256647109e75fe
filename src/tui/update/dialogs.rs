//! The help overlay's keys.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use crate::tui::app::App;
use crate::tui::state::dialogs::Prompt;

impl App {
    pub(crate) fn scroll_help(&mut self, scroll: usize, key: KeyEvent) {
        // The key rows and the Ctrl-C line below them.
        let last = self.keymap.help_rows().len();
        let page = self.page_rows.max(1);
        let scroll = match key.code {
            KeyCode::Esc | KeyCode::Char('?' | 'q') => {
                self.prompt = Prompt::None;
                return;
            }
            KeyCode::Down | KeyCode::Char('j') => scroll + 1,
            KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => scroll + page,
            KeyCode::PageUp => scroll.saturating_sub(page),
            KeyCode::Home | KeyCode::Char('g') => 0,
            KeyCode::End | KeyCode::Char('G') => last,
            _ => scroll,
        };
        self.prompt = Prompt::Help {
            scroll: scroll.min(last),
        };
    }
}
