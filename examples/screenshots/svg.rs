//! Renders a ratatui buffer as SVG: one text run per stretch of equally styled cells,
//! background rectangles where cells have one. Deterministic, so screenshots of the real
//! UI can be regenerated and compared in CI.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

const CELL_WIDTH: f64 = 8.43;
const CELL_HEIGHT: f64 = 16.3;
const FONT_SIZE: f64 = 14.0;

#[derive(Clone, Copy)]
pub(crate) struct Palette {
    pub background: &'static str,
    pub foreground: &'static str,
}

pub(crate) const DARK: Palette = Palette {
    background: "#1b1d23",
    foreground: "#d8dee9",
};
pub(crate) const LIGHT: Palette = Palette {
    background: "#fbfbf8",
    foreground: "#24292f",
};

fn color(color: Color, palette: Palette, foreground: bool) -> Option<String> {
    let named = |dark: &str, light: &str| -> String {
        if palette.background == LIGHT.background {
            light.into()
        } else {
            dark.into()
        }
    };
    Some(match color {
        Color::Reset => return None,
        Color::Black => "#1b1d23".into(),
        Color::Red => named("#ef6b73", "#c62828"),
        Color::Green => named("#8fce72", "#2e7d32"),
        Color::Yellow => named("#e6c15a", "#9a6700"),
        Color::Blue => named("#6cb6ff", "#0b57d0"),
        Color::Magenta => named("#d291e4", "#8e24aa"),
        Color::Cyan => named("#5fd3e0", "#00838f"),
        Color::Gray => "#a0a0a0".into(),
        Color::DarkGray => named("#6b7280", "#8a8f98"),
        Color::LightRed => "#ff8a80".into(),
        Color::LightGreen => "#b9f6ca".into(),
        Color::LightYellow => "#ffe57f".into(),
        Color::LightBlue => "#82b1ff".into(),
        Color::LightMagenta => "#ea80fc".into(),
        Color::LightCyan => "#84ffff".into(),
        Color::White => "#ffffff".into(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => format!("#{i:02x}{i:02x}{i:02x}"),
    })
    .filter(|_| foreground || color != Color::Reset)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn render(buffer: &Buffer, palette: Palette) -> String {
    let width = f64::from(buffer.area.width) * CELL_WIDTH;
    let height = f64::from(buffer.area.height) * CELL_HEIGHT;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.2} {height:.2}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT_SIZE}">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="{}"/>"#,
        palette.background
    );
    for y in 0..buffer.area.height {
        let top = f64::from(y) * CELL_HEIGHT;
        let baseline = top + CELL_HEIGHT * 0.76;
        let mut x = 0u16;
        while x < buffer.area.width {
            let cell = &buffer[(x, y)];
            let style = cell.style();
            let reversed = style.add_modifier.contains(Modifier::REVERSED);
            let (mut fg, mut bg) = (
                style.fg.unwrap_or(Color::Reset),
                style.bg.unwrap_or(Color::Reset),
            );
            if reversed {
                std::mem::swap(&mut fg, &mut bg);
            }
            // Extend the run while the style stays the same.
            let mut run = String::new();
            let mut end = x;
            while end < buffer.area.width && buffer[(end, y)].style() == style {
                let symbol = buffer[(end, y)].symbol();
                run.push_str(if symbol.is_empty() { "" } else { symbol });
                end += 1;
            }
            let left = f64::from(x) * CELL_WIDTH;
            let span = f64::from(end - x) * CELL_WIDTH;
            // The page is painted once; a cell on the page's own colour needs no rectangle.
            let background = color(bg, palette, false)
                .filter(|c| c != palette.background)
                .or_else(|| reversed.then(|| palette.foreground.to_string()));
            if let Some(background) = background {
                let _ = writeln!(
                    svg,
                    r#"<rect x="{left:.2}" y="{top:.2}" width="{span:.2}" height="{CELL_HEIGHT}" fill="{background}"/>"#
                );
            }
            if !run.trim().is_empty() {
                let foreground = color(fg, palette, true).unwrap_or_else(|| {
                    if reversed {
                        palette.background.to_string()
                    } else {
                        palette.foreground.to_string()
                    }
                });
                let mut attributes = String::new();
                if style.add_modifier.contains(Modifier::BOLD) {
                    attributes.push_str(r#" font-weight="bold""#);
                }
                if style.add_modifier.contains(Modifier::DIM) {
                    attributes.push_str(r#" opacity="0.7""#);
                }
                if style.add_modifier.contains(Modifier::UNDERLINED) {
                    attributes.push_str(r#" text-decoration="underline""#);
                }
                let _ = writeln!(
                    svg,
                    r#"<text x="{left:.2}" y="{baseline:.2}" fill="{foreground}" textLength="{span:.2}" lengthAdjust="spacingAndGlyphs" xml:space="preserve"{attributes}>{}</text>"#,
                    escape(&run)
                );
            }
            x = end;
        }
    }
    svg.push_str("</svg>\n");
    svg
}
