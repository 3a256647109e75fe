//! Colours and emphasis. The colours come from the theme files in `assets/themes/`; with
//! `NO_COLOR` (or a monochrome terminal) every style keeps its modifiers (bold, reverse, dim)
//! and drops its colours, so nothing depends on colour alone.

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const DARK: &str = include_str!("../../assets/themes/dark.toml");
const LIGHT: &str = include_str!("../../assets/themes/light.toml");

/// A colour as written in a theme file: a name (`lightcyan`) or `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ThemeColor(Color);

impl<'de> Deserialize<'de> for ThemeColor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse::<Color>().map(Self).map_err(|_| {
            serde::de::Error::custom(format!("{text:?} is not a colour name or #rrggbb"))
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UiColors {
    accent: ThemeColor,
    ok: ThemeColor,
    warn: ThemeColor,
    error: ThemeColor,
    dim: ThemeColor,
    placeholder: ThemeColor,
    selected: ThemeColor,
    selected_unfocused: ThemeColor,
    search_hit: ThemeColor,
    search_hit_other: ThemeColor,
    search_hit_text: ThemeColor,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyntaxColors {
    timestamp: ThemeColor,
    keyword: ThemeColor,
    key: ThemeColor,
    string: ThemeColor,
    number: ThemeColor,
    variable: ThemeColor,
    csv_columns: Vec<ThemeColor>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorColors {
    network: ThemeColor,
    hash: ThemeColor,
    path: ThemeColor,
    identity: ThemeColor,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Palette {
    ui: UiColors,
    syntax: SyntaxColors,
    indicators: IndicatorColors,
}

fn parse_palette(source: &str) -> Result<Palette, String> {
    let palette: Palette = toml::from_str(source).map_err(|e| e.to_string())?;
    if palette.syntax.csv_columns.is_empty() {
        return Err("syntax.csv_columns needs at least one colour".into());
    }
    Ok(palette)
}

/// A theme file that does not parse (a test keeps this from shipping) leaves the terminal's
/// own colours, with every emphasis intact.
fn fallback() -> Palette {
    let reset = ThemeColor(Color::Reset);
    Palette {
        ui: UiColors {
            accent: reset,
            ok: reset,
            warn: reset,
            error: reset,
            dim: reset,
            placeholder: reset,
            selected: reset,
            selected_unfocused: reset,
            search_hit: reset,
            search_hit_other: reset,
            search_hit_text: reset,
        },
        syntax: SyntaxColors {
            timestamp: reset,
            keyword: reset,
            key: reset,
            string: reset,
            number: reset,
            variable: reset,
            csv_columns: vec![reset],
        },
        indicators: IndicatorColors {
            network: reset,
            hash: reset,
            path: reset,
            identity: reset,
        },
    }
}

fn palette(variant: Variant) -> &'static Palette {
    static DARK_PALETTE: OnceLock<Palette> = OnceLock::new();
    static LIGHT_PALETTE: OnceLock<Palette> = OnceLock::new();
    let (cell, source) = match variant {
        Variant::Dark => (&DARK_PALETTE, DARK),
        Variant::Light => (&LIGHT_PALETTE, LIGHT),
    };
    cell.get_or_init(|| {
        parse_palette(source).unwrap_or_else(|error| {
            tracing::warn!("the built-in {variant:?} theme does not parse: {error}");
            fallback()
        })
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Dark,
    Light,
}

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub colored: bool,
    pub variant: Variant,
}

impl Theme {
    /// The light theme paints its own paper, so it reads the same on a dark terminal as in
    /// its screenshot; the dark theme keeps the terminal's background.
    pub fn canvas(&self) -> Option<Color> {
        match (self.colored, self.variant) {
            (true, Variant::Light) => Some(Color::Rgb(0xfb, 0xfb, 0xf8)),
            _ => None,
        }
    }

    pub fn from_env(variant: Variant) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            colored: !no_color,
            variant,
        }
    }

    fn paint(&self, style: Style, color: ThemeColor) -> Style {
        if self.colored {
            style.fg(color.0)
        } else {
            style
        }
    }

    fn colors(&self) -> &'static Palette {
        palette(self.variant)
    }

    pub fn base(&self) -> Style {
        Style::default()
    }

    pub fn dim(&self) -> Style {
        self.paint(
            Style::default().add_modifier(Modifier::DIM),
            self.colors().ui.dim,
        )
    }

    pub fn accent(&self) -> Style {
        self.paint(
            Style::default().add_modifier(Modifier::BOLD),
            self.colors().ui.accent,
        )
    }

    pub fn ok(&self) -> Style {
        self.paint(Style::default(), self.colors().ui.ok)
    }

    pub fn warn(&self) -> Style {
        self.paint(Style::default(), self.colors().ui.warn)
    }

    pub fn error(&self) -> Style {
        self.paint(
            Style::default().add_modifier(Modifier::BOLD),
            self.colors().ui.error,
        )
    }

    pub fn placeholder(&self) -> Style {
        self.paint(
            Style::default().add_modifier(Modifier::REVERSED),
            self.colors().ui.placeholder,
        )
    }

    pub fn selected(&self, focused: bool) -> Style {
        if !self.colored {
            return Style::default().add_modifier(if focused {
                Modifier::REVERSED
            } else {
                Modifier::UNDERLINED
            });
        }
        let ui = &self.colors().ui;
        let background = if focused {
            ui.selected
        } else {
            ui.selected_unfocused
        };
        Style::default()
            .bg(background.0)
            .add_modifier(Modifier::BOLD)
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused { self.accent() } else { self.dim() }
    }

    pub fn search_hit(&self, current: bool) -> Style {
        if !self.colored {
            return Style::default().add_modifier(if current {
                Modifier::REVERSED | Modifier::BOLD
            } else {
                Modifier::UNDERLINED
            });
        }
        let ui = &self.colors().ui;
        let background = if current {
            ui.search_hit
        } else {
            ui.search_hit_other
        };
        Style::default().bg(background.0).fg(ui.search_hit_text.0)
    }

    pub fn status(&self, status: &str) -> (&'static str, Style) {
        match status {
            "Succeeded" => ("✔", self.ok()),
            "Failed" => ("✘", self.error()),
            "TimeOut" => ("◔", self.warn()),
            "Cancelled" => ("⊘", self.dim()),
            "InProgress" => ("▶", self.accent()),
            "Pending" => ("…", self.warn()),
            "Completed" => ("✔", self.ok()),
            "Created" => ("·", self.dim()),
            _ => ("?", self.base()),
        }
    }

    /// Indicators keep the line's emphasis and get a colour by kind, underlined so they read
    /// as "worth a look" even where colours are close.
    pub fn indicator(&self, kind: crate::transcript::indicators::Kind, base: Style) -> Style {
        use crate::transcript::indicators::Kind;
        if !self.colored {
            return base.add_modifier(Modifier::UNDERLINED);
        }
        let colors = &self.colors().indicators;
        let color = match kind {
            Kind::Ip | Kind::Url | Kind::Domain => colors.network,
            Kind::Hash => colors.hash,
            Kind::Path | Kind::Registry => colors.path,
            Kind::Sid | Kind::Email => colors.identity,
        };
        base.fg(color.0).add_modifier(Modifier::UNDERLINED)
    }

    /// Syntax tokens over the line's base style.
    pub fn token(&self, token: crate::transcript::highlight::Token, base: Style) -> Style {
        use crate::transcript::highlight::Token;
        if !self.colored {
            return match token {
                Token::Error => base.add_modifier(Modifier::BOLD),
                Token::Meta | Token::Comment => base.add_modifier(Modifier::DIM),
                _ => base,
            };
        }
        let colors = &self.colors().syntax;
        match token {
            Token::Meta | Token::Comment => self.dim(),
            Token::Error => self.error(),
            Token::Warning => self.warn(),
            Token::Heading => self.accent(),
            Token::Timestamp => base.fg(colors.timestamp.0),
            Token::Keyword => base.fg(colors.keyword.0),
            Token::Key => base.fg(colors.key.0),
            Token::String => base.fg(colors.string.0),
            Token::Number | Token::Constant => base.fg(colors.number.0),
            Token::Variable => base.fg(colors.variable.0),
            Token::Column(n) => {
                let columns = &colors.csv_columns;
                base.fg(columns[usize::from(n) % columns.len()].0)
            }
        }
    }

    /// Green with time to spare, yellow under 5 minutes, red under 1.
    pub fn countdown(&self, seconds_left: i64) -> Style {
        match seconds_left {
            s if s < 60 => self.error(),
            s if s < 300 => self.warn(),
            _ => self.ok(),
        }
    }

    /// Meter bars: calm, then warning, then alarm as a window fills.
    pub fn fill(&self, ratio: f64) -> Style {
        match ratio {
            r if r >= 0.9 => self.error(),
            r if r >= 0.6 => self.warn(),
            _ => self.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_themes_parse_completely() {
        for source in [DARK, LIGHT] {
            let palette = parse_palette(source).expect("theme");
            assert!(palette.syntax.csv_columns.len() >= 4);
        }
        assert_eq!(
            palette(Variant::Dark).ui.selected,
            ThemeColor(Color::Rgb(0x2b, 0x4a, 0x6f))
        );
    }

    #[test]
    fn theme_mistakes_are_named() {
        let broken = DARK.replace("accent = \"cyan\"", "accent = \"sparkly\"");
        assert!(
            parse_palette(&broken)
                .expect_err("bad colour")
                .contains("sparkly")
        );
        let unknown = format!("{DARK}\n[extra]\nx = 1\n");
        assert!(parse_palette(&unknown).is_err());
        let empty = DARK.replace(
            "csv_columns = [\"#82aaff\", \"#c3e88d\", \"#f78c6c\", \"#c692ea\", \"#89ddff\", \"#ffcb6b\"]",
            "csv_columns = []",
        );
        assert!(parse_palette(&empty).is_err());
    }

    #[test]
    fn no_color_keeps_emphasis_and_drops_colours() {
        let plain = Theme {
            colored: false,
            variant: Variant::Dark,
        };
        assert_eq!(plain.error().fg, None);
        assert!(plain.error().add_modifier.contains(Modifier::BOLD));
        assert_eq!(
            plain.token(
                crate::transcript::highlight::Token::String,
                Style::default()
            ),
            Style::default()
        );
    }
}
