//! The application state and how it changes. `update` is synchronous and never touches the
//! network: it returns `Effect`s, which the event loop turns into background work whose
//! results come back as `Message`s.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent};
use ratatui::layout::Rect;

use super::input::{self, Context};
pub use super::search_state::Search;
use crate::api::ListQuery;
use crate::api::models::{ActionStatus, Command, MachineAction};
use crate::fetch::{
    FetchEvent, Fetched, MeterSnapshot, Priority, QueueStats, ResultKey, ResultState,
};
use crate::transcript::decode::ExitCode;
use crate::transcript::document::{self, Document, Section};

/// How long a toast stays up.
const TOAST_LIFETIME: chrono::Duration = chrono::Duration::seconds(6);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Actions,
    Commands,
    Transcript,
}

impl Pane {
    pub fn context(self) -> Context {
        match self {
            Self::Actions => Context::Actions,
            Self::Commands => Context::Commands,
            Self::Transcript => Context::Transcript,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Created,
    Machine,
    Status,
    Requestor,
}

impl SortKey {
    pub(super) fn next(self) -> Self {
        match self {
            Self::Created => Self::Machine,
            Self::Machine => Self::Status,
            Self::Status => Self::Requestor,
            Self::Requestor => Self::Created,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Machine => "machine",
            Self::Status => "status",
            Self::Requestor => "requestor",
        }
    }
}

/// Work for the event loop to start; its outcome comes back as a `Message`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadActions {
        query: ListQuery,
        append: bool,
    },
    RefreshActions(Vec<String>),
    Fetch(ResultKey, Priority),
    /// Highlight these lines of a section in the background; a `Redraw` follows.
    Highlight {
        document: Shown,
        section: Section,
        lines: Vec<usize>,
    },
    /// Take back prefetches still queued for an action the analyst moved away from.
    Withdraw(Vec<ResultKey>),
    Decode {
        key: ResultKey,
        fetched: Arc<Fetched>,
        kind: crate::results::PayloadKind,
    },
    RefreshMeter,
    /// Write a result to disk: the raw payload, the output text, or a GetFile's file.
    Save {
        source: std::path::PathBuf,
        target: std::path::PathBuf,
        kind: SaveKind,
    },
    /// Put text on the clipboard (OSC 52, so it works over SSH).
    Copy(String),
    /// Copy the raw `script_output` of a payload on disk.
    CopyRaw(std::path::PathBuf),
    /// Sign in with a device code (delegated), showing the code in a dialog.
    DeviceLogin,
    /// Suspend the UI and show this (sanitised) text in `$PAGER`.
    Pager(String),
}

/// A document on screen, compared by identity: two effects are the same when they are
/// about the same decoded result.
#[derive(Clone)]
pub struct Shown(pub Arc<Document>);

impl PartialEq for Shown {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shown(sha256 {})", self.0.sha256)
    }
}

/// What has the keyboard above the screen: at most one prompt or overlay at a time, so
/// which one gets a key is decided in one place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Prompt {
    #[default]
    None,
    /// Typing the actions list's filter.
    Filter,
    /// Typing a transcript search (its query lives with the search).
    Search,
    /// `:` and digits in a transcript: the line to go to.
    Goto(String),
    /// The `:` command line.
    Command(String),
    /// The key help, scrolled this far (it is longer than a 24- or 40-row terminal).
    Help { scroll: usize },
}

/// Which screen is up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// The actions, commands and transcript panes.
    #[default]
    Browse,
    /// The review of a sweep.
    Review,
    /// A transcript opened from the review: Esc goes back there.
    FromReview,
}

/// Why the event loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// Reopen on another profile from config.toml (data, cache and budget switch with it).
    SwitchProfile(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveKind {
    Payload,
    OutputText,
    /// Decompressed, bounded (gzip bombs).
    File {
        limit: u64,
    },
}

/// Where each pane was drawn last, so a click can find its pane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneAreas {
    pub actions: Rect,
    pub commands: Rect,
    pub transcript: Rect,
}

