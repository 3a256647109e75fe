//! The `:` command line and the mouse: two more ways in, mapped onto the same state changes
//! as the keys.

use ratatui::crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use crate::tui::app::App;
use crate::tui::message::{Effect, Exit};
use crate::tui::state::browse::Pane;
use crate::tui::state::dialogs::Prompt;

impl App {
    pub(crate) fn edit_command(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Prompt::Command(text) = &mut self.prompt else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Esc => self.prompt = Prompt::None,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            KeyCode::Enter => {
                let line = std::mem::take(text);
                self.prompt = Prompt::None;
                return self.run_command(line.trim());
            }
            _ => {}
        }
        Vec::new()
    }

    /// `:profile NAME`, `:review`, `:login`, `:q`.
    pub fn run_command(&mut self, line: &str) -> Vec<Effect> {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("profile"), Some(name)) => {
                self.exit = Exit::SwitchProfile(name.to_string());
                self.quit = true;
                Vec::new()
            }
            (Some("profile"), None) => {
                self.toast("which profile? :profile NAME (profiles are in config.toml)");
                Vec::new()
            }
            (Some("review"), _) => self.open_review(),
            (Some("login"), _) => vec![Effect::DeviceLogin],
            (Some("q" | "quit"), _) => {
                self.quit = true;
                Vec::new()
            }
            (Some(other), _) => {
                self.toast(format!(
                    "unknown command :{} (try :profile NAME, :review, :login, :q)",
                    crate::sanitize::line(other)
                ));
                Vec::new()
            }
            (None, _) => Vec::new(),
        }
    }

    /// Click to focus a pane and select a row; the wheel scrolls the pane under the pointer.
    pub(crate) fn on_mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        let at = Position::new(mouse.column, mouse.row);
        let Some((pane, area)) = self.areas.at(at) else {
            return Vec::new();
        };
        match mouse.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let previous = self.focus;
                self.focus = pane;
                let delta = if mouse.kind == MouseEventKind::ScrollDown {
                    3
                } else {
                    -3
                };
                let effects = if pane == Pane::Commands {
                    Vec::new()
                } else {
                    self.move_selection(delta)
                };
                self.focus = previous;
                effects
            }
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                // Rows start below the border and the header row.
                let row = usize::from(mouse.row.saturating_sub(area.y + 2));
                match pane {
                    Pane::Actions => {
                        let target = self.actions_offset + row;
                        if target < self.visible.len() && mouse.row >= area.y + 2 {
                            let delta = isize::try_from(target).unwrap_or(0)
                                - isize::try_from(self.selected_action).unwrap_or(0);
                            return self.move_selection(delta);
                        }
                        Vec::new()
                    }
                    Pane::Commands => {
                        if row < self.commands_len() && mouse.row >= area.y + 2 {
                            let delta = isize::try_from(row).unwrap_or(0)
                                - isize::try_from(self.selected_command).unwrap_or(0);
                            return self.move_selection(delta);
                        }
                        Vec::new()
                    }
                    Pane::Transcript => self.on_focus(),
                }
            }
            _ => Vec::new(),
        }
    }
}
