//! Syntax highlighting with syntect, by detected content: JSON, XML, CSV (columns coloured),
//! PowerShell source, or lrx's own "transcript" syntax for PowerShell/bash output (assets/).
//! UI-free: it turns display lines into byte ranges with a `Token`; the viewer maps tokens to
//! its theme. It runs where documents are built (off the UI thread), and only for documents
//! small enough to finish quickly; larger ones are shown with line classes and indicators.

use std::sync::OnceLock;

use syntect::parsing::{ParseState, ScopeStack, SyntaxDefinition, SyntaxReference, SyntaxSet};

use super::document::Line;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Meta,
    Error,
    Warning,
    Heading,
    Timestamp,
    Keyword,
    Key,
    String,
    Number,
    Constant,
    Comment,
    Variable,
    Column(u8),
}

/// Byte ranges of the line's text, with their token.
pub type LineTokens = Vec<(usize, usize, Token)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Json,
    Xml,
    Csv,
    PowerShell,
    Transcript,
}

/// Highlighting stops here: beyond it the viewer shows line classes and indicators only.
pub const MAX_LINES: usize = 50_000;
const MAX_LINE_LENGTH: usize = 4_000;

const SYNTAXES: &[&str] = &[
    include_str!("../../assets/syntaxes/transcript.sublime-syntax"),
    include_str!("../../assets/syntaxes/csv.sublime-syntax"),
    include_str!("../../assets/syntaxes/powershell.sublime-syntax"),
];

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut builder = SyntaxSet::load_defaults_newlines().into_builder();
        for source in SYNTAXES {
            // The assets are compiled in and covered by a test; a broken one is skipped.
            if let Ok(definition) = SyntaxDefinition::load_from_str(source, true, None) {
                builder.add(definition);
            }
        }
        builder.build()
    })
}

/// What the text is, from its first meaningful lines.
pub fn detect(lines: &[Line]) -> Kind {
    let meaningful: Vec<&str> = lines
        .iter()
        .map(|l| l.text.trim())
        .filter(|t| !t.is_empty() && !t.starts_with("Transcript started, output file is "))
        .take(5)
        .collect();
    let Some(first) = meaningful.first() else {
        return Kind::Transcript;
    };
    if first.starts_with('{') || first.starts_with('[') {
        Kind::Json
    } else if first.starts_with("<?xml") || (first.starts_with('<') && first.ends_with('>')) {
        Kind::Xml
    } else if meaningful.len() >= 2
        && meaningful
            .iter()
            .take(3)
            .all(|l| l.matches(',').count() >= 2)
        && first.contains('"')
    {
        Kind::Csv
    } else if meaningful
        .iter()
        .any(|l| l.starts_with("param(") || l.starts_with("function ") || l.starts_with("$"))
    {
        Kind::PowerShell
    } else {
        Kind::Transcript
    }
}

fn syntax(kind: Kind) -> Option<&'static SyntaxReference> {
    let set = syntaxes();
    match kind {
        Kind::Json => set.find_syntax_by_name("JSON"),
        Kind::Xml => set.find_syntax_by_name("XML"),
        Kind::Csv => set.find_syntax_by_name("LRX CSV"),
        Kind::PowerShell => set.find_syntax_by_name("LRX PowerShell"),
        Kind::Transcript => set.find_syntax_by_name("LRX Transcript"),
    }
}

fn token(stack: &ScopeStack) -> Option<Token> {
    for scope in stack.as_slice().iter().rev() {
        let name = scope.build_string();
        if name == "punctuation.separator.lrx" {
            return None;
        }
        if let Some(rest) = name.strip_prefix("meta.column.c") {
            return rest
                .chars()
                .next()
                .and_then(|c| c.to_digit(10))
                .map(|n| Token::Column(u8::try_from(n).unwrap_or(0)));
        }
        let found = match () {
            () if name.starts_with("comment.line.transcript-header") => Token::Meta,
            () if name.starts_with("comment") => Token::Comment,
            () if name.starts_with("invalid") => Token::Error,
            () if name.starts_with("markup.warning") => Token::Warning,
            () if name.starts_with("markup.heading")
                || name.starts_with("punctuation.separator.table-rule") =>
            {
                Token::Heading
            }
            () if name.starts_with("constant.other.timestamp") => Token::Timestamp,
            () if name.starts_with("meta.mapping.key")
                || name.starts_with("entity.other.attribute-name") =>
            {
                Token::Key
            }
            () if name.starts_with("string") => Token::String,
            () if name.starts_with("constant.numeric") => Token::Number,
            () if name.starts_with("constant.language") => Token::Constant,
            () if name.starts_with("keyword")
                || name.starts_with("entity.name.tag")
                || name.starts_with("support.function") =>
            {
                Token::Keyword
            }
            () if name.starts_with("variable") => Token::Variable,
            () => continue,
        };
        return Some(found);
    }
    None
}