#[derive(Debug)]
pub enum Message {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize,
    Tick,
    Fetch(FetchEvent),
    ActionsLoaded {
        result: Result<Vec<MachineAction>, String>,
        append: bool,
    },
    ActionsRefreshed(Vec<Result<MachineAction, String>>),
    /// A result made ready to show (a preview of a huge one first, then the whole).
    Decoded(ResultKey, Arc<Document>),
    /// The review's digest of a result.
    Digested(ResultKey, crate::review::Digest),
    /// Something finished in the background that the analyst should hear about.
    Notice(String),
    /// Raw text read in the background, to put on the clipboard.
    Clipboard(String),
    /// A device code sign-in waits for the analyst: where to go and the code to enter.
    DevicePrompt {
        uri: String,
        code: String,
    },
    /// The device code sign-in ended.
    DeviceDone(Result<(), String>),
    /// Background work (highlighting) changed what is on screen.
    Redraw,
    Quit,
}

impl Message {
    /// What the result pipeline made of a payload, as the app takes it.
    pub fn from_result(key: ResultKey, event: crate::results::ResultEvent) -> Self {
        use crate::results::ResultEvent;
        match event {
            ResultEvent::Preview(document) | ResultEvent::Document(document) => {
                Self::Decoded(key, document)
            }
            ResultEvent::Digest(digest) => Self::Digested(key, digest),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TranscriptView {
    pub section: Section,
    pub scroll: usize,
    pub hscroll: usize,
    pub wrap: bool,
    pub line_numbers: bool,
    pub fullscreen: bool,
    pub search: Search,
    /// Show only lines that match the search (`&`, as in less).
    pub only_matching: bool,
}

impl Default for TranscriptView {
    fn default() -> Self {
        Self {
            section: Section::Output,
            scroll: 0,
            hscroll: 0,
            wrap: false,
            line_numbers: false,
            fullscreen: false,
            search: Search::default(),
            only_matching: false,
        }
    }
}

/// Settings the session starts with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub prefetch: bool,
    pub page_size: usize,
    /// How often Pending/InProgress actions are re-read.
    pub refresh_every: chrono::Duration,
    /// Colour the transcript's syntax (off without colour: the work would not show).
    pub highlight: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            prefetch: true,
            page_size: 300,
            refresh_every: chrono::Duration::seconds(10),
            highlight: true,
        }
    }
}

pub struct App {
    pub label: String,
    pub cloud: String,
    pub settings: Settings,
    pub now: DateTime<Utc>,
    /// The analyst's UTC offset for clock times on screen (fixed in tests).
    pub local_offset: chrono::FixedOffset,
    pub actions: Vec<MachineAction>,
    pub loading: bool,
    pub more_available: bool,
    pub last_refresh: Option<DateTime<Utc>>,
    pub last_auto_refresh: Option<DateTime<Utc>>,
    pub load_error: Option<String>,
    pub filter: String,
    /// What has the keyboard above the screen, if anything.
    pub prompt: Prompt,
    /// Which screen is up: the panes, or the review.
    pub stage: Stage,
    pub failed_only: bool,
    pub all_types: bool,
    pub absolute_time: bool,
    pub sort: SortKey,
    pub visible: Vec<usize>,
    /// Under "failed or non-zero only": actions the filter would show whose exit codes are
    /// not fetched yet, so the analyst knows the list may be incomplete.
    pub exit_unknown: Vec<usize>,
    pub selected_action: usize,
    /// First visible row of the actions list (kept by the view so the selection shows).
    pub actions_offset: usize,
    pub selected_command: usize,
    pub focus: Pane,
    pub results: HashMap<ResultKey, ResultState>,
    pub documents: HashMap<ResultKey, Arc<Document>>,
    pub transcript: TranscriptView,
    pub meter: MeterSnapshot,
    pub queue: QueueStats,
    pub toast: Option<(String, DateTime<Utc>)>,
    pub quit: bool,
    /// Visible rows of the list panes and the transcript, from the last render (for paging).
    pub page_rows: usize,
    pub areas: PaneAreas,
    pub keymap: input::KeyMap,
    /// Actions marked with Space for a review.
    pub marked: std::collections::HashSet<String>,
    pub review: Option<super::review_screen::ReviewScreen>,
    pub digests: HashMap<ResultKey, crate::review::Digest>,
    /// Where `s` and `S` save (the directory lrx was started in).
    pub save_dir: std::path::PathBuf,
    pub exit: Exit,
    /// A device code sign-in in progress: the URL and the code to show. Not a prompt: the
    /// keys go on working while the analyst signs in elsewhere.
    pub device_prompt: Option<(String, String)>,
    /// The screen was handed to another program (the pager): repaint it all.
    pub needs_full_redraw: bool,
    /// Called from background threads when what is on screen changed (set by the event loop).
    pub wake: crate::transcript::highlighter::Notify,
}

