//! What is drawn over the panes: the key help, toasts and the device code dialog.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthStr as _;

use crate::sanitize;
use crate::tui::app::App;
use crate::tui::input::{self};
use crate::tui::theme::Theme;

pub(crate) fn help(frame: &mut Frame, area: Rect, scroll: usize, app: &App, theme: &Theme) {
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
pub(crate) fn popup(
    frame: &mut Frame,
    area: Rect,
    size: (u16, u16),
    title: &str,
    lines: Vec<Line>,
    theme: &Theme,
) {
    framed(frame, area, size, title, Paragraph::new(lines), theme);
}

/// As `popup`, up to `width` wide and as tall as its lines wrapped need: for text from the
/// service, whose end (what to do) must not be cut off.
pub(crate) fn popup_wrapped(
    frame: &mut Frame,
    area: Rect,
    width: u16,
    title: &str,
    lines: Vec<Line>,
    theme: &Theme,
) {
    let inner = usize::from(area.width.min(width).saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let paragraph = Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false });
    framed(frame, area, (width, height), title, paragraph, theme);
}

fn framed(
    frame: &mut Frame,
    area: Rect,
    size: (u16, u16),
    title: &str,
    paragraph: Paragraph,
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
    frame.render_widget(paragraph.block(block), rect);
}

pub(crate) fn device_dialog(frame: &mut Frame, area: Rect, uri: &str, code: &str, theme: &Theme) {
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

pub(crate) fn toast(frame: &mut Frame, area: Rect, text: &str, theme: &Theme) {
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
