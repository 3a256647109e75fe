//! Drawing the screen from the state. Rendering only reads; it never changes state except
//! remembering how many rows a page has (for PgUp/PgDn).

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Clear, Paragraph, Row};
use unicode_width::UnicodeWidthStr as _;

use super::app::App;
use super::input::{self, Context};
use super::layout::Screen;
use super::message::Effect;
use super::state::browse::Pane;
use super::state::dialogs::Prompt;
use super::theme::Theme;
use super::transcript_pane::link_state;
use super::widgets::{ListPane, countdown, exit_span, pane_block};
use crate::api::models::{CommandStatus, MachineAction};
use crate::fetch::ResultKey;
use crate::sanitize;

/// Lays the frame out (the update side: selections kept in view, pages sized) and draws it.
/// Returns the work the layout asks for: highlighting the lines now on screen.
pub fn draw(frame: &mut Frame, app: &mut App, theme: &Theme) -> Vec<Effect> {
    let effects = app.arrange(frame.area());
    render(frame, app, theme);
    effects
}

/// Draws the state as it is; it changes nothing.
pub fn render(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    if let Some(canvas) = theme.canvas() {
        frame
            .buffer_mut()
            .set_style(area, ratatui::style::Style::default().bg(canvas));
    }
    let screen = Screen::of(app, area);
    let rows = [screen.header, screen.body, screen.meter, screen.hints];
    header(frame, rows[0], app, theme);
    body(frame, &screen, app, theme);
    meter(frame, rows[2], app, theme);
    hints(frame, rows[3], app, theme);
    if let Prompt::Help { scroll } = app.prompt {
        help(frame, area, scroll, app, theme);
    }
    if let Some((text, _)) = &app.toast {
        toast(frame, rows[1], text, theme);
    }
    if let Some((uri, code)) = &app.device_prompt {
        device_dialog(frame, area, uri, code, theme);
    }
}