impl App {
    pub fn new(label: String, cloud: String, settings: Settings, now: DateTime<Utc>) -> Self {
        Self {
            label,
            cloud,
            settings,
            now,
            local_offset: *chrono::Local::now().offset(),
            actions: Vec::new(),
            loading: false,
            more_available: false,
            last_refresh: None,
            last_auto_refresh: None,
            load_error: None,
            filter: String::new(),
            prompt: Prompt::None,
            stage: Stage::Browse,
            failed_only: false,
            exit_unknown: Vec::new(),
            all_types: false,
            absolute_time: false,
            sort: SortKey::Created,
            visible: Vec::new(),
            selected_action: 0,
            actions_offset: 0,
            selected_command: 0,
            focus: Pane::Actions,
            results: HashMap::new(),
            documents: HashMap::new(),
            transcript: TranscriptView::default(),
            meter: MeterSnapshot::default(),
            queue: QueueStats::default(),
            toast: None,
            quit: false,
            page_rows: 10,
            areas: PaneAreas::default(),
            keymap: input::KeyMap::default(),
            marked: std::collections::HashSet::new(),
            review: None,
            digests: HashMap::new(),
            save_dir: std::env::var_os("LRX_SAVE_DIR")
                .map(std::path::PathBuf::from)
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_default(),
            exit: Exit::Quit,
            device_prompt: None,
            needs_full_redraw: false,
            wake: Arc::new(|| {}),
        }
    }

    /// The first effects: load the actions, unless a resumed app has them already.
    pub fn start(&mut self) -> Vec<Effect> {
        if self.actions.is_empty() {
            vec![self.load(false), Effect::RefreshMeter]
        } else {
            vec![Effect::RefreshMeter]
        }
    }

    fn query(&self, skip: usize) -> ListQuery {
        ListQuery {
            action_type: (!self.all_types).then(|| crate::api::LIVE_RESPONSE.into()),
            limit: self.settings.page_size,
            skip,
            ..ListQuery::default()
        }
    }

    pub(super) fn load(&mut self, append: bool) -> Effect {
        self.loading = true;
        let skip = if append { self.actions.len() } else { 0 };
        Effect::LoadActions {
            query: self.query(skip),
            append,
        }
    }

    pub fn selected(&self) -> Option<&MachineAction> {
        self.visible
            .get(self.selected_action)
            .and_then(|&i| self.actions.get(i))
    }

    pub fn selected_command(&self) -> Option<&Command> {
        self.selected()
            .and_then(|a| a.commands.get(self.selected_command))
    }

    pub fn selected_key(&self) -> Option<ResultKey> {
        let action = self.selected()?;
        let command = action.commands.get(self.selected_command)?;
        Some(ResultKey::new(action.id.clone(), command.index))
    }

    pub fn exit_code(&self, key: &ResultKey) -> Option<&ExitCode> {
        self.documents.get(key).and_then(|d| d.exit_code())
    }

    /// Failed or TimeOut, a failed command, or a non-zero exit code among fetched results.
    fn is_failed_or_nonzero(&self, action: &MachineAction) -> bool {
        matches!(action.status, ActionStatus::Failed | ActionStatus::TimeOut)
            || action.failed_count() > 0
            || action.commands.iter().any(|c| {
                self.exit_code(&ResultKey::new(action.id.clone(), c.index))
                    .is_some_and(|code| code.code() != Some(0))
            })
    }

