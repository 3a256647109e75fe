//! Syntax highlighting with syntect, by detected content: JSON, XML, CSV (columns coloured),
//! PowerShell source, or lrx's own "transcript" syntax for PowerShell/bash output (assets/).
//! UI-free: it turns display lines into byte ranges with a `Token`; the viewer maps tokens to
//! its theme. `highlighter` decides which lines get parsed when.

use std::collections::HashMap;
use std::sync::OnceLock;

use syntect::parsing::{
    ParseState, Scope, ScopeStack, SyntaxDefinition, SyntaxReference, SyntaxSet,
};

use super::line::Line;

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

/// Lines longer than this are left plain: syntect's cost grows faster than their length.
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

/// Loads the syntaxes and compiles the transcript syntax's patterns, so the first document
/// does not wait for them.
pub fn warm_up() {
    if let Some(mut parser) = Parser::new(Kind::Transcript) {
        parser.line("WARNING: 2026-11-20T12:00:00Z Get-Item : ----", None);
    }
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
        .any(|l| l.starts_with("param(") || l.starts_with("function ") || l.starts_with('$'))
    {
        Kind::PowerShell
    } else {
        Kind::Transcript
    }
}

impl Kind {
    /// Every line starts from the syntax's initial state: nothing carries over from one line
    /// to the next, so any line can be highlighted exactly without the lines above it.
    pub fn is_line_local(self) -> bool {
        matches!(self, Self::Transcript | Self::Csv)
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

/// What one scope contributes when the stack is read from the innermost scope outwards.
#[derive(Debug, Clone, Copy)]
enum ScopeMeaning {
    /// Separators end the search: they stay unstyled even inside a coloured column.
    Plain,
    Styled(Token),
    /// Says nothing; look at the enclosing scope.
    Transparent,
}

fn meaning(scope: Scope) -> ScopeMeaning {
    let name = scope.build_string();
    if name == "punctuation.separator.lrx" {
        return ScopeMeaning::Plain;
    }
    if let Some(rest) = name.strip_prefix("meta.column.c") {
        return rest
            .chars()
            .next()
            .and_then(|c| c.to_digit(10))
            .map_or(ScopeMeaning::Plain, |n| {
                ScopeMeaning::Styled(Token::Column(u8::try_from(n).unwrap_or(0)))
            });
    }
    let token = match () {
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
            || name.starts_with("meta.structure.dictionary.key")
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
        () => return ScopeMeaning::Transparent,
    };
    ScopeMeaning::Styled(token)
}

/// Scope names are compared as strings; remembering each scope's meaning keeps that off the
/// per-line path.
#[derive(Debug, Default)]
pub struct Meanings(HashMap<Scope, ScopeMeaning>);

impl Meanings {
    fn token(&mut self, stack: &ScopeStack) -> Option<Token> {
        let mut found = None;
        for scope in stack.as_slice().iter().rev() {
            match *self.0.entry(*scope).or_insert_with(|| meaning(*scope)) {
                ScopeMeaning::Plain if found.is_none() => return None,
                // A mapping key is quoted like any string; the key matters more.
                ScopeMeaning::Styled(Token::Key) if found == Some(Token::String) => {
                    return Some(Token::Key);
                }
                ScopeMeaning::Styled(token) if found.is_none() => found = Some(token),
                _ => {}
            }
        }
        found
    }
}

/// syntect's state between two lines. Cloning one is how the highlighter keeps checkpoints.
#[derive(Debug, Clone)]
pub struct Parser {
    syntax: &'static SyntaxReference,
    state: ParseState,
    stack: ScopeStack,
}

impl PartialEq for Parser {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state && self.stack == other.stack
    }
}

impl Parser {
    pub fn new(kind: Kind) -> Option<Self> {
        let syntax = syntax(kind)?;
        Some(Self {
            syntax,
            state: ParseState::new(syntax),
            stack: ScopeStack::new(),
        })
    }

    /// The state after an empty first line: where every line after the first starts in a
    /// line-local syntax.
    pub fn primed(kind: Kind) -> Option<Self> {
        let mut parser = Self::new(kind)?;
        parser.line("", None);
        Some(parser)
    }

    fn reset(&mut self) {
        self.state = ParseState::new(self.syntax);
        self.stack = ScopeStack::new();
    }

