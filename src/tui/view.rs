//! Drawing the screen from the state. Rendering only reads; it never changes state except
//! remembering how many rows a page has (for PgUp/PgDn).

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, BorderType, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap,
};
use unicode_width::UnicodeWidthStr as _;

use super::app::{App, Pane};
use super::input::{self, BINDINGS, Context};
use super::theme::Theme;
use crate::api::models::{CommandStatus, MachineAction};
use crate::fetch::{ResultKey, ResultState};
use crate::transcript::decode::ExitCode;
use crate::transcript::document::{Content, Document, LineClass, Section};
use crate::transcript::sanitize;

pub fn render(frame: &mut Frame, app: &mut App, theme: &Theme) {
    let area = frame.area();
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .split(area);
    header(frame, rows[0], app, theme);
    body(frame, rows[1], app, theme);
    meter(frame, rows[2], app, theme);
    hints(frame, rows[3], app, theme);
    if app.show_help {
        help(frame, area, app, theme);
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
        spans.push(Span::styled("· failed/non-zero only ", theme.warn()));
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

fn body(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    app.areas = super::app::PaneAreas::default();
    if app.in_review {
        app.page_rows = usize::from(area.height / 2).max(1);
        if let Some(review) = app.review.as_mut() {
            review.render(frame, area, theme);
        }
        return;
    }
    if app.transcript.fullscreen {
        transcript(frame, area, app, theme);
        return;
    }
    if area.width >= 150 {
        let columns = Layout::horizontal([Constraint::Percentage(48), Constraint::Percentage(52)])
            .split(area);
        let left = Layout::vertical([Constraint::Percentage(58), Constraint::Percentage(42)])
            .split(columns[0]);
        actions(frame, left[0], app, theme);
        commands(frame, left[1], app, theme);
        transcript(frame, columns[1], app, theme);
    } else {
        // Stacked: the focused pane gets the most room.
        let weights = match app.focus {
            Pane::Actions => [50, 22, 28],
            Pane::Commands => [28, 36, 36],
            Pane::Transcript => [22, 20, 58],
        };
        let panes = Layout::vertical(weights.map(Constraint::Percentage)).split(area);
        actions(frame, panes[0], app, theme);
        commands(frame, panes[1], app, theme);
        transcript(frame, panes[2], app, theme);
    }
}

fn pane_block<'a>(title: Line<'a>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(theme.border(focused))
        .title(title)
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

fn actions(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    app.areas.actions = area;
    let focused = app.focus == Pane::Actions;
    let mut title = vec![Span::styled(" Machine actions ", theme.accent())];
    title.push(Span::styled(
        format!("{}/{} ", app.visible.len(), app.actions.len()),
        theme.dim(),
    ));
    title.push(Span::styled(
        format!("sort: {} ", app.sort.label()),
        theme.dim(),
    ));
    if app.filter_editing {
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
    let inner_height = usize::from(area.height.saturating_sub(3)).max(1);
    app.page_rows = inner_height;
    // Only the rows on screen are built: the list may hold tens of thousands of actions.
    if app.selected_action < app.actions_offset {
        app.actions_offset = app.selected_action;
    } else if app.selected_action >= app.actions_offset + inner_height {
        app.actions_offset = app.selected_action + 1 - inner_height;
    }
    app.actions_offset = app
        .actions_offset
        .min(app.visible.len().saturating_sub(inner_height));
    let rows: Vec<Row> = app
        .visible
        .iter()
        .skip(app.actions_offset)
        .take(inner_height)
        .map(|&i| action_row(&app.actions[i], app, theme))
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Length(24),
            Constraint::Length(20),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "STATUS",
            "MACHINE",
            "REQUESTOR",
            "CREATED",
            "CMDS",
            "COMMENT",
        ])
        .style(theme.dim()),
    )
    .row_highlight_style(theme.selected(focused))
    .block(block);
    let mut state = TableState::default().with_selected(Some(
        app.selected_action - app.actions_offset.min(app.selected_action),
    ));
    frame.render_stateful_widget(table, area, &mut state);
    if empty {
        let message = if app.loading {
            "loading machine actions…".to_string()
        } else if let Some(error) = &app.load_error {
            format!("could not load: {}", sanitize::line(error))
        } else if app.actions.is_empty() {
            "no machine actions".into()
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
    let commands = Span::raw(format!("{}/{}", action.done_count(), action.commands.len()));
    let commands = if failed > 0 {
        Line::from(vec![
            commands,
            Span::styled(format!(" {failed}✘"), theme.error()),
        ])
    } else {
        Line::from(commands)
    };
    Row::new(vec![
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
    ])
}

fn countdown(seconds: i64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// The link state column (issue wording: —, queued, waiting for budget 0:12, …).
pub fn link_state(app: &App, key: &ResultKey, has_result: bool, theme: &Theme) -> Span<'static> {
    if !has_result {
        return Span::styled("—", theme.dim());
    }
    match app.results.get(key) {
        None | Some(ResultState::Cancelled) => Span::styled("—", theme.dim()),
        Some(ResultState::Queued) => Span::styled("queued", theme.dim()),
        Some(ResultState::WaitingForBudget { until }) => Span::styled(
            format!(
                "waiting for budget {}",
                countdown((*until - app.now).num_seconds().max(0))
            ),
            theme.warn(),
        ),
        Some(ResultState::RequestingLink) => Span::styled("requesting link", theme.accent()),
        Some(ResultState::Downloading { received, total }) => match total {
            Some(total) if *total > 0 => Span::styled(
                format!("downloading {}%", received * 100 / total),
                theme.accent(),
            ),
            _ => Span::styled(
                format!("downloading {}", human_bytes(*received)),
                theme.accent(),
            ),
        },
        Some(ResultState::Ready(fetched)) => match fetched.link_expires_at {
            Some(expiry) if expiry > app.now => {
                let left = (expiry - app.now).num_seconds();
                Span::styled(format!("link {}", countdown(left)), theme.countdown(left))
            }
            Some(_) => Span::styled("link expired", theme.dim()),
            None => Span::styled("cached", theme.ok()),
        },
        Some(ResultState::Failed(reason)) => {
            Span::styled(format!("error: {}", sanitize::line(reason)), theme.error())
        }
    }
}

pub fn human_bytes(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let value = bytes as f64;
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", value / 1024.0),
        b if b < 1024 * 1024 * 1024 => format!("{:.1} MB", value / 1_048_576.0),
        _ => format!("{:.2} GB", value / 1_073_741_824.0),
    }
}

fn exit_span(code: Option<&ExitCode>, theme: &Theme) -> Span<'static> {
    match code {
        Some(ExitCode::Code(0)) => {
            Span::styled(" exit 0 ", theme.ok().add_modifier(Modifier::REVERSED))
        }
        Some(ExitCode::Code(code)) => Span::styled(
            format!(" exit {code} "),
            theme.error().add_modifier(Modifier::REVERSED),
        ),
        Some(ExitCode::Unusual(text)) => Span::styled(
            format!(" exit {} ", sanitize::line(text)),
            theme.warn().add_modifier(Modifier::REVERSED),
        ),
        Some(ExitCode::Missing) => {
            Span::styled(" exit ? ", theme.dim().add_modifier(Modifier::REVERSED))
        }
        None => Span::raw(""),
    }
}