    /// Not known to have failed, but with a script result whose exit code is not fetched.
    fn exit_code_unknown(&self, action: &MachineAction) -> bool {
        action.commands.iter().any(|c| {
            c.has_result()
                && c.command.command_type == crate::api::models::CommandType::RunScript
                && self
                    .exit_code(&ResultKey::new(action.id.clone(), c.index))
                    .is_none()
        })
    }

    /// Recomputes the visible rows, keeping the selected action selected.
    pub fn refilter(&mut self) {
        let keep = self.selected().map(|a| a.id.clone());
        let needle = self.filter.to_lowercase();
        let text_match = |action: &MachineAction| {
            needle.is_empty()
                || [
                    action.status.as_str(),
                    &action.computer_dns_name,
                    &action.requestor,
                    &action.requestor_comment,
                    &action.id,
                ]
                .iter()
                .any(|field| field.to_lowercase().contains(&needle))
                || action
                    .commands
                    .iter()
                    .any(|c| c.target().to_lowercase().contains(&needle))
        };
        let mut visible = Vec::new();
        let mut unknown = Vec::new();
        for (i, action) in self.actions.iter().enumerate() {
            if !text_match(action) {
                continue;
            }
            if !self.failed_only || self.is_failed_or_nonzero(action) {
                visible.push(i);
            } else if self.exit_code_unknown(action) {
                unknown.push(i);
            }
        }
        self.exit_unknown = unknown;
        let actions = &self.actions;
        match self.sort {
            SortKey::Created => visible.sort_by(|a, b| {
                actions[*b]
                    .creation_date_time_utc
                    .cmp(&actions[*a].creation_date_time_utc)
            }),
            SortKey::Machine => visible.sort_by(|a, b| {
                actions[*a]
                    .computer_dns_name
                    .cmp(&actions[*b].computer_dns_name)
            }),
            SortKey::Status => {
                visible.sort_by(|a, b| actions[*a].status.as_str().cmp(actions[*b].status.as_str()))
            }
            SortKey::Requestor => {
                visible.sort_by(|a, b| actions[*a].requestor.cmp(&actions[*b].requestor))
            }
        }
        self.visible = visible;
        self.selected_action = keep
            .and_then(|id| self.visible.iter().position(|&i| self.actions[i].id == id))
            .unwrap_or(0)
            .min(self.visible.len().saturating_sub(1));
    }

    pub(super) fn toast(&mut self, text: impl Into<String>) {
        self.toast = Some((text.into(), self.now));
    }

    pub fn update(&mut self, message: Message) -> Vec<Effect> {
        match message {
            Message::Key(key) => self.on_key(key),
            Message::Resize => Vec::new(),
            Message::Mouse(mouse) => self.on_mouse(mouse),
            Message::Tick => self.on_tick(),
            Message::Fetch(event) => self.on_fetch(event),
            Message::ActionsLoaded { result, append } => self.on_loaded(result, append),
            Message::ActionsRefreshed(results) => {
                for result in results {
                    match result {
                        Ok(updated) => {
                            if let Some(slot) = self.actions.iter_mut().find(|a| a.id == updated.id)
                            {
                                *slot = updated;
                            }
                        }
                        Err(error) => self.toast(format!("refresh failed: {error}")),
                    }
                }
                self.refilter();
                // The refresh spent calls: the meter on screen says so now, not at a tick.
                vec![Effect::RefreshMeter]
            }
            Message::Decoded(key, document) => {
                self.documents.insert(key.clone(), document);
                if self.failed_only {
                    self.refilter();
                }
                if self.selected_key() == Some(key) {
                    self.refresh_search();
                }
                Vec::new()
            }
            Message::Digested(key, digest) => {
                if let Some(review) = self.review.as_mut().filter(|r| r.wants(&key)) {
                    review.add(key.clone(), digest.clone());
                }
                self.digests.insert(key, digest);
                Vec::new()
            }
            Message::Notice(text) => {
                self.toast(text);
                Vec::new()
            }
            Message::DevicePrompt { uri, code } => {
                self.device_prompt = Some((uri, code));
                Vec::new()
            }
            Message::DeviceDone(result) => {
                self.device_prompt = None;
                match result {
                    Ok(()) => {
                        self.toast("signed in; reloading");
                        vec![self.load(false)]
                    }
                    Err(error) => {
                        self.toast(error);
                        Vec::new()
                    }
                }
            }
            Message::Clipboard(text) => self.copy_raw_text(text),
            Message::Redraw => {
                self.sync_search();
                Vec::new()
            }
            Message::Quit => {
                self.quit = true;
                Vec::new()
            }
        }
    }