    /// Parses the next line; with `meanings`, also returns its tokens (the parse alone is
    /// what a checkpoint sweep needs).
    pub fn line(&mut self, text: &str, meanings: Option<&mut Meanings>) -> LineTokens {
        if text.len() > MAX_LINE_LENGTH {
            // Start afresh after an enormous line rather than pay for it.
            self.reset();
            return Vec::new();
        }
        let with_newline = format!("{text}\n");
        let Ok(ops) = self.state.parse_line(&with_newline, syntaxes()) else {
            self.reset();
            return Vec::new();
        };
        let Some(meanings) = meanings else {
            for (_, op) in ops {
                let _ = self.stack.apply(&op);
            }
            return Vec::new();
        };
        let mut tokens = Vec::new();
        let mut position = 0;
        for (at, op) in ops {
            let at = at.min(text.len());
            if at > position {
                if let Some(kind) = meanings.token(&self.stack) {
                    push_token(&mut tokens, position, at, kind);
                }
                position = at;
            }
            let _ = self.stack.apply(&op);
        }
        if position < text.len()
            && let Some(kind) = meanings.token(&self.stack)
        {
            push_token(&mut tokens, position, text.len(), kind);
        }
        tokens
    }
}

/// Adjacent ranges of one token are merged, so the viewer draws fewer spans.
fn push_token(tokens: &mut LineTokens, start: usize, end: usize, token: Token) {
    if let Some(last) = tokens.last_mut()
        && last.1 == start
        && last.2 == token
    {
        last.1 = end;
        return;
    }
    tokens.push((start, end, token));
}

/// Tokens for every line, highlighted in one pass (short texts, tests and benchmarks).
pub fn highlight_all(lines: &[Line], kind: Kind) -> Option<Vec<LineTokens>> {
    let mut parser = Parser::new(kind)?;
    let mut meanings = Meanings::default();
    Some(
        lines
            .iter()
            .map(|line| parser.line(&line.text, Some(&mut meanings)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::line::LineClass;

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
    fn line_local_syntaxes_carry_nothing_from_one_line_to_the_next() {
        let sample = "Transcript started, output file is C:\\x.txt\n\"quoted (unclosed [\nGet-Thing : Access denied.\n    + CategoryInfo : PermissionDenied\nAt C:\\x.ps1:3 char:1\nWARNING: careful\nName   Id\n----   --\n== Section ==\n2026-11-20T12:00:00Z {\n11/20/2026 1:00 PM True\n<xml attr='1'>\n$var = @'\n";
        for kind in [Kind::Transcript, Kind::Csv] {
            assert!(kind.is_line_local());
            let primed = Parser::primed(kind).expect("syntax");
            let mut parser = Parser::new(kind).expect("syntax");
            let mut meanings = Meanings::default();
            for line in sample.lines() {
                parser.line(line, Some(&mut meanings));
                assert!(parser == primed, "{kind:?} after {line:?}");
            }
        }
        // The others carry state across lines, so they need checkpoints.
        for (kind, opening) in [
            (Kind::Json, "{"),
            (Kind::Xml, "<!-- a comment"),
            (Kind::PowerShell, "<# a block comment"),
        ] {
            assert!(!kind.is_line_local());
            let mut parser = Parser::new(kind).expect("syntax");
            parser.line(opening, None);
            assert!(parser != Parser::primed(kind).expect("syntax"), "{kind:?}");
        }
    }

    #[test]
    fn detects_and_highlights_by_content() {
        let json = lines("[\n  {\n    \"Path\": \"C:\\\\x\",\n    \"Size\": 42\n  }\n]");
        assert_eq!(detect(&json), Kind::Json);
        let tokens = highlight_all(&json, Kind::Json).expect("syntax");
        assert!(
            tokens[2]
                .iter()
                .any(|(_, _, t)| matches!(t, Token::Key | Token::String))
        );
        assert!(tokens[3].iter().any(|(_, _, t)| *t == Token::Number));

        let csv = lines("\"Name\",\"Version\",\"Publisher\"\n\"7-Zip\",\"24.08\",\"Igor Pavlov\"");
        assert_eq!(detect(&csv), Kind::Csv);
        let tokens = highlight_all(&csv, Kind::Csv).expect("syntax");
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
            "{columns:?} {tokens:?}"
        );

        let output = lines(
            "Transcript started, output file is C:\\x.txt\nGet-Thing : Access denied.\n+ CategoryInfo : PermissionDenied\nWARNING: careful\n2026-11-20T12:00:00Z ok",
        );
        assert_eq!(detect(&output), Kind::Transcript);
        let tokens = highlight_all(&output, Kind::Transcript).expect("syntax");
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
