//! The application: one `App` owning every part of the state, and how messages change it. `update` is synchronous and never touches the
//! network: it returns `Effect`s, which the event loop turns into background work whose
//! results come back as `Message`s.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::input::{self, Context};
use super::message::{Effect, Exit, Message};
use super::state::browse::{Pane, PaneAreas, SortKey};
use super::state::dialogs::{Prompt, Stage};
use super::state::transcript::TranscriptView;
use crate::api::models::MachineAction;
use crate::fetch::{
    FetchEvent, ListEvent, ListRequest, MeterSnapshot, QueueStats, ResultKey, ResultState,
};

/// How long a toast stays up.
const TOAST_LIFETIME: chrono::Duration = chrono::Duration::seconds(6);

/// Settings the session starts with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub prefetch: bool,
    pub page_size: usize,
    /// How often Pending/InProgress actions are re-read.
    pub refresh_every: chrono::Duration,
    /// Colour the transcript's syntax (off without colour: the work would not show).
    pub highlight: bool,
    /// Neither start nor cancel sessions (a read-only profile, `--read-only`).
    pub read_only: bool,
    /// Who acts, for the comment a run or cancel starts from (`ana@jump01`).
    pub analyst: String,
    /// The case the comment names (`LRX_CASE`).
    pub case: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            prefetch: true,
            page_size: 300,
            refresh_every: chrono::Duration::seconds(10),
            highlight: true,
            read_only: false,
            analyst: "analyst".into(),
            case: None,
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
    pub actions: super::state::browse::Actions,
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
    /// The actions' searchable text, for `/`.
    pub filter_index: super::state::browse::FilterIndex,
    pub filter_memo: super::state::browse::FilterMemo,
    /// Under "failed or non-zero only": actions the filter would show whose exit codes are
    /// not fetched yet, so the analyst knows the list may be incomplete.
    pub exit_unknown: Vec<usize>,
    pub selected_action: usize,
    /// First visible row of the actions list (kept by the view so the selection shows).
    pub actions_offset: usize,
    pub selected_command: usize,
    pub focus: Pane,
    pub results: HashMap<ResultKey, ResultState>,
    pub documents: super::state::documents::Documents,
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
    pub review: Option<super::state::review::ReviewScreen>,
    pub digests: HashMap<ResultKey, crate::review::Digest>,
    /// Where `s` and `S` save (the directory lrx was started in).
    pub save_dir: std::path::PathBuf,
    pub exit: Exit,
    /// A device code sign-in in progress: the URL and the code to show. Not a prompt: the
    /// keys go on working while the analyst signs in elsewhere.
    pub device_prompt: Option<(String, String)>,
    /// The screen was handed to another program (the pager): repaint it all.
    pub needs_full_redraw: bool,
    /// Syntax tokens of the sections last shown, as the highlighting workers deliver them.
    pub highlights: super::state::transcript::Highlights,
    /// The run being started came from the review: its actions join the review.
    pub run_into_review: bool,
}

/// The most one list call returns (`$top` ≤ 10,000): the size of every page after the first.
pub(crate) const NEXT_PAGE: usize = 10_000;