    fn on_loaded(
        &mut self,
        result: Result<Vec<MachineAction>, String>,
        append: bool,
    ) -> Vec<Effect> {
        self.loading = false;
        match result {
            Ok(actions) => {
                self.more_available = actions.len() >= self.settings.page_size;
                if append {
                    let known: std::collections::HashSet<String> =
                        self.actions.iter().map(|a| a.id.clone()).collect();
                    self.actions
                        .extend(actions.into_iter().filter(|a| !known.contains(&a.id)));
                } else {
                    self.actions = actions;
                }
                self.last_refresh = Some(self.now);
                self.last_auto_refresh = Some(self.now);
                self.load_error = None;
                self.refilter();
            }
            Err(error) => {
                self.load_error = Some(error.clone());
                self.toast(error);
            }
        }
        // The load spent a call: the meter on screen says so now, not at a tick.
        vec![Effect::RefreshMeter]
    }

    fn on_fetch(&mut self, event: FetchEvent) -> Vec<Effect> {
        match event {
            FetchEvent::Meter(snapshot, stats) => {
                self.meter = snapshot;
                self.queue = stats;
                Vec::new()
            }
            FetchEvent::State(key, state) => {
                let mut effects = Vec::new();
                if let ResultState::Ready(fetched) = &state
                    && !self.documents.contains_key(&key)
                {
                    let command = self
                        .actions
                        .iter()
                        .find(|a| a.id == key.action_id)
                        .and_then(|a| a.commands.iter().find(|c| c.index == key.index));
                    effects.push(Effect::Decode {
                        key: key.clone(),
                        fetched: Arc::clone(fetched),
                        kind: crate::results::PayloadKind::of(command, fetched),
                    });
                }
                if let ResultState::Failed(reason) = &state
                    && self.selected_key().as_ref() == Some(&key)
                {
                    self.toast(reason.clone());
                }
                if state == ResultState::Cancelled {
                    // Withdrawn before it started: as if never asked, so a revisit asks again.
                    self.results.remove(&key);
                } else {
                    self.results.insert(key, state);
                }
                effects
            }
        }
    }

    fn on_tick(&mut self) -> Vec<Effect> {
        let mut effects = vec![Effect::RefreshMeter];
        if self
            .toast
            .as_ref()
            .is_some_and(|(_, at)| self.now - *at > TOAST_LIFETIME)
        {
            self.toast = None;
        }
        let due = self
            .last_auto_refresh
            .is_none_or(|at| self.now - at >= self.settings.refresh_every);
        let active: Vec<String> = self
            .actions
            .iter()
            .filter(|a| !a.status.is_final())
            .take(10)
            .map(|a| a.id.clone())
            .collect();
        // Auto-refresh only while the budget has room beyond the analyst's reserve.
        if due
            && !active.is_empty()
            && self.meter.next_call_at.is_none()
            && self.meter.throttled_until.is_none()
        {
            self.last_auto_refresh = Some(self.now);
            effects.push(Effect::RefreshActions(active));
        }
        effects
    }

