//! The one key map: every binding, the pane it applies in and what it does. Help and the
//! hint bar are generated from it, so they cannot drift from what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextPane,
    PrevPane,
    Enter,
    Back,
    Search,
    NextMatch,
    PrevMatch,
    Refresh,
    Fetch,
    FetchAll,
    Help,
    Quit,
    ForceQuit,
    ToggleFailedOnly,
    ToggleAllTypes,
    CycleSort,
    ToggleWrap,
    ScrollLeft,
    ScrollRight,
    ToggleLineNumbers,
    ShowOutput,
    ShowErrors,
    ShowRaw,
    ToggleFullscreen,
    ToggleAbsoluteTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Global,
    Actions,
    Commands,
    Transcript,
}

pub struct Binding {
    pub keys: &'static str,
    pub codes: &'static [(KeyCode, KeyModifiers)],
    pub action: Action,
    pub context: Context,
    pub description: &'static str,
    /// Shown in the hint bar of its context.
    pub hint: bool,
}

const NONE: KeyModifiers = KeyModifiers::NONE;

macro_rules! bind {
    ($keys:expr, [$($code:expr),+], $action:ident, $context:ident, $description:expr, $hint:expr) => {
        Binding {
            keys: $keys,
            codes: &[$(($code, NONE)),+],
            action: Action::$action,
            context: Context::$context,
            description: $description,
            hint: $hint,
        }
    };
}

pub const BINDINGS: &[Binding] = &[
    bind!(
        "j/↓",
        [KeyCode::Char('j'), KeyCode::Down],
        Down,
        Global,
        "move down / scroll down",
        false
    ),
    bind!(
        "k/↑",
        [KeyCode::Char('k'), KeyCode::Up],
        Up,
        Global,
        "move up / scroll up",
        false
    ),
    bind!(
        "PgDn",
        [KeyCode::PageDown],
        PageDown,
        Global,
        "page down",
        false
    ),
    bind!("PgUp", [KeyCode::PageUp], PageUp, Global, "page up", false),
    bind!(
        "g/Home",
        [KeyCode::Char('g'), KeyCode::Home],
        Top,
        Global,
        "go to the top",
        false
    ),
    bind!(
        "G/End",
        [KeyCode::Char('G'), KeyCode::End],
        Bottom,
        Global,
        "go to the end",
        false
    ),
    bind!("Tab", [KeyCode::Tab], NextPane, Global, "next pane", true),
    bind!(
        "S-Tab",
        [KeyCode::BackTab],
        PrevPane,
        Global,
        "previous pane",
        false
    ),
    bind!(
        "Enter",
        [KeyCode::Enter],
        Enter,
        Global,
        "open / drill in",
        true
    ),
    bind!(
        "Esc",
        [KeyCode::Esc],
        Back,
        Global,
        "back (clears a filter first)",
        false
    ),
    bind!(
        "/",
        [KeyCode::Char('/')],
        Search,
        Global,
        "filter (lists) or search (transcript)",
        true
    ),
    bind!(
        "n",
        [KeyCode::Char('n')],
        NextMatch,
        Transcript,
        "next match",
        false
    ),
    bind!(
        "N",
        [KeyCode::Char('N')],
        PrevMatch,
        Transcript,
        "previous match",
        false
    ),
    bind!(
        "r",
        [KeyCode::Char('r')],
        Refresh,
        Global,
        "refresh from the service",
        true
    ),
    bind!(
        "f",
        [KeyCode::Char('f')],
        Fetch,
        Commands,
        "fetch the selected result",
        true
    ),
    bind!(
        "F",
        [KeyCode::Char('F')],
        FetchAll,
        Global,
        "fetch every result of the action",
        true
    ),
    bind!(
        "x",
        [KeyCode::Char('x')],
        ToggleFailedOnly,
        Actions,
        "only failed or non-zero",
        true
    ),
    bind!(
        "t",
        [KeyCode::Char('t')],
        ToggleAllTypes,
        Actions,
        "all action types / Live Response only",
        false
    ),
    bind!(
        "s",
        [KeyCode::Char('s')],
        CycleSort,
        Actions,
        "sort by created, machine, status, requestor",
        true
    ),
    bind!(
        "a",
        [KeyCode::Char('a')],
        ToggleAbsoluteTime,
        Actions,
        "absolute / relative times",
        false
    ),
    bind!(
        "1",
        [KeyCode::Char('1')],
        ShowOutput,
        Transcript,
        "Output section",
        true
    ),
    bind!(
        "2",
        [KeyCode::Char('2')],
        ShowErrors,
        Transcript,
        "Errors section",
        true
    ),
    bind!(
        "3",
        [KeyCode::Char('3')],
        ShowRaw,
        Transcript,
        "Raw payload",
        false
    ),
    bind!(
        "w",
        [KeyCode::Char('w')],
        ToggleWrap,
        Transcript,
        "wrap long lines",
        true
    ),
    bind!(
        "h/←",
        [KeyCode::Char('h'), KeyCode::Left],
        ScrollLeft,
        Transcript,
        "scroll left (unwrapped)",
        false
    ),
    bind!(
        "l/→",
        [KeyCode::Char('l'), KeyCode::Right],
        ScrollRight,
        Transcript,
        "scroll right (unwrapped)",
        false
    ),
    bind!(
        "#",
        [KeyCode::Char('#')],
        ToggleLineNumbers,
        Transcript,
        "line numbers",
        false
    ),
    bind!(
        "z",
        [KeyCode::Char('z')],
        ToggleFullscreen,
        Transcript,
        "fullscreen transcript",
        false
    ),
    bind!("?", [KeyCode::Char('?')], Help, Global, "help", true),
    bind!("q", [KeyCode::Char('q')], Quit, Global, "quit", true),
];

