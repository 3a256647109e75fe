//! The machine actions pane: the list of live response sessions, only the rows on screen.

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};

use crate::api::models::MachineAction;
use crate::sanitize;
use crate::tui::app::App;
use crate::tui::layout::Screen;
use crate::tui::state::browse::Pane;
use crate::tui::state::dialogs::Prompt;
use crate::tui::theme::Theme;
use crate::tui::widgets::{ListPane, pane_block};

pub(crate) fn relative(now: DateTime<Utc>, then: Option<DateTime<Utc>>) -> String {
    let Some(then) = then else { return "-".into() };
    let seconds = (now - then).num_seconds().max(0);
    match seconds {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

fn absolute(time: Option<DateTime<Utc>>, offset: FixedOffset) -> String {
    time.map_or_else(
        || "-".into(),
        |t| {
            t.with_timezone(&offset)
                .format("%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

pub(crate) fn actions(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let focused = app.focus == Pane::Actions;
    let mut title = vec![Span::styled(" Machine actions ", theme.accent())];
    // `+`: the service has more than is loaded (they load as you scroll past the end).
    title.push(Span::styled(
        format!(
            "{}/{}{} ",
            app.visible.len(),
            app.actions.len(),
            if app.more_available { "+" } else { "" }
        ),
        theme.dim(),
    ));
    title.push(Span::styled(
        format!("sort: {} ", app.sort.label()),
        theme.dim(),
    ));
    if app.prompt == Prompt::Filter {
        title.push(Span::styled(
            format!("/{}▏", sanitize::line(&app.filter)),
            theme.warn(),
        ));
    }
    let block =
        pane_block(Line::from(title), focused, theme).title_bottom(Line::from(Span::styled(
            " portal-started sessions are not visible through the API ",
            theme.dim(),
        )));
    let inner_height = crate::tui::layout::table_rows(area);
    // Only the rows on screen are built: the list may hold tens of thousands of actions.
    let rows: Vec<Row> = app
        .visible
        .iter()
        .skip(app.actions_offset)
        .take(inner_height)
        .map(|&i| action_row(&app.actions[i], app, theme))
        .collect();
    let empty = rows.is_empty();
    // Wide enough for `●▶ InProgress` and a whole absolute time; a TYPE column when every
    // action type is listed, since an Isolate has no commands to count.
    let created = Constraint::Length(if app.absolute_time { 14 } else { 9 });
    let mut columns = vec![
        ("STATUS", Constraint::Length(13)),
        ("MACHINE", Constraint::Length(24)),
        ("REQUESTOR", Constraint::Length(20)),
        ("CREATED", created),
        ("CMDS", Constraint::Length(6)),
        ("COMMENT", Constraint::Min(10)),
    ];
    if app.all_types {
        columns.insert(1, ("TYPE", Constraint::Length(14)));
    }
    ListPane {
        block,
        columns: &columns,
        rows,
        selected: app.selected_action - app.actions_offset.min(app.selected_action),
        focused,
    }
    .render(frame, area, theme);
    if empty {
        let message = if app.loading {
            "loading machine actions…".to_string()
        } else if let Some(error) = &app.load_error {
            format!("could not load: {}", sanitize::line(error))
        } else if app.actions.is_empty() {
            "no machine actions".into()
        } else if app.failed_only && !app.exit_unknown.is_empty() {
            format!(
                "no failed or non-zero run known yet: {} actions have exit codes not fetched (F fetches them)",
                app.exit_unknown.len()
            )
        } else {
            "nothing matches the filter (Esc clears it)".into()
        };
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        frame.render_widget(Paragraph::new(Span::styled(message, theme.dim())), inner);
    }
}

fn action_row<'a>(action: &'a MachineAction, app: &App, theme: &Theme) -> Row<'a> {
    let (icon, style) = theme.status(action.status.as_str());
    let created = if app.absolute_time {
        absolute(action.creation_date_time_utc, app.local_offset)
    } else {
        relative(app.now, action.creation_date_time_utc)
    };
    let failed = action.failed_count();
    let commands = if action.is_live_response() {
        Span::raw(format!("{}/{}", action.done_count(), action.commands.len()))
    } else {
        // Not a Live Response session: it has no commands; its type says what it did.
        Span::styled("—", theme.dim())
    };
    let commands = if failed > 0 {
        Line::from(vec![
            commands,
            Span::styled(format!(" {failed}✘"), theme.error()),
        ])
    } else {
        Line::from(commands)
    };
    let mut cells = vec![
        Cell::from(Span::styled(
            format!(
                "{}{icon} {}",
                if app.marked.contains(&action.id) {
                    "●"
                } else {
                    ""
                },
                sanitize::line(action.status.as_str())
            ),
            style,
        )),
        Cell::from(sanitize::line(
            action
                .computer_dns_name
                .split('.')
                .next()
                .unwrap_or(&action.computer_dns_name),
        )),
        Cell::from(sanitize::line(&action.requestor)),
        Cell::from(created),
        Cell::from(commands),
        Cell::from(Span::styled(
            sanitize::line(&action.requestor_comment),
            theme.dim(),
        )),
    ];
    if app.all_types {
        cells.insert(1, Cell::from(sanitize::line(&action.action_type)));
    }
    Row::new(cells)
}

pub(crate) struct ActionsPane;

impl super::BrowsePane for ActionsPane {
    fn pane(&self) -> Pane {
        Pane::Actions
    }

    fn render(&self, frame: &mut Frame, screen: &Screen, app: &App, theme: &Theme) {
        actions(frame, screen.panes[Pane::Actions], app, theme);
    }
}