    /// When something on screen next changes by itself, so the loop sleeps until then and
    /// an idle lrx neither redraws nor reads the budget. Each second while a countdown,
    /// progress or wait shows; otherwise the moment a toast goes, an age in the list turns
    /// over, the meter's count drops or the next auto-refresh is due; `None`: never.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        let second = self.now + chrono::Duration::seconds(1);
        let countdown = self.selected().is_some_and(|action| {
            action.commands.iter().any(|c| {
                let key = ResultKey::new(action.id.clone(), c.index);
                matches!(
                    self.results.get(&key),
                    Some(
                        ResultState::WaitingForBudget { .. }
                            | ResultState::Downloading { .. }
                            | ResultState::RequestingLink
                            | ResultState::Queued
                    )
                ) || self.link_expiry(&key).is_some_and(|t| t > self.now)
            })
        });
        let waiting = self.meter.next_call_at.is_some()
            || self.meter.throttled_until.is_some()
            || self.queue.queued + self.queue.running > 0;
        if countdown || waiting {
            return Some(second);
        }
        let toast = self
            .toast
            .as_ref()
            .map(|(_, at)| *at + TOAST_LIFETIME + chrono::Duration::milliseconds(1));
        let meter = self
            .meter
            .windows
            .iter()
            .filter(|w| w.used > 0)
            .filter_map(|w| w.frees_at)
            .min();
        let refresh = self.actions.iter().any(|a| !a.status.is_final()).then(|| {
            self.last_auto_refresh
                .map_or(self.now, |at| at + self.settings.refresh_every)
        });
        [toast, meter, refresh, self.next_age_change()]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.max(self.now))
    }

    /// When the youngest age shown in the actions list ("12s ago", "5m ago") next changes.
    fn next_age_change(&self) -> Option<DateTime<Utc>> {
        if self.absolute_time || self.in_review() {
            return None;
        }
        let rows = self.page_rows.max(1);
        let youngest = self
            .visible
            .iter()
            .skip(self.actions_offset)
            .take(rows)
            .filter_map(|&i| self.actions.get(i)?.creation_date_time_utc)
            .max()?;
        let age = (self.now - youngest).num_seconds().max(0);
        let unit = match age {
            0..60 => 1,
            60..3600 => 60,
            3600..86_400 => 3600,
            _ => 86_400,
        };
        Some(youngest + chrono::Duration::seconds((age / unit + 1) * unit))
    }

    pub fn link_expiry(&self, key: &ResultKey) -> Option<DateTime<Utc>> {
        match self.results.get(key) {
            Some(ResultState::Ready(fetched)) => fetched.link_expires_at,
            _ => None,
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Vec::new();
        }
        match &self.prompt {
            Prompt::Filter => return self.edit_filter(key),
            Prompt::Search => return self.edit_search(key),
            Prompt::Goto(_) => {
                self.edit_goto(key);
                return Vec::new();
            }
            Prompt::Command(_) => return self.edit_command(key),
            Prompt::Help { scroll } => {
                self.scroll_help(*scroll, key);
                return Vec::new();
            }
            Prompt::None => {}
        }
        let context = if self.in_review() {
            Context::Review
        } else {
            self.focus.context()
        };
        let Some(action) = self.keymap.lookup(key, context) else {
            return Vec::new();
        };
        if self.in_review() {
            return self.on_review_action(action);
        }
        self.on_action(action)
    }

    /// The review screen is up (it stays alive while a transcript is opened from it).
    pub fn in_review(&self) -> bool {
        self.stage == Stage::Review
    }

    fn scroll_help(&mut self, scroll: usize, key: KeyEvent) {
        // The key rows and the Ctrl-C line below them.
        let last = self.keymap.help_rows().len();
        let page = self.page_rows.max(1);
        let scroll = match key.code {
            KeyCode::Esc | KeyCode::Char('?' | 'q') => {
                self.prompt = Prompt::None;
                return;
            }
            KeyCode::Down | KeyCode::Char('j') => scroll + 1,
            KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => scroll + page,
            KeyCode::PageUp => scroll.saturating_sub(page),
            KeyCode::Home | KeyCode::Char('g') => 0,
            KeyCode::End | KeyCode::Char('G') => last,
            _ => scroll,
        };
        self.prompt = Prompt::Help {
            scroll: scroll.min(last),
        };
    }

    fn edit_filter(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => {
                self.filter.clear();
                self.prompt = Prompt::None;
            }
            KeyCode::Enter => self.prompt = Prompt::None,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) => self.filter.push(c),
            _ => return Vec::new(),
        }
        self.refilter();
        Vec::new()
    }

    pub fn current_lines(&self) -> &[document::Line] {
        self.selected_key()
            .and_then(|key| self.documents.get(&key))
            .map_or(&[], |d| d.section(self.transcript.section))
    }

    pub(super) fn commands_len(&self) -> usize {
        self.selected().map_or(0, |a| a.commands.len())
    }

    pub(super) fn move_selection(&mut self, delta: isize) -> Vec<Effect> {
        let step = |current: usize, len: usize| -> usize {
            if len == 0 {
                return 0;
            }
            current.saturating_add_signed(delta).min(len - 1)
        };
        match self.focus {
            Pane::Actions => {
                let before = self.selected_action;
                let left = self.queued_results_of_selected();
                self.selected_action = step(self.selected_action, self.visible.len());
                let mut effects = Vec::new();
                if before != self.selected_action {
                    self.selected_command = 0;
                    self.transcript.scroll = 0;
                    if !left.is_empty() {
                        effects.push(Effect::Withdraw(left));
                    }
                }
                // Scrolling past the end loads older actions.
                if delta > 0
                    && before + 1 >= self.visible.len()
                    && self.more_available
                    && !self.loading
                {
                    effects.push(self.load(true));
                }
                effects
            }
            Pane::Commands => {
                self.selected_command = step(self.selected_command, self.commands_len());
                self.transcript = TranscriptView {
                    wrap: self.transcript.wrap,
                    line_numbers: self.transcript.line_numbers,
                    ..TranscriptView::default()
                };
                self.fetch_selected(false)
            }
            Pane::Transcript => {
                self.scroll_transcript_to(self.transcript.scroll.saturating_add_signed(delta));
                Vec::new()
            }
        }
    }

    /// Fetches the selected command's result at top priority and, with prefetch on, the
    /// action's other results behind it.
    pub(super) fn fetch_selected(&mut self, force: bool) -> Vec<Effect> {
        let Some(action) = self.selected() else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        let mut notice = None;
        if let Some(command) = action
            .commands
            .get(self.selected_command)
            .filter(|c| c.has_result())
        {
            let key = ResultKey::new(action.id.clone(), command.index);
            match self.results.get(&key) {
                // Already on disk: an expired link has nothing left to renew. Say so, rather
                // than spend a call or do nothing without a word.
                Some(ResultState::Ready(fetched)) if force => {
                    let source = if fetched.from_cache {
                        "from the cache"
                    } else {
                        "for this session"
                    };
                    let expired = fetched.link_expires_at.is_some_and(|t| t <= self.now);
                    notice = Some(if expired {
                        format!(
                            "already fetched and kept {source}; its link expired, but nothing needs it any more"
                        )
                    } else {
                        format!("already fetched and kept {source}")
                    });
                }
                Some(ResultState::Ready(_)) => {}
                _ => effects.push(Effect::Fetch(key, Priority::Interactive)),
            }
        }
        if self.settings.prefetch {
            for key in ResultKey::of_action(action) {
                if !self.results.contains_key(&key) {
                    effects.push(Effect::Fetch(key, Priority::Prefetch));
                }
            }
        }
        if let Some(notice) = notice {
            self.toast(notice);
        }
        effects
    }

    /// The selected action's results still waiting in the fetch queue.
    fn queued_results_of_selected(&self) -> Vec<ResultKey> {
        self.selected().map_or_else(Vec::new, |action| {
            ResultKey::of_action(action)
                .filter(|key| matches!(self.results.get(key), Some(ResultState::Queued)))
                .collect()
        })
    }

    pub(super) fn on_focus(&mut self) -> Vec<Effect> {
        match self.focus {
            Pane::Commands | Pane::Transcript => self.fetch_selected(false),
            Pane::Actions => Vec::new(),
        }
    }
}