fn commands(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    app.areas.commands = area;
    let app = &*app;
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
    let table = Table::new(
        rows,
        [
            Constraint::Length(2),
            Constraint::Length(9),
            Constraint::Min(16),
            Constraint::Length(11),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(24),
        ],
    )
    .header(
        Row::new([
            "#",
            "TYPE",
            "SCRIPT / PATH",
            "STATUS",
            "TIME",
            "EXIT",
            "RESULT",
        ])
        .style(theme.dim()),
    )
    .row_highlight_style(theme.selected(focused))
    .block(pane_block(title, focused, theme));
    let mut state = TableState::default().with_selected(Some(app.selected_command));
    frame.render_stateful_widget(table, area, &mut state);
}

fn transcript(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    app.areas.transcript = area;
    let focused = app.focus == Pane::Transcript;
    let key = app.selected_key();
    let command = app.selected_command().cloned();
    let mut title = vec![Span::styled(" Transcript ", theme.accent())];
    let document = key.as_ref().and_then(|k| app.documents.get(k)).cloned();
    if let Some(document) = &document
        && let Content::Script { errors, .. } = &document.content
    {
        for section in Section::ALL {
            let label = match section {
                Section::Errors => format!(
                    "{} {} ({})",
                    section_number(section),
                    section.title(),
                    errors.len()
                ),
                _ => format!("{} {}", section_number(section), section.title()),
            };
            let style = if section == app.transcript.section {
                theme.accent().add_modifier(Modifier::REVERSED)
            } else {
                theme.dim()
            };
            title.push(Span::styled(format!(" {label} "), style));
        }
    }
    let block = pane_block(Line::from(title), focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (Some(key), Some(command)) = (key, command) else {
        frame.render_widget(
            Paragraph::new(Span::styled("select an action and a command", theme.dim())),
            inner,
        );
        return;
    };
    let Some(document) = document else {
        let message: Line = if !command.has_result() {
            Line::from(Span::styled(
                if command.command.command_type == crate::api::models::CommandType::PutFile {
                    "PutFile commands have no result".to_string()
                } else {
                    format!("no result: the command is {}", command.command_status)
                },
                theme.dim(),
            ))
        } else {
            match app.results.get(&key) {
                None => Line::from(Span::styled(
                    "press Enter or f to fetch this result",
                    theme.dim(),
                )),
                Some(ResultState::Failed(reason)) => Line::from(vec![
                    Span::styled("could not fetch: ", theme.error()),
                    Span::raw(sanitize::line(reason)),
                    Span::styled("  (f retries)", theme.dim()),
                ]),
                Some(_) => Line::from(vec![
                    Span::styled("fetching… ", theme.accent()),
                    link_state(app, &key, true, theme),
                ]),
            }
        };
        frame.render_widget(Paragraph::new(message).wrap(Wrap { trim: false }), inner);
        return;
    };
    let has_problems =
        matches!(&document.content, Content::Script { problems, .. } if !problems.is_empty());
    let header_rows = if has_problems { 3 } else { 2 };
    let rows = Layout::vertical([Constraint::Length(header_rows), Constraint::Min(1)]).split(inner);
    transcript_header(frame, rows[0], app, &key, &command, &document, theme);
    app.page_rows = usize::from(rows[1].height).max(1);
    match &document.content {
        Content::File(file) => {
            let mut lines = vec![
                Line::from(format!("file      {}", file.name)),
                Line::from(format!("type      {}", file.file_type)),
                Line::from(format!(
                    "size      {} ({} compressed)",
                    file.size.map_or_else(|| "?".into(), human_bytes),
                    human_bytes(file.compressed_size)
                )),
                Line::from(format!(
                    "sha256    {} (of the gzip payload)",
                    document.sha256
                )),
            ];
            if let Some(problem) = &file.problem {
                lines.push(Line::from(Span::styled(problem.clone(), theme.error())));
            }
            lines.push(Line::from(""));
            lines.extend(
                file.hex_head
                    .iter()
                    .map(|l| Line::from(Span::styled(l.clone(), theme.dim()))),
            );
            frame.render_widget(
                Paragraph::new(lines)
                    .scroll((u16::try_from(app.transcript.scroll).unwrap_or(u16::MAX), 0)),
                rows[1],
            );
        }
        Content::Script { .. } => transcript_body(frame, rows[1], app, &document, theme),
    }
}

fn section_number(section: Section) -> u8 {
    match section {
        Section::Output => 1,
        Section::Errors => 2,
        Section::Raw => 3,
    }
}

fn transcript_header(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    key: &ResultKey,
    command: &crate::api::models::Command,
    document: &Document,
    theme: &Theme,
) {
    let mut first = vec![
        Span::styled(sanitize::line(&command.target()), theme.accent()),
        Span::raw(" "),
        exit_span(document.exit_code(), theme),
        Span::raw(" "),
        Span::styled(sanitize::line(command.command_status.as_str()), theme.dim()),
    ];
    if let Some(action) = app.selected() {
        first.push(Span::styled(
            format!(" · {}", sanitize::line(&action.computer_dns_name)),
            theme.dim(),
        ));
    }
    let short_sha = document.sha256.get(..12).unwrap_or(&document.sha256);
    let duration = command
        .duration()
        .map_or_else(String::new, |d| format!(" · {}s", d.num_seconds()));
    let source = if document.from_cache {
        "cache".to_string()
    } else {
        "live".to_string()
    };
    let mut second = vec![Span::styled(
        format!(
            "{}{duration} · {} · sha256 {short_sha} · {source} ",
            command.start_time.map_or_else(String::new, |t| t
                .with_timezone(&app.local_offset)
                .format("%m-%d %H:%M:%S")
                .to_string()),
            human_bytes(document.payload_size)
        ),
        theme.dim(),
    )];
    second.push(link_state(app, key, true, theme));
    for badge in document.badges() {
        second.push(Span::raw(" "));
        second.push(Span::styled(format!("[{badge}]"), theme.warn()));
    }
    let mut lines = vec![Line::from(first), Line::from(second)];
    if let Content::Script { problems, .. } = &document.content
        && !problems.is_empty()
    {
        // What was wrong with the payload: everything else is still shown below.
        lines.push(Line::from(Span::styled(
            format!("⚠ {}", problems.join("; ")),
            theme.error(),
        )));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// Splits display text into spans, marking placeholders for control characters and the
/// current search's hits.
fn styled_line(
    text: &str,
    base: Style,
    hits: &[(usize, bool)],
    needle_len: usize,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let indicators = if theme.colored {
        crate::transcript::indicators::find(text)
    } else {
        Vec::new()
    };
    let mut spans = Vec::new();
    let mut plain = String::new();
    let mut plain_style = base;
    let mut index = 0;
    let bytes = text.len();
    while index < bytes {
        if let Some((_, current)) = hits.iter().find(|(at, _)| *at == index) {
            if !plain.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut plain), plain_style));
            }
            let end = (index + needle_len).min(bytes);
            let end = (end..=bytes)
                .find(|e| text.is_char_boundary(*e))
                .unwrap_or(bytes);
            spans.push(Span::styled(
                text[index..end].to_string(),
                theme.search_hit(*current),
            ));
            index = end;
            continue;
        }
        let Some(c) = text[index..].chars().next() else {
            break;
        };
        let is_picture = ('\u{2400}'..='\u{2426}').contains(&c);
        let marker = !is_picture
            && c == '<'
            && (text[index..].starts_with("<U+")
                || text[index..].starts_with("<+")
                || is_c1_marker(&text[index..]));
        if is_picture || marker {
            if !plain.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut plain), plain_style));
            }
            let length = if marker {
                text[index..].find('>').map_or(c.len_utf8(), |e| e + 1)
            } else {
                c.len_utf8()
            };
            spans.push(Span::styled(
                text[index..index + length].to_string(),
                theme.placeholder(),
            ));
            index += length;
            continue;
        }
        // Indicators (IPs, hashes, paths, …) stand out from the text around them.
        let style = indicators
            .iter()
            .find(|(start, end, _)| index >= *start && index < *end)
            .map_or(base, |(_, _, kind)| theme.indicator(*kind, base));
        if style != plain_style && !plain.is_empty() {
            spans.push(Span::styled(std::mem::take(&mut plain), plain_style));
        }
        plain_style = style;
        plain.push(c);
        index += c.len_utf8();
    }
    if !plain.is_empty() {
        spans.push(Span::styled(plain, plain_style));
    }
    spans
}