pub fn context_name(context: Context) -> &'static str {
    match context {
        Context::Global => "everywhere",
        Context::Actions => "machine actions",
        Context::Commands => "commands",
        Context::Transcript => "transcript",
    }
}

/// The action for a key in a pane: the pane's own bindings first, then the global ones.
pub fn lookup(key: KeyEvent, context: Context) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::ForceQuit);
    }
    let modifiers = key.modifiers - KeyModifiers::SHIFT;
    let matches = |binding: &&Binding| {
        binding
            .codes
            .iter()
            .any(|(code, mods)| *code == key.code && *mods == modifiers)
    };
    BINDINGS
        .iter()
        .filter(|b| b.context == context)
        .find(matches)
        .or_else(|| {
            BINDINGS
                .iter()
                .filter(|b| b.context == Context::Global)
                .find(matches)
        })
        .map(|b| b.action)
}

/// Hints for the focused pane, its own first.
pub fn hints(context: Context) -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.hint && b.context == context)
        .chain(
            BINDINGS
                .iter()
                .filter(|b| b.hint && b.context == Context::Global),
        )
        .map(|b| {
            (
                b.keys,
                b.description.split(" (").next().unwrap_or(b.description),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn pane_bindings_win_over_global_ones() {
        assert_eq!(
            lookup(key(KeyCode::Char('n')), Context::Transcript),
            Some(Action::NextMatch)
        );
        assert_eq!(lookup(key(KeyCode::Char('n')), Context::Actions), None);
        assert_eq!(
            lookup(key(KeyCode::Char('j')), Context::Commands),
            Some(Action::Down)
        );
        assert_eq!(
            lookup(
                KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT),
                Context::Actions
            ),
            Some(Action::Bottom)
        );
        assert_eq!(
            lookup(
                KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
                Context::Actions
            ),
            Some(Action::ForceQuit)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        let mut seen = std::collections::HashSet::new();
        for binding in BINDINGS {
            for code in binding.codes {
                assert!(
                    seen.insert((format!("{:?}", binding.context), format!("{code:?}"))),
                    "{code:?} twice in {:?}",
                    binding.context
                );
            }
        }
    }
}
