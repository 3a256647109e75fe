//! The screen's frame around the panes: the header, the rate-limit meter and the key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr as _;

use crate::sanitize;
use crate::tui::app::App;
use crate::tui::input::Context;
use crate::tui::state::dialogs::Prompt;
use crate::tui::theme::Theme;
use crate::tui::widgets::countdown;

pub(crate) fn header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
    if let Some(teammates) = teammates_line(app) {
        spans.push(Span::styled(format!("· {teammates} "), theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Each member's share of the minute's link calls: `: you 12 · ana@jump01 30`.
fn team_shares(team: &[crate::fetch::meter::Teammate]) -> String {
    if team.len() < 2 {
        return String::new();
    }
    let shares: Vec<String> = team
        .iter()
        .map(|member| {
            let name = if member.is_you {
                "you".to_string()
            } else {
                crate::team::shown_member(&member.name)
            };
            format!("{name} {}", member.link_calls)
        })
        .collect();
    format!(": {}", shares.join(" · "))
}

/// Who else is active on the team's store, and what they are doing.
fn teammates_line(app: &App) -> Option<String> {
    let others: Vec<String> = app
        .meter
        .team
        .iter()
        .filter(|member| !member.is_you)
        .map(|member| {
            let name = crate::team::shown_member(&member.name);
            if member.activity.is_empty() {
                name
            } else {
                format!("{name} {}", sanitize::line(&member.activity))
            }
        })
        .collect();
    (!others.is_empty()).then(|| format!("team: {}", others.join(" · ")))
}

fn bar(used: u32, limit: u32, cells: usize) -> String {
    let filled = if limit == 0 {
        0
    } else {
        (used as usize * cells).div_ceil(limit as usize).min(cells)
    };
    format!("{}{}", "▰".repeat(filled), "▱".repeat(cells - filled))
}

pub(crate) fn meter(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // The result-link API first: it is what fetching spends. The service counts each API
    // on its own, so the others in use follow with their own numbers.
    let mut spans = vec![Span::styled(" links ", theme.accent())];
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
    // A team's budget says so, and says when its store is lost.
    match app.meter.scope {
        crate::fetch::meter::Scope::Team { members } => {
            spans.push(Span::styled(
                format!(" · team of {members}"),
                theme.accent(),
            ));
            spans.push(Span::styled(team_shares(&app.meter.team), theme.dim()));
        }
        crate::fetch::meter::Scope::TeamLost { members } => spans.push(Span::styled(
            format!(" · team store lost: counting 1/{members} of the budget here"),
            theme.warn(),
        )),
        crate::fetch::meter::Scope::Process | crate::fetch::meter::Scope::Machine => {}
    }
    // While fetches are under way, the share they may spend and the analyst's reserve.
    let busy = app.queue.queued + app.queue.running > 0;
    if let (true, Some(share), Some(first)) =
        (busy, app.meter.per_minute(), app.meter.windows.first())
        && app.meter.reserve_percent > 0
    {
        spans.push(Span::styled(
            format!(
                " · reviews ≤{share}/min ({} kept for you)",
                first.limit.saturating_sub(app.meter.background_cap(first))
            ),
            theme.dim(),
        ));
    }
    if let Some(until) = app.meter.throttled_until.filter(|t| *t > app.now) {
        // A capped Retry-After says both: what the service asked and what lrx does.
        let asked = asked_note(app.meter.throttle_asked_until, until, app.now);
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
    for (n, other) in app.meter.others.iter().enumerate() {
        let window = other.window;
        spans.push(Span::styled(
            if n == 0 { " │ " } else { " · " },
            theme.dim(),
        ));
        match other.throttled_until.filter(|t| *t > app.now) {
            Some(until) => spans.push(Span::styled(
                format!(
                    "{} held until {}{}",
                    other.api.name(),
                    until.with_timezone(&app.local_offset).format("%H:%M:%S"),
                    asked_note(other.throttle_asked_until, until, app.now)
                ),
                theme.error(),
            )),
            None => spans.push(Span::styled(
                format!("{} {}/{}", other.api.name(), window.used, window.limit),
                theme.fill(f64::from(window.used) / f64::from(window.limit.max(1))),
            )),
        }
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

/// A capped `Retry-After` says both: what the service asked and what lrx does.
fn asked_note(
    asked: Option<chrono::DateTime<chrono::Utc>>,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    asked
        .filter(|asked| *asked > until)
        .map(|asked| {
            format!(
                " (the service asked for {}; lrx asks again then)",
                crate::api::client::human_wait(asked - now)
            )
        })
        .unwrap_or_default()
}

pub(crate) fn hints(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
