//! The commands pane: the selected action's command indexes with their status, exit code
//! and link state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use crate::api::models::CommandStatus;
use crate::fetch::ResultKey;
use crate::sanitize;
use crate::tui::app::App;
use crate::tui::layout::Screen;
use crate::tui::panes::transcript::link_state;
use crate::tui::state::browse::Pane;
use crate::tui::theme::Theme;
use crate::tui::widgets::{ListPane, exit_span, pane_block};

pub(crate) fn commands(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let focused = app.focus == Pane::Commands;
    let Some(action) = app.selected() else {
        frame.render_widget(
            pane_block(
                Line::from(Span::styled(" Commands ", theme.accent())),
                focused,
                theme,
            ),
            area,
        );
        return;
    };
    let title = Line::from(vec![
        Span::styled(" Commands ", theme.accent()),
        Span::styled(
            format!("of {} ", sanitize::line(&action.computer_dns_name)),
            theme.dim(),
        ),
    ]);
    let rows: Vec<Row> = action
        .commands
        .iter()
        .map(|command| {
            let key = ResultKey::new(action.id.clone(), command.index);
            let (icon, style) = theme.status(command.command_status.as_str());
            let running = command.command_status == CommandStatus::Created
                && command.start_time.is_some()
                && command.end_time.is_none();
            let status = if running {
                "running".to_string()
            } else {
                command.command_status.as_str().to_string()
            };
            let duration = command
                .duration()
                .map_or_else(|| "-".into(), |d| format!("{}s", d.num_seconds()));
            let detail = command.errors.first().map_or_else(
                || Span::raw(""),
                |error| {
                    Span::styled(
                        sanitize::line(error.lines().next().unwrap_or_default()),
                        theme.error(),
                    )
                },
            );
            Row::new(vec![
                Cell::from(format!("{:>2}", command.index)),
                Cell::from(sanitize::line(command.command.command_type.as_str())),
                Cell::from(Line::from(vec![
                    Span::raw(sanitize::line(&command.target())),
                    Span::raw(" "),
                    detail,
                ])),
                Cell::from(Span::styled(format!("{icon} {status}"), style)),
                Cell::from(duration),
                Cell::from(exit_span(app.exit_code(&key), theme)),
                Cell::from(link_state(app, &key, command.has_result(), theme)),
            ])
        })
        .collect();
    ListPane {
        block: pane_block(title, focused, theme),
        columns: &[
            ("#", Constraint::Length(2)),
            ("TYPE", Constraint::Length(9)),
            ("SCRIPT / PATH", Constraint::Min(16)),
            ("STATUS", Constraint::Length(11)),
            ("TIME", Constraint::Length(5)),
            ("EXIT", Constraint::Length(8)),
            ("RESULT", Constraint::Length(24)),
        ],
        rows,
        selected: app.selected_command,
        focused,
    }
    .render(frame, area, theme);
}

pub(crate) struct CommandsPane;

impl super::BrowsePane for CommandsPane {
    fn pane(&self) -> Pane {
        Pane::Commands
    }

    fn render(&self, frame: &mut Frame, screen: &Screen, app: &App, theme: &Theme) {
        commands(frame, screen.panes[Pane::Commands], app, theme);
    }
}