/// Tokens for every line (empty for lines too long to highlight), or `None` when the
/// document is too large to highlight up front.
pub fn highlight(lines: &[Line], kind: Kind) -> Option<Vec<LineTokens>> {
    if lines.len() > MAX_LINES {
        return None;
    }
    let syntax = syntax(kind)?;
    let set = syntaxes();
    let mut state = ParseState::new(syntax);
    let mut stack = ScopeStack::new();
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if line.text.len() > MAX_LINE_LENGTH {
            // Start afresh after an enormous line rather than pay for it.
            state = ParseState::new(syntax);
            stack = ScopeStack::new();
            out.push(Vec::new());
            continue;
        }
        let text = format!("{}\n", line.text);
        let Ok(ops) = state.parse_line(&text, set) else {
            out.push(Vec::new());
            continue;
        };
        let mut tokens = Vec::new();
        let mut position = 0;
        for (at, op) in ops {
            let at = at.min(line.text.len());
            if at > position {
                if let Some(kind) = token(&stack) {
                    tokens.push((position, at, kind));
                }
                position = at;
            }
            let _ = stack.apply(&op);
        }
        if position < line.text.len()
            && let Some(kind) = token(&stack)
        {
            tokens.push((position, line.text.len(), kind));
        }
        out.push(tokens);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::document::LineClass;

    fn lines(text: &str) -> Vec<Line> {
        text.lines()
            .map(|t| Line {
                text: t.to_string(),
                class: LineClass::Normal,
            })
            .collect()
    }

    #[test]
    fn every_bundled_syntax_loads() {
        for source in SYNTAXES {
            assert!(SyntaxDefinition::load_from_str(source, true, None).is_ok());
        }
        for kind in [
            Kind::Json,
            Kind::Xml,
            Kind::Csv,
            Kind::PowerShell,
            Kind::Transcript,
        ] {
            assert!(syntax(kind).is_some(), "{kind:?}");
        }
    }

    #[test]
    fn detects_and_highlights_by_content() {
        let json = lines("[\n  {\n    \"Path\": \"C:\\\\x\",\n    \"Size\": 42\n  }\n]");
        assert_eq!(detect(&json), Kind::Json);
        let tokens = highlight(&json, Kind::Json).expect("small");
        assert!(
            tokens[2]
                .iter()
                .any(|(_, _, t)| matches!(t, Token::Key | Token::String))
        );
        assert!(tokens[3].iter().any(|(_, _, t)| *t == Token::Number));

        let csv = lines("\"Name\",\"Version\",\"Publisher\"\n\"7-Zip\",\"24.08\",\"Igor Pavlov\"");
        assert_eq!(detect(&csv), Kind::Csv);
        let tokens = highlight(&csv, Kind::Csv).expect("small");
        let columns: Vec<u8> = tokens[1]
            .iter()
            .filter_map(|(_, _, t)| {
                if let Token::Column(n) = t {
                    Some(*n)
                } else {
                    None
                }
            })
            .collect();
        assert!(
            columns.contains(&0) && columns.contains(&1) && columns.contains(&2),
            "{columns:?} {:?}",
            tokens
        );

        let output = lines(
            "Transcript started, output file is C:\\x.txt\nGet-Thing : Access denied.\n+ CategoryInfo : PermissionDenied\nWARNING: careful\n2026-11-20T12:00:00Z ok",
        );
        assert_eq!(detect(&output), Kind::Transcript);
        let tokens = highlight(&output, Kind::Transcript).expect("small");
        assert_eq!(tokens[0][0].2, Token::Meta);
        assert_eq!(tokens[1][0].2, Token::Error);
        assert_eq!(tokens[2][0].2, Token::Error);
        assert_eq!(tokens[3][0].2, Token::Warning);
        assert_eq!(tokens[4][0].2, Token::Timestamp);
        assert_eq!(
            detect(&lines("<?xml version=\"1.0\"?>\n<Tasks/>")),
            Kind::Xml
        );
        assert_eq!(
            detect(&lines("param($Path)\n$x = Get-Item $Path")),
            Kind::PowerShell
        );
    }
}
