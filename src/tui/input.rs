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
    ToggleMark,
    Review,
    ShowDiff,
    GotoLine,
    OnlyMatching,
    SavePayload,
    SaveOutput,
    Copy,
    CopyRaw,
    CommandLine,
    Pager,
    Run,
    CancelAction,
    ShowBaseline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Global,
    Actions,
    Commands,
    Transcript,
    Review,
}

impl Context {
    /// In the order help and the man page list them.
    pub const ALL: [Self; 5] = [
        Self::Global,
        Self::Actions,
        Self::Commands,
        Self::Transcript,
        Self::Review,
    ];
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
    bind!(
        "Tab",
        [KeyCode::Tab],
        NextPane,
        Global,
        "next pane (next section in a fullscreen transcript)",
        true
    ),
    bind!(
        "S-Tab",
        [KeyCode::BackTab],
        PrevPane,
        Global,
        "previous pane (previous section in a fullscreen transcript)",
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
        "fetch every result of the action (under x: the unknown ones)",
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
        "Raw payload (again: indented JSON)",
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
    bind!(
        "o",
        [KeyCode::Char('o')],
        Pager,
        Transcript,
        "open the output in $PAGER (sanitised)",
        false
    ),
    bind!(
        ":",
        [KeyCode::Char(':')],
        GotoLine,
        Transcript,
        "go to line (:123)",
        false
    ),
    bind!(
        ":",
        [KeyCode::Char(':')],
        CommandLine,
        Actions,
        "command: :profile NAME, :review, :login, :q",
        false
    ),
    bind!(
        ":",
        [KeyCode::Char(':')],
        CommandLine,
        Commands,
        "command: :profile NAME, :review, :login, :q",
        false
    ),
    bind!(
        "&",
        [KeyCode::Char('&')],
        OnlyMatching,
        Transcript,
        "only lines matching the search (as in less)",
        false
    ),
    bind!(
        "s",
        [KeyCode::Char('s')],
        SavePayload,
        Transcript,
        "save the raw payload (GetFile: the file)",
        true
    ),
    bind!(
        "S",
        [KeyCode::Char('S')],
        SaveOutput,
        Transcript,
        "save the output text",
        false
    ),
    bind!(
        "y",
        [KeyCode::Char('y')],
        Copy,
        Transcript,
        "copy the visible text (OSC 52, sanitised)",
        false
    ),
    bind!(
        "Y",
        [KeyCode::Char('Y')],
        CopyRaw,
        Transcript,
        "copy the raw output",
        false
    ),
    bind!(
        "Space",
        [KeyCode::Char(' ')],
        ToggleMark,
        Actions,
        "mark for review",
        false
    ),
    bind!(
        "R",
        [KeyCode::Char('R')],
        Review,
        Global,
        "review marked (or filtered) actions across machines",
        true
    ),
    bind!(
        "d",
        [KeyCode::Char('d')],
        ShowDiff,
        Review,
        "diff this run against the majority output",
        true
    ),
    bind!(
        "w",
        [KeyCode::Char('w')],
        ToggleWrap,
        Review,
        "wrap the diff's long lines",
        false
    ),
    bind!(
        "x",
        [KeyCode::Char('x')],
        ToggleFailedOnly,
        Review,
        "only failed or non-zero runs",
        true
    ),
    bind!(
        "s",
        [KeyCode::Char('s')],
        CycleSort,
        Review,
        "sort rows",
        false
    ),
    bind!(
        "X",
        [KeyCode::Char('X')],
        Run,
        Actions,
        "run a library script on the marked machines (or this one)",
        false
    ),
    bind!(
        "C",
        [KeyCode::Char('C')],
        CancelAction,
        Actions,
        "cancel this pending or running action",
        false
    ),
    bind!(
        "b",
        [KeyCode::Char('b')],
        ShowBaseline,
        Review,
        "diff this run against its previous run on the machine",
        false
    ),
    bind!(
        "X",
        [KeyCode::Char('X')],
        Run,
        Review,
        "run a library script on the outliers and failed runs shown",
        false
    ),
    bind!("?", [KeyCode::Char('?')], Help, Global, "help", true),
    bind!("q", [KeyCode::Char('q')], Quit, Global, "quit", true),
];

impl Action {
    /// The name used for this action in `[keys]` of config.toml.
    pub fn name(self) -> String {
        let debug = format!("{self:?}");
        let mut name = String::new();
        for (i, c) in debug.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        }
        name
    }
}

