//! Colours and emphasis. With `NO_COLOR` (or a monochrome terminal) every style keeps its
//! modifiers (bold, reverse, dim) and drops its colours, so nothing depends on colour alone.

use ratatui::style::{Color, Modifier, Style};

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
    pub fn from_env(variant: Variant) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            colored: !no_color,
            variant,
        }
    }

    fn paint(&self, style: Style, color: Color) -> Style {
        if self.colored { style.fg(color) } else { style }
    }

    pub fn base(&self) -> Style {
        Style::default()
    }

    pub fn dim(&self) -> Style {
        self.paint(
            Style::default().add_modifier(Modifier::DIM),
            Color::DarkGray,
        )
    }

    pub fn accent(&self) -> Style {
        let color = match self.variant {
            Variant::Dark => Color::Cyan,
            Variant::Light => Color::Blue,
        };
        self.paint(Style::default().add_modifier(Modifier::BOLD), color)
    }

    pub fn ok(&self) -> Style {
        self.paint(Style::default(), Color::Green)
    }

    pub fn warn(&self) -> Style {
        let color = match self.variant {
            Variant::Dark => Color::Yellow,
            Variant::Light => Color::Rgb(0x9a, 0x67, 0x00),
        };
        self.paint(Style::default(), color)
    }

    pub fn error(&self) -> Style {
        self.paint(Style::default().add_modifier(Modifier::BOLD), Color::Red)
    }

    pub fn placeholder(&self) -> Style {
        self.paint(
            Style::default().add_modifier(Modifier::REVERSED),
            Color::Magenta,
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
        let background = match (self.variant, focused) {
            (Variant::Dark, true) => Color::Rgb(0x2b, 0x4a, 0x6f),
            (Variant::Dark, false) => Color::Rgb(0x30, 0x30, 0x30),
            (Variant::Light, true) => Color::Rgb(0xc8, 0xdc, 0xf5),
            (Variant::Light, false) => Color::Rgb(0xe4, 0xe4, 0xe4),
        };
        Style::default().bg(background).add_modifier(Modifier::BOLD)
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
        let background = if current {
            Color::Yellow
        } else {
            Color::Rgb(0x6b, 0x5b, 0x00)
        };
        Style::default().bg(background).fg(Color::Black)
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
        let dark = self.variant == Variant::Dark;
        let color = match kind {
            Kind::Ip | Kind::Url | Kind::Domain => {
                if dark {
                    Color::LightCyan
                } else {
                    Color::Blue
                }
            }
            Kind::Hash => {
                if dark {
                    Color::LightMagenta
                } else {
                    Color::Magenta
                }
            }
            Kind::Path | Kind::Registry => {
                if dark {
                    Color::LightYellow
                } else {
                    Color::Rgb(0x8a, 0x5a, 0x00)
                }
            }
            Kind::Sid | Kind::Email => {
                if dark {
                    Color::LightGreen
                } else {
                    Color::Green
                }
            }
        };
        base.fg(color).add_modifier(Modifier::UNDERLINED)
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
        let dark = self.variant == Variant::Dark;
        let pick = |d: Color, l: Color| if dark { d } else { l };
        match token {
            Token::Meta | Token::Comment => self.dim(),
            Token::Error => self.error(),
            Token::Warning => self.warn(),
            Token::Heading => self.accent(),
            Token::Timestamp => base.fg(pick(
                Color::Rgb(0x8f, 0xa1, 0xb3),
                Color::Rgb(0x55, 0x65, 0x75),
            )),
            Token::Keyword => base.fg(pick(
                Color::Rgb(0xc6, 0x92, 0xea),
                Color::Rgb(0x7a, 0x3e, 0x9d),
            )),
            Token::Key => base.fg(pick(
                Color::Rgb(0x82, 0xaa, 0xff),
                Color::Rgb(0x1f, 0x5f, 0xbf),
            )),
            Token::String => base.fg(pick(
                Color::Rgb(0xc3, 0xe8, 0x8d),
                Color::Rgb(0x2e, 0x7d, 0x32),
            )),
            Token::Number | Token::Constant => base.fg(pick(
                Color::Rgb(0xf7, 0x8c, 0x6c),
                Color::Rgb(0xb3, 0x4d, 0x00),
            )),
            Token::Variable => base.fg(pick(
                Color::Rgb(0xff, 0xcb, 0x6b),
                Color::Rgb(0x8a, 0x5a, 0x00),
            )),
            Token::Column(n) => {
                const DARK: [Color; 6] = [
                    Color::Rgb(0x82, 0xaa, 0xff),
                    Color::Rgb(0xc3, 0xe8, 0x8d),
                    Color::Rgb(0xf7, 0x8c, 0x6c),
                    Color::Rgb(0xc6, 0x92, 0xea),
                    Color::Rgb(0x89, 0xdd, 0xff),
                    Color::Rgb(0xff, 0xcb, 0x6b),
                ];
                const LIGHT: [Color; 6] = [
                    Color::Rgb(0x1f, 0x5f, 0xbf),
                    Color::Rgb(0x2e, 0x7d, 0x32),
                    Color::Rgb(0xb3, 0x4d, 0x00),
                    Color::Rgb(0x7a, 0x3e, 0x9d),
                    Color::Rgb(0x00, 0x6d, 0x75),
                    Color::Rgb(0x8a, 0x5a, 0x00),
                ];
                base.fg(if dark { DARK } else { LIGHT }[usize::from(n) % 6])
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