fn is_c1_marker(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 4
        && b[3] == b'>'
        && b[1].is_ascii_hexdigit()
        && b[2].is_ascii_hexdigit()
        && matches!(b[1], b'8' | b'9')
}

fn cut_columns(text: &str, skip: usize) -> &str {
    let mut width = 0;
    for (at, c) in text.char_indices() {
        if width >= skip {
            return &text[at..];
        }
        width += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
    }
    ""
}

fn transcript_body(frame: &mut Frame, area: Rect, app: &App, document: &Document, theme: &Theme) {
    let lines = document.section(app.transcript.section);
    if lines.is_empty() {
        let note = match app.transcript.section {
            Section::Errors => "no script_errors",
            _ => "(empty)",
        };
        frame.render_widget(Paragraph::new(Span::styled(note, theme.dim())), area);
        return;
    }
    let height = usize::from(area.height);
    let shown = app.shown_lines();
    let start = app.transcript.scroll.min(shown.len().saturating_sub(1));
    let number_width = lines.len().to_string().len();
    let search = &app.transcript.search;
    let mut rendered = Vec::with_capacity(height);
    for &number in shown.iter().skip(start).take(height) {
        let line = &lines[number];
        let base = match line.class {
            LineClass::Meta => theme.dim(),
            LineClass::Error => theme.error(),
            LineClass::Warning => theme.warn(),
            LineClass::Heading => theme.accent(),
            LineClass::Normal => theme.base(),
        };
        // Very long lines are shown plainly and cut: styling them costs more than it helps.
        let text: &str = if line.text.len() > 20_000 {
            &line.text[..line
                .text
                .char_indices()
                .nth(20_000)
                .map_or(line.text.len(), |(i, _)| i)]
        } else {
            &line.text
        };
        let visible = if app.transcript.wrap {
            text
        } else {
            cut_columns(text, app.transcript.hscroll)
        };
        let shift = text.len() - visible.len();
        let hits: Vec<(usize, bool)> = search
            .hits
            .iter()
            .enumerate()
            .filter(|(_, (l, at))| *l == number && *at >= shift)
            .map(|(i, (_, at))| (at - shift, i == search.current))
            .collect();
        let mut spans = Vec::new();
        if app.transcript.line_numbers {
            spans.push(Span::styled(
                format!("{:>number_width$} ", number + 1),
                theme.dim(),
            ));
        }
        spans.extend(styled_line(visible, base, &hits, search.query.len(), theme));
        rendered.push(Line::from(spans));
    }
    let mut paragraph = Paragraph::new(rendered);
    if app.transcript.wrap {
        paragraph = paragraph.wrap(Wrap { trim: false });
    }
    frame.render_widget(paragraph, area);
    let mut status = format!(
        " {}/{} ",
        shown.get(start).map_or(0, |n| n + 1),
        lines.len()
    );
    if app.transcript.only_matching {
        status = format!(" & {} matching lines ·{status}", shown.len());
    }
    if let Some(digits) = &app.transcript.goto {
        status = format!(" :{digits}▏ ·{status}");
    }
    if !search.query.is_empty() || search.editing {
        let position = if search.hits.is_empty() {
            0
        } else {
            search.current + 1
        };
        status = format!(
            " /{}{} {position}/{} ·{status}",
            sanitize::line(&search.query),
            if search.editing { "▏" } else { "" },
            search.hits.len()
        );
    }
    let width = u16::try_from(status.width()).unwrap_or(0).min(area.width);
    let corner = Rect {
        x: area.x + area.width - width,
        y: area.y + area.height.saturating_sub(1),
        width,
        height: 1,
    };
    frame.render_widget(
        Paragraph::new(Span::styled(
            status,
            theme.dim().add_modifier(Modifier::REVERSED),
        )),
        corner,
    );
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
        spans.push(Span::styled(
            format!(
                " │ throttled by service until {}",
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
            " │ queue {} · downloading {} · cached {}",
            q.queued, q.running, q.ready
        ),
        theme.dim(),
    ));
    spans.push(Span::styled(
        format!(" │ {} calls", app.meter.session_calls),
        theme.dim(),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn hints(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if let Some(command) = &app.command {
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
    let context = if app.in_review {
        Context::Review
    } else if app.filter_editing || app.transcript.search.editing {
        frame.render_widget(
            Paragraph::new(Span::styled(
                " type to filter · Enter keep · Esc clear",
                theme.dim(),
            )),
            area,
        );
        return;
    } else {
        app.focus.context()
    };
    let mut spans = Vec::new();
    if !app.marked.is_empty() && !app.in_review {
        spans.push(Span::styled(
            format!(" {} marked ", app.marked.len()),
            theme.warn().add_modifier(Modifier::REVERSED),
        ));
    }
    for (keys, what) in app.keymap.hints(context) {
        spans.push(Span::styled(format!(" {keys}"), theme.accent()));
        spans.push(Span::styled(format!(" {what} "), theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn help(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let width = area.width.min(76);
    let height = area
        .height
        .min(u16::try_from(BINDINGS.len() + 10).unwrap_or(40));
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines = Vec::new();
    for context in [
        Context::Global,
        Context::Actions,
        Context::Commands,
        Context::Transcript,
        Context::Review,
    ] {
        let bindings: Vec<_> = app
            .keymap
            .bindings()
            .iter()
            .filter(|b| b.context == context)
            .collect();
        if bindings.is_empty() {
            continue;
        }
        lines.push(Line::from(Span::styled(
            input::context_name(context).to_string(),
            theme.accent(),
        )));
        for binding in bindings {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<8}", binding.keys), theme.warn()),
                Span::raw(binding.description),
            ]));
        }
    }
    lines.push(Line::from(Span::styled(
        "  Ctrl-C  quit from anywhere",
        theme.dim(),
    )));
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.accent())
        .title(" Keys — ? or Esc closes ");
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

fn device_dialog(frame: &mut Frame, area: Rect, uri: &str, code: &str, theme: &Theme) {
    let width = area.width.min(72);
    let height = 8.min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
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
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.accent())
        .title(" Device code sign-in ");
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

fn toast(frame: &mut Frame, area: Rect, text: &str, theme: &Theme) {
    let text = sanitize::line(text);
    let width = u16::try_from(text.width() + 4)
        .unwrap_or(u16::MAX)
        .min(area.width);
    let popup = Rect {
        x: area.x + area.width - width,
        y: area.y + area.height.saturating_sub(3),
        width,
        height: 3.min(area.height),
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(Span::styled(text, theme.warn())).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.warn()),
        ),
        popup,
    );
}