/// Parses a key as written in config.toml: `j`, `G`, `?`, `down`, `pgdn`, `tab`, `ctrl-r`, …
pub fn parse_key(text: &str) -> Result<(KeyCode, KeyModifiers), String> {
    let mut modifiers = KeyModifiers::NONE;
    let mut rest = text.trim();
    loop {
        if let Some(tail) = rest
            .strip_prefix("ctrl-")
            .or_else(|| rest.strip_prefix("c-"))
        {
            modifiers |= KeyModifiers::CONTROL;
            rest = tail;
        } else if let Some(tail) = rest
            .strip_prefix("alt-")
            .or_else(|| rest.strip_prefix("m-"))
        {
            modifiers |= KeyModifiers::ALT;
            rest = tail;
        } else {
            break;
        }
    }
    let code = match rest.to_ascii_lowercase().as_str() {
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pgup" | "pageup" => KeyCode::PageUp,
        "pgdn" | "pagedown" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "tab" => KeyCode::Tab,
        "backtab" | "s-tab" | "shift-tab" => KeyCode::BackTab,
        "enter" | "return" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "backspace" => KeyCode::Backspace,
        "space" => KeyCode::Char(' '),
        f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
            KeyCode::F(f[1..].parse().unwrap_or(1))
        }
        _ => {
            let mut chars = rest.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => KeyCode::Char(c),
                _ => {
                    return Err(format!(
                        "'{text}' is not a key (examples: j, G, ?, down, pgdn, tab, enter, esc, ctrl-r)"
                    ));
                }
            }
        }
    };
    Ok((code, modifiers))
}

/// The bindings in force: the defaults, with any action remapped in config.toml.
#[derive(Debug, Clone)]
pub struct KeyMap {
    bindings: Vec<EffectiveBinding>,
}

/// One row of help: a context's heading or one of its bindings.
pub enum HelpRow<'a> {
    Context(Context),
    Binding(&'a EffectiveBinding),
}

/// Said below the key list wherever it is shown: Ctrl-C is not remappable.
pub const FORCE_QUIT_HELP: (&str, &str) = ("Ctrl-C", "quit from anywhere");

#[derive(Debug, Clone)]
pub struct EffectiveBinding {
    pub keys: String,
    pub codes: Vec<(KeyCode, KeyModifiers)>,
    pub action: Action,
    pub context: Context,
    pub description: &'static str,
    pub hint: bool,
}

impl Default for KeyMap {
    fn default() -> Self {
        Self {
            bindings: BINDINGS
                .iter()
                .map(|b| EffectiveBinding {
                    keys: b.keys.to_string(),
                    codes: b.codes.to_vec(),
                    action: b.action,
                    context: b.context,
                    description: b.description,
                    hint: b.hint,
                })
                .collect(),
        }
    }
}