impl App {
    pub fn new(label: String, cloud: String, settings: Settings, now: DateTime<Utc>) -> Self {
        Self {
            label,
            cloud,
            settings,
            now,
            local_offset: *chrono::Local::now().offset(),
            actions: super::state::browse::Actions::default(),
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
            filter_index: super::state::browse::FilterIndex::default(),
            filter_memo: super::state::browse::FilterMemo::default(),
            selected_action: 0,
            actions_offset: 0,
            selected_command: 0,
            focus: Pane::Actions,
            results: HashMap::new(),
            documents: super::state::documents::Documents::default(),
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
            highlights: super::state::transcript::Highlights::default(),
            run_into_review: false,
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

    pub(super) fn toast(&mut self, text: impl Into<String>) {
        self.toast = Some((text.into(), self.now));
    }

    /// Takes in one message. Whatever moved the selection off an action (a key, a click, a
    /// filter, a reload, the review), the prefetches still queued for it are taken back.
    pub fn update(&mut self, message: Message) -> Vec<Effect> {
        let before = self.selected().map(|action| action.id.clone());
        let queued = self.queued_results_of_selected();
        let mut effects = self.handle(message);
        if !queued.is_empty() && self.selected().map(|action| &action.id) != before.as_ref() {
            effects.push(Effect::Withdraw {
                keys: queued,
                at_most: crate::fetch::Priority::Prefetch,
            });
        }
        effects
    }

    fn handle(&mut self, message: Message) -> Vec<Effect> {
        match message {
            Message::Key(key) => self.on_key(key),
            Message::Paste(text) => self.paste(&text),
            Message::Resize => Vec::new(),
            Message::Mouse(mouse) => self.on_mouse(mouse),
            Message::Tick => self.on_tick(),
            Message::Fetch(event) => self.on_fetch(event),
            Message::Decoded(key, document) => {
                self.take_document(key.clone(), document);
                if self.failed_only {
                    self.refilter();
                }
                if self.selected_key() == Some(key) {
                    self.refresh_search()
                } else {
                    Vec::new()
                }
            }
            Message::Digested(key, digest) => {
                if let Some(review) = self.review.as_mut() {
                    if review.wants(&key) {
                        review.add(key.clone(), digest.clone());
                    } else if review.wants_baseline(&key) {
                        review.add_baseline(key.clone(), digest.clone());
                    }
                }
                self.digests.insert(key, digest);
                // The exit code is in the digest: "failed or non-zero only" may show more.
                if self.failed_only {
                    self.refilter();
                }
                Vec::new()
            }
            Message::Diffed { title, lines } => {
                if let Some(review) = self.review.as_mut() {
                    review.diff = Some(super::state::review::DiffView {
                        title,
                        lines,
                        scroll: 0,
                        wrap: false,
                    });
                }
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
            Message::Library(result) => {
                self.on_library(result);
                Vec::new()
            }
            Message::RunPrepared(result) => {
                self.on_run_prepared(result);
                Vec::new()
            }
            Message::RunStarted { line, action } => self.on_run_started(line, action),
            Message::RunDone => {
                self.on_run_done();
                Vec::new()
            }
            Message::CancelDone(result) => {
                self.on_cancel_done(result);
                Vec::new()
            }
            Message::Highlighted {
                key,
                section,
                document,
                chunks,
            } => {
                self.highlights.delivered(&key, section, &document, chunks);
                Vec::new()
            }
            Message::SearchFound { id, found } => {
                self.on_search_found(id, found);
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
                self.more_available = actions.len() >= self.page_limit(append);
                if append {
                    let known: std::collections::HashSet<String> =
                        self.actions.iter().map(|a| a.id.clone()).collect();
                    self.actions
                        .extend(actions.into_iter().filter(|a| !known.contains(&a.id)));
                } else {
                    *self.actions = actions;
                }
                self.last_refresh = Some(self.now);
                self.last_auto_refresh = Some(self.now);
                self.load_error = None;
                self.refilter();
                // The rest of the list comes in the background, page after page, while
                // the analyst works on what is shown.
                if self.more_available {
                    return vec![self.load(true)];
                }
            }
            Err(error) => {
                self.load_error = Some(error.clone());
                self.toast(error);
            }
        }
        // The engine sends the meter after the load: the call it spent shows at once.
        Vec::new()
    }

    fn on_refreshed(&mut self, results: Vec<Result<MachineAction, String>>) -> Vec<Effect> {
        let updated: Vec<MachineAction> = results.iter().flatten().cloned().collect();
        let effects = self.review_takes(&updated);
        for result in results {
            match result {
                Ok(updated) => {
                    if let Some(slot) = self.actions.iter_mut().find(|a| a.id == updated.id) {
                        *slot = updated;
                    } else {
                        // Started since the list was loaded: it joins the list.
                        self.actions.push(updated);
                    }
                }
                Err(error) => self.toast(format!("refresh failed: {error}")),
            }
        }
        self.refilter();
        effects
    }

    /// How often unfinished actions are re-read: every `refresh_every` while one of them is
    /// young, then less often, since a machine that has not picked a session up in minutes
    /// is offline and may queue it for hours.
    pub(crate) fn refresh_interval(&self) -> Option<chrono::Duration> {
        // The youngest unfinished action sets the pace; one without a creation time counts
        // as new. None when nothing is unfinished.
        let age = self
            .actions
            .iter()
            .filter(|a| !a.status.is_final())
            .map(|a| {
                a.creation_date_time_utc
                    .map_or(chrono::Duration::zero(), |t| self.now - t)
            })
            .min()?;
        let every = self.settings.refresh_every;
        Some(if age < chrono::Duration::minutes(5) {
            every
        } else if age < chrono::Duration::hours(1) {
            every * 3
        } else {
            every * 12
        })
    }

    fn on_fetch(&mut self, event: FetchEvent) -> Vec<Effect> {
        match event {
            FetchEvent::List(ListEvent::Loaded {
                result,
                append,
                problems,
            }) => {
                let effects = self.on_loaded(result, append);
                // Said after the list arrives, so the load's own status does not hide it.
                if let Some(first) = problems.first() {
                    let more = match problems.len() {
                        1 => String::new(),
                        n => format!(" (and {} more; see the log)", n - 1),
                    };
                    self.toast(format!("{first}{more}"));
                }
                effects
            }
            FetchEvent::List(ListEvent::Refreshed(results)) => self.on_refreshed(results),
            FetchEvent::Meter(snapshot, stats) => {
                self.meter = snapshot;
                self.queue = stats;
                Vec::new()
            }
            FetchEvent::State(key, state) => {
                let mut effects = Vec::new();
                match &state {
                    ResultState::Ready(fetched) => effects.extend(self.take_in(&key, fetched)),
                    ResultState::Verifying(fetched) => {
                        effects.extend(self.decode_while_checked(&key, fetched));
                    }
                    // Fetched again (its cached copy failed the check): what was decoded
                    // from that copy goes.
                    ResultState::RequestingLink
                    | ResultState::Downloading { .. }
                    | ResultState::NotCached
                    | ResultState::Failed(_) => self.documents.discard(&key),
                    _ => {}
                }
                if state == ResultState::NotCached
                    && let Some(review) = self.review.as_mut()
                {
                    review.not_cached.insert(key.clone());
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
        let Some(interval) = self.refresh_interval() else {
            return effects;
        };
        let due = self
            .last_auto_refresh
            .is_none_or(|at| self.now - at >= interval);
        // Auto-refresh only while the list API is not held by the service.
        let held =
            self.meter.others.iter().any(|o| {
                o.api == crate::api::limits::Api::ListActions && o.throttled_until.is_some()
            });
        if due && !held {
            self.last_auto_refresh = Some(self.now);
            let watched = self
                .actions
                .iter()
                .filter(|a| !a.status.is_final())
                .map(|a| a.id.clone())
                .collect();
            let query = crate::api::ListQuery {
                statuses: vec!["Pending".into(), "InProgress".into()],
                // Every unfinished one, however many: one left out would look finished and
                // cost a read of its own.
                limit: 0,
                ..self.query(0)
            };
            effects.push(Effect::List(ListRequest::Refresh { query, watched }));
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
            || self
                .meter
                .others
                .iter()
                .any(|o| o.throttled_until.is_some())
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
            .chain(self.meter.others.iter().map(|o| &o.window))
            .filter(|w| w.used > 0)
            .filter_map(|w| w.frees_at)
            .min();
        let refresh = self
            .refresh_interval()
            .map(|every| self.last_auto_refresh.map_or(self.now, |at| at + every));
        [toast, meter, refresh, self.next_age_change()]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.max(self.now))
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
            Prompt::Run(_) => return self.edit_run(key),
            Prompt::Cancel(_) => return self.edit_cancel(key),
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
}