fn header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![
        Span::styled(" lrx ", theme.accent().add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(sanitize::line(&app.label), theme.accent()),
        Span::styled(format!(" · {} ", app.cloud), theme.dim()),
    ];
    let scope = if app.all_types {
        "all action types"
    } else {
        "Live Response"
    };
    spans.push(Span::raw(format!("· {scope} ")));
    if !app.filter.is_empty() {
        spans.push(Span::styled(
            format!("· filter \"{}\" ", sanitize::line(&app.filter)),
            theme.warn(),
        ));
    }
    if app.failed_only {
        let text = match app.exit_unknown.len() {
            0 => "· failed/non-zero only ".to_string(),
            n => format!(
                "· x: {} failed · {n} not fetched yet — F fetches ",
                app.visible.len()
            ),
        };
        spans.push(Span::styled(text, theme.warn()));
    }
    match app.last_refresh {
        Some(at) => {
            let age = (app.now - at).num_seconds();
            spans.push(Span::styled(
                format!(
                    "· refreshed {} ",
                    at.with_timezone(&app.local_offset).format("%H:%M:%S")
                ),
                theme.dim(),
            ));
            if app.load_error.is_some() || age > 300 {
                spans.push(Span::styled("· data may be stale ", theme.warn()));
            }
        }
        None if app.loading => spans.push(Span::styled("· loading… ", theme.dim())),
        None => {}
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn body(frame: &mut Frame, screen: &Screen, app: &App, theme: &Theme) {
    if let Some(parts) = screen.review {
        if let Some(review) = &app.review {
            review.render(frame, parts, &app.meter, theme);
        }
        return;
    }
    let panes = screen.panes;
    if panes.actions.height > 0 {
        actions(frame, panes.actions, app, theme);
    }
    if panes.commands.height > 0 {
        commands(frame, panes.commands, app, theme);
    }
    super::transcript_pane::transcript(frame, panes.transcript, screen.transcript_text, app, theme);
}

pub fn relative(now: DateTime<Utc>, then: Option<DateTime<Utc>>) -> String {
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

fn actions(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
    let inner_height = super::layout::table_rows(area);
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

fn commands(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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

fn bar(used: u32, limit: u32, cells: usize) -> String {
    let filled = if limit == 0 {
        0
    } else {
        (used as usize * cells).div_ceil(limit as usize).min(cells)
    };
    format!("{}{}", "▰".repeat(filled), "▱".repeat(cells - filled))
}

fn meter(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![Span::styled(" API ", theme.accent())];
    if app.meter.windows.is_empty() {
        spans.push(Span::styled("budget not measured yet", theme.dim()));
    }
    for (i, window) in app.meter.windows.iter().enumerate() {
        let unit = match window.period.as_secs() {
            60 => "per min".to_string(),
            3600 => "per h".to_string(),
            s => format!("per {s}s"),
        };
        let ratio = f64::from(window.used) / f64::from(window.limit.max(1));
        if i > 0 {
            spans.push(Span::styled(" · ", theme.dim()));
        }
        spans.push(Span::styled(
            format!("{}/{} {unit}", window.used, window.limit),
            theme.fill(ratio),
        ));
        if i == 0 {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(
                bar(window.used, window.limit, 5),
                theme.fill(ratio),
            ));
        }
    }
    if let Some(until) = app.meter.throttled_until.filter(|t| *t > app.now) {
        // A capped Retry-After says both: what the service asked and what lrx does.
        let asked = app
            .meter
            .throttle_asked_until
            .filter(|asked| *asked > until)
            .map(|asked| {
                format!(
                    " (the service asked for {}; lrx asks again then)",
                    crate::api::client::human_wait(asked - app.now)
                )
            })
            .unwrap_or_default();
        spans.push(Span::styled(
            format!(
                " │ throttled by service until {}{asked}",
                until.with_timezone(&app.local_offset).format("%H:%M:%S")
            ),
            theme.error(),
        ));
    } else if let Some(next) = app.meter.next_call_at.filter(|t| *t > app.now) {
        spans.push(Span::styled(
            format!(
                " │ waiting for budget: next call in {}",
                countdown((next - app.now).num_seconds().max(0))
            ),
            theme.warn(),
        ));
    }
    let q = app.queue;
    spans.push(Span::styled(
        format!(
            " │ queue {} · downloading {} · ready {}",
            q.queued, q.running, q.ready
        ),
        theme.dim(),
    ));
    spans.push(Span::styled(
        match app.meter.session_calls {
            1 => " │ 1 call".to_string(),
            n => format!(" │ {n} calls"),
        },
        theme.dim(),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn hints(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if let Prompt::Command(command) = &app.prompt {
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!(
                    ":{}▏  (:profile NAME, :review, :login, :q · Esc cancels)",
                    sanitize::line(command)
                ),
                theme.warn(),
            )),
            area,
        );
        return;
    }
    let context = if app.in_review() {
        Context::Review
    } else if matches!(app.prompt, Prompt::Filter | Prompt::Search) {
        let hint = if app.prompt == Prompt::Filter {
            " type to filter · Enter keep · Esc clear"
        } else if app.transcript.search.regex {
            " regex search · Enter keep · n/N next/previous · Ctrl-R literal · Esc clear"
        } else {
            " search · Enter keep · n/N next/previous · Ctrl-R regex · Esc clear"
        };
        frame.render_widget(Paragraph::new(Span::styled(hint, theme.dim())), area);
        return;
    } else {
        app.focus.context()
    };
    let mut spans = Vec::new();
    if !app.marked.is_empty() && !app.in_review() {
        spans.push(Span::styled(
            format!(" {} marked ", app.marked.len()),
            theme.warn().add_modifier(Modifier::REVERSED),
        ));
    }
    // The focused pane's keys first, then the global ones, as many as fit whole; `?` for
    // the rest is always shown rather than cut off at the edge.
    const MORE: &str = " ? all keys ";
    let room = usize::from(area.width).saturating_sub(MORE.width());
    let mut used: usize = spans.iter().map(|s| s.content.width()).sum();
    let mut cut = false;
    for (keys, what) in app.keymap.hints(context) {
        let (key_text, what_text) = (format!(" {keys}"), format!(" {what} "));
        let width = key_text.width() + what_text.width();
        if used + width > room {
            cut = true;
            break;
        }
        used += width;
        spans.push(Span::styled(key_text, theme.accent()));
        spans.push(Span::styled(what_text, theme.dim()));
    }
    if cut {
        spans.push(Span::styled(MORE, theme.accent()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn help(frame: &mut Frame, area: Rect, scroll: usize, app: &App, theme: &Theme) {
    let lines = help_lines(&app.keymap, theme);
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    // When the terminal is shorter than the help, say how to see the rest.
    let title = if height > area.height {
        " Keys — j/k/PgDn scroll · ? or Esc closes "
    } else {
        " Keys — ? or Esc closes "
    };
    let visible = usize::from(area.height.min(height).saturating_sub(2)).max(1);
    let scroll = scroll.min(lines.len().saturating_sub(visible));
    let lines = lines.into_iter().skip(scroll).collect();
    popup(frame, area, (76, height), title, lines, theme);
}

fn help_lines<'a>(keymap: &'a input::KeyMap, theme: &Theme) -> Vec<Line<'a>> {
    let mut lines: Vec<Line> = keymap
        .help_rows()
        .into_iter()
        .map(|row| match row {
            input::HelpRow::Context(context) => Line::from(Span::styled(
                input::context_name(context).to_string(),
                theme.accent(),
            )),
            input::HelpRow::Binding(binding) => Line::from(vec![
                Span::styled(format!("  {:<8}", binding.keys), theme.warn()),
                Span::raw(binding.description),
            ]),
        })
        .collect();
    let (keys, what) = input::FORCE_QUIT_HELP;
    lines.push(Line::from(Span::styled(
        format!("  {keys:<8}{what}"),
        theme.dim(),
    )));
    lines
}

/// A double-bordered box over the middle of `area`, at most `size` (width, height).
fn popup(
    frame: &mut Frame,
    area: Rect,
    size: (u16, u16),
    title: &str,
    lines: Vec<Line>,
    theme: &Theme,
) {
    let width = area.width.min(size.0);
    let height = area.height.min(size.1);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.accent())
        .title(title);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn device_dialog(frame: &mut Frame, area: Rect, uri: &str, code: &str, theme: &Theme) {
    let lines = vec![
        Line::from("To sign in, open this page in any browser:"),
        Line::from(Span::styled(sanitize::line(uri), theme.accent())),
        Line::from("and enter the code:"),
        Line::from(Span::styled(
            sanitize::line(code),
            theme.warn().add_modifier(Modifier::BOLD),
        )),
        Line::from(Span::styled(
            "waiting for the sign-in to complete…",
            theme.dim(),
        )),
    ];
    popup(frame, area, (72, 8), " Device code sign-in ", lines, theme);
}

fn toast(frame: &mut Frame, area: Rect, text: &str, theme: &Theme) {
    let text = sanitize::line(text);
    let width = u16::try_from(text.width() + 4)
        .unwrap_or(u16::MAX)
        .min(area.width);
    // A message longer than the screen is wide wraps (up to four lines) rather than being
    // cut: its end is often the part that says what to do.
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let lines = u16::try_from(text.width().div_ceil(inner).clamp(1, 4)).unwrap_or(4);
    let height = (lines + 2).min(area.height);
    let popup = Rect {
        x: area.x + area.width - width,
        y: area.y + area.height.saturating_sub(height),
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(Span::styled(text, theme.warn()))
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.warn()),
            ),
        popup,
    );
}