impl KeyMap {
    /// `overrides` maps action names to their new keys; unknown names and keys are errors.
    /// The default map with `[keys]` applied. Every mistake is named at once (an unknown
    /// action, a key lrx cannot read, a key that would shadow another action where both
    /// apply, such as `quit = ["j"]` taking `j` from `down`).
    pub fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = (&'a String, &'a Vec<String>)>,
    ) -> Result<Self, String> {
        let mut map = Self::default();
        let mut mistakes = Vec::new();
        let mut changed = Vec::new();
        for (name, keys) in overrides {
            let Some(action) = BINDINGS
                .iter()
                .map(|b| b.action)
                .find(|a| a.name() == *name)
            else {
                let known: Vec<String> = BINDINGS.iter().map(|b| b.action.name()).collect();
                mistakes.push(format!(
                    "unknown action '{name}' in [keys] (known: {})",
                    known.join(", ")
                ));
                continue;
            };
            let codes = match keys
                .iter()
                .map(|k| parse_key(k))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(codes) => codes,
                Err(error) => {
                    mistakes.push(error);
                    continue;
                }
            };
            for binding in map.bindings.iter_mut().filter(|b| b.action == action) {
                binding.codes.clone_from(&codes);
                binding.keys = keys.join("/");
            }
            changed.push(action);
        }
        for action in changed {
            for ours in map.bindings.iter().filter(|b| b.action == action) {
                for theirs in map.bindings.iter().filter(|b| b.action != action) {
                    let overlap = ours.context == theirs.context
                        || ours.context == Context::Global
                        || theirs.context == Context::Global;
                    let shared = ours.codes.iter().find(|c| theirs.codes.contains(c));
                    if let (true, Some(_)) = (overlap, shared) {
                        let mistake = format!(
                            "[keys] {} = \"{}\" takes a key {} already uses ({}): pick another key, or move {} too",
                            action.name(),
                            ours.keys,
                            theirs.action.name(),
                            context_name(theirs.context),
                            theirs.action.name()
                        );
                        if !mistakes.contains(&mistake) {
                            mistakes.push(mistake);
                        }
                    }
                }
            }
        }
        if mistakes.is_empty() {
            Ok(map)
        } else {
            Err(mistakes.join("\n"))
        }
    }

    pub fn bindings(&self) -> &[EffectiveBinding] {
        &self.bindings
    }

    /// What help lists, in order: each context with bindings, then its bindings. The
    /// overlay (`?`), its scrolling and the man page all walk this one list.
    pub fn help_rows(&self) -> Vec<HelpRow<'_>> {
        let mut rows = Vec::new();
        for context in Context::ALL {
            let mut bindings = self
                .bindings
                .iter()
                .filter(|b| b.context == context)
                .peekable();
            if bindings.peek().is_some() {
                rows.push(HelpRow::Context(context));
                rows.extend(bindings.map(HelpRow::Binding));
            }
        }
        rows
    }

    /// The action for a key in a pane: the pane's own bindings first, then the global ones.
    pub fn lookup(&self, key: KeyEvent, context: Context) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::ForceQuit);
        }
        let modifiers = key.modifiers - KeyModifiers::SHIFT;
        let matches = |binding: &&EffectiveBinding| {
            binding
                .codes
                .iter()
                .any(|(code, mods)| *code == key.code && (*mods - KeyModifiers::SHIFT) == modifiers)
        };
        self.bindings
            .iter()
            .filter(|b| b.context == context)
            .find(matches)
            .or_else(|| {
                self.bindings
                    .iter()
                    .filter(|b| b.context == Context::Global)
                    .find(matches)
            })
            .map(|b| b.action)
    }

    /// Hints for the focused pane, its own first.
    pub fn hints(&self, context: Context) -> Vec<(String, &'static str)> {
        self.bindings
            .iter()
            .filter(|b| b.hint && b.context == context)
            .chain(
                self.bindings
                    .iter()
                    .filter(|b| b.hint && b.context == Context::Global),
            )
            .map(|b| {
                (
                    b.keys.clone(),
                    b.description.split(" (").next().unwrap_or(b.description),
                )
            })
            .collect()
    }
}

pub fn context_name(context: Context) -> &'static str {
    match context {
        Context::Global => "everywhere",
        Context::Actions => "machine actions",
        Context::Commands => "commands",
        Context::Transcript => "transcript",
        Context::Review => "review",
    }
}

/// The default bindings' action for a key (see `KeyMap::lookup`).
pub fn lookup(key: KeyEvent, context: Context) -> Option<Action> {
    KeyMap::default().lookup(key, context)
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
    fn actions_can_be_remapped_and_mistakes_are_named() {
        let overrides = std::collections::HashMap::from([(
            "fetch_all".to_string(),
            vec!["A".to_string(), "ctrl-f".to_string()],
        )]);
        let map = KeyMap::with_overrides(&overrides).expect("valid");
        assert_eq!(
            map.lookup(
                KeyEvent::new(KeyCode::Char('A'), KeyModifiers::SHIFT),
                Context::Actions
            ),
            Some(Action::FetchAll)
        );
        assert_eq!(
            map.lookup(
                KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL),
                Context::Actions
            ),
            Some(Action::FetchAll)
        );
        assert_eq!(
            map.lookup(
                KeyEvent::new(KeyCode::Char('F'), KeyModifiers::SHIFT),
                Context::Actions
            ),
            None
        );
        assert!(map.bindings().iter().any(|b| b.keys == "A/ctrl-f"));
        let unknown =
            std::collections::HashMap::from([("teleport".to_string(), vec!["t".to_string()])]);
        assert!(
            KeyMap::with_overrides(&unknown)
                .unwrap_err()
                .contains("unknown action 'teleport'")
        );
        let bad =
            std::collections::HashMap::from([("quit".to_string(), vec!["hyper-q".to_string()])]);
        assert!(
            KeyMap::with_overrides(&bad)
                .unwrap_err()
                .contains("not a key")
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
