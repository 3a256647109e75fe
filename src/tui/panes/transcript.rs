//! The transcript pane: header with badges, sections, search hits, placeholders for control
//! characters and indicator marking, drawn for the visible window only.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use unicode_width::UnicodeWidthStr as _;

use crate::fetch::{ResultKey, ResultState, TeamShare};
use crate::sanitize;
use crate::transcript::document::{Content, Document, LineClass, Section};
use crate::transcript::highlight::Token;
use crate::tui::app::App;
use crate::tui::layout::Screen;
use crate::tui::state::browse::Pane;
use crate::tui::state::dialogs::Prompt;
use crate::tui::theme::Theme;
use crate::tui::widgets::{countdown, exit_span, human_bytes, pane_block};

pub(crate) fn transcript(frame: &mut Frame, area: Rect, text: Rect, app: &App, theme: &Theme) {
    let focused = app.focus == Pane::Transcript;
    let key = app.selected_key();
    let command = app.selected_command().cloned();
    let mut title = vec![Span::styled(" Transcript ", theme.accent())];
    let document = key.as_ref().and_then(|k| app.documents.get(k)).cloned();
    if let Some(document) = &document
        && let Content::Script { errors, .. } = &document.content
    {
        let current = app.transcript.section;
        for tab in Section::ALL {
            let section = if tab == current.tab() { current } else { tab };
            let label = match section {
                Section::Errors => format!(
                    "{} {} ({})",
                    section_number(section),
                    section.title(),
                    errors.len()
                ),
                _ => format!("{} {}", section_number(section), section.title()),
            };
            let style = if section == current {
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
        let message: Line = if command.has_result() {
            match app.results.get(&key) {
                None => Line::from(Span::styled(
                    "press Enter or f to fetch this result",
                    theme.dim(),
                )),
                Some(ResultState::NotCached) => Line::from(Span::styled(
                    "not in the cache, and lrx is offline (--offline): run lrx without --offline to fetch this result",
                    theme.warn(),
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
        } else {
            Line::from(Span::styled(
                if command.command.command_type == crate::api::models::CommandType::PutFile {
                    "PutFile commands have no result".to_string()
                } else {
                    format!("no result: the command is {}", command.command_status)
                },
                theme.dim(),
            ))
        };
        frame.render_widget(Paragraph::new(message).wrap(Wrap { trim: false }), inner);
        return;
    };
    let header = Rect {
        height: text.y.saturating_sub(inner.y),
        ..inner
    };
    let rows = [header, text];
    transcript_header(frame, rows[0], app, &key, &command, &document, theme);
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
            ];
            match &file.hashes {
                Some(hashes) => lines.extend([
                    Line::from(format!("sha256    {} (the file)", hashes.sha256)),
                    Line::from(format!("sha1      {}", hashes.sha1)),
                    Line::from(format!("md5       {}", hashes.md5)),
                ]),
                None => lines.push(Line::from(
                    "sha256    ? (the file could not be decompressed)",
                )),
            }
            lines.push(Line::from(Span::styled(
                format!(
                    "download  sha256 {} (the gzip, as fetched)",
                    document.sha256
                ),
                theme.dim(),
            )));
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
        Section::Raw | Section::RawIndented => 3,
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
    let sha = document.evidence_sha256();
    let short_sha = sha.get(..12).unwrap_or(sha);
    let duration = command
        .duration()
        .map_or_else(String::new, |d| format!(" · {}s", d.num_seconds()));
    let team_share = match app.results.get(key) {
        Some(ResultState::Ready(fetched)) => fetched.team_share.clone(),
        _ => TeamShare::Unshared,
    };
    let source = match (&team_share, document.from_cache) {
        (_, true) => "cache",
        (TeamShare::From(_), false) => "team",
        _ => "live",
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
    if let TeamShare::TooLarge { cap_bytes } = team_share {
        second.push(Span::styled(
            format!(
                " [not shared with the team: over team_result_mb, {}]",
                human_bytes(cap_bytes)
            ),
            theme.warn(),
        ));
    }
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
    tokens: &[(usize, usize, Token)],
    hits: &[(usize, usize, bool)],
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
        if let Some((_, end, current)) = hits.iter().find(|(at, _, _)| *at == index) {
            if !plain.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut plain), plain_style));
            }
            let end = (*end).min(bytes);
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
        let syntax = tokens
            .iter()
            .find(|(start, end, _)| index >= *start && index < *end)
            .map_or(base, |(_, _, token)| theme.token(*token, base));
        let style = indicators
            .iter()
            .find(|(start, end, _)| index >= *start && index < *end)
            .map_or(syntax, |(_, _, kind)| theme.indicator(*kind, syntax));
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

fn transcript_body(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    document: &std::sync::Arc<Document>,
    theme: &Theme,
) {
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
    let shown = app.shown_count();
    let start = app.transcript.scroll.min(shown.saturating_sub(1));
    let number_width = lines.len().to_string().len();
    let search = &app.transcript.search;
    let on_screen = app.shown_window(start, height);
    // Whatever is not highlighted yet shows plainly now and in colour when the worker is done.
    let highlighted = match app.selected_key() {
        Some(key) if theme.colored => app
            .highlights
            .get(&key, app.transcript.section, document)
            .map(|tokens| tokens.window(&on_screen))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut rendered = Vec::with_capacity(height);
    for (row, &number) in on_screen.iter().enumerate() {
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
        // Hits are in document order: the line's own are found by bisection, not a scan.
        let first_hit = search.first_from(number);
        let hits: Vec<(usize, usize, bool)> = search.hits[first_hit..]
            .iter()
            .take_while(|hit| hit.line == number)
            .enumerate()
            .filter(|(_, hit)| hit.end > shift && hit.end <= text.len())
            .map(|(i, hit)| {
                (
                    hit.start.saturating_sub(shift),
                    hit.end - shift,
                    first_hit + i == search.current,
                )
            })
            .collect();
        let mut spans = Vec::new();
        if app.transcript.line_numbers {
            spans.push(Span::styled(
                format!("{:>number_width$} ", number + 1),
                theme.dim(),
            ));
        }
        // Syntax tokens were computed on the whole line; shift them into the visible part.
        let tokens: Vec<(usize, usize, Token)> = highlighted
            .get(row)
            .and_then(Option::as_ref)
            .map(|line_tokens| {
                line_tokens
                    .iter()
                    .filter(|(_, end, _)| *end > shift && *end <= text.len())
                    .map(|(start, end, token)| (start.saturating_sub(shift), end - shift, *token))
                    .collect()
            })
            .unwrap_or_default();
        spans.extend(styled_line(visible, base, &tokens, &hits, theme));
        rendered.push(Line::from(spans));
    }
    let mut paragraph = Paragraph::new(rendered);
    if app.transcript.wrap {
        paragraph = paragraph.wrap(Wrap { trim: false });
    }
    frame.render_widget(paragraph, area);
    let mut status = format!(
        " {}/{} ",
        on_screen.first().map_or(0, |n| n + 1),
        lines.len()
    );
    if app.transcript.only_matching {
        status = format!(" & {shown} matching lines ·{status}");
    }
    if let Prompt::Goto(digits) = &app.prompt {
        status = format!(" :{digits}▏ ·{status}");
    }
    let editing = app.prompt == Prompt::Search;
    if !search.query.is_empty() || editing {
        let position = if search.hits.is_empty() {
            0
        } else {
            search.current + 1
        };
        let mode = if search.regex { "regex " } else { "" };
        let count = match &search.error {
            Some(error) => format!("✘ {}", sanitize::line(error.lines().last().unwrap_or(""))),
            None if search.counting => format!("{position}/{}…", search.hits.len()),
            None => format!("{position}/{}", search.hits.len()),
        };
        status = format!(
            " {mode}/{}{} {count} ·{status}",
            sanitize::line(&search.query),
            if editing { "▏" } else { "" },
        );
    }
    // On the pane's bottom border, right below the body: never over the last line of text.
    let width = u16::try_from(status.width()).unwrap_or(0).min(area.width);
    let corner = Rect {
        x: area.x + area.width - width,
        y: area.y + area.height,
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

/// The link state column (issue wording: —, queued, waiting for budget 0:12, …).
pub(crate) fn link_state(
    app: &App,
    key: &ResultKey,
    has_result: bool,
    theme: &Theme,
) -> Span<'static> {
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
        Some(ResultState::WaitingForTeammate { by }) => Span::styled(
            format!("{} is fetching it", crate::team::shown_member(by)),
            theme.accent(),
        ),
        Some(ResultState::RequestingLink) => Span::styled("requesting link", theme.accent()),
        Some(ResultState::Verifying(_)) => Span::styled("checking the cached copy", theme.dim()),
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
            None => match &fetched.team_share {
                TeamShare::From(by) => Span::styled(
                    format!("from {}", crate::team::shown_member(by)),
                    theme.ok(),
                ),
                _ => Span::styled("cached", theme.ok()),
            },
        },
        Some(ResultState::Failed(reason)) => {
            Span::styled(format!("error: {}", sanitize::line(reason)), theme.error())
        }
        Some(ResultState::NotCached) => Span::styled("not cached (offline)", theme.dim()),
    }
}

pub(crate) struct TranscriptPane;

impl super::BrowsePane for TranscriptPane {
    fn pane(&self) -> Pane {
        Pane::Transcript
    }

    fn render(&self, frame: &mut Frame, screen: &Screen, app: &App, theme: &Theme) {
        transcript(
            frame,
            screen.panes[Pane::Transcript],
            screen.transcript_text,
            app,
            theme,
        );
    }
}
