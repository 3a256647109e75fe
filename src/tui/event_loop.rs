//! The event loop: one queue of messages (input, fetch events, background results, ticks),
//! state changes only here, a redraw when the queue is drained. It never awaits the network
//! itself: network work runs in tasks that report back as messages.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt as _};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event, KeyEventKind};
use tokio::sync::mpsc;

use super::app::App;
use super::message::{Effect, Message};
use super::theme::Theme;
use super::view;
use crate::api::MdeClient;
use crate::fetch::FetchEngine;
use crate::transcript::decode;

/// Shows text in a pager, giving the terminal away meanwhile.
pub type Pager<'a> = Box<dyn FnMut(&str) -> Result<(), String> + Send + 'a>;

/// What the loop needs from a session; borrowed so tests can drive it with their own.
pub struct Backends<'a> {
    pub client: Arc<MdeClient>,
    pub engine: FetchEngine,
    pub fetch_events: &'a mut mpsc::UnboundedReceiver<crate::fetch::FetchEvent>,
    /// Sets the clipboard (the real terminal writes OSC 52; tests record the text).
    pub clipboard: Box<dyn FnMut(&str) + Send + 'a>,
    /// Where and as whom the session signs in, for `:login`.
    pub connection: Option<crate::config::Connection>,
    /// Where runs, cancels, saves and copies are recorded.
    pub custody: Option<Arc<crate::custody::CustodyLog>>,
    /// Hands text to `$PAGER` with the terminal given back for the while (real terminal only).
    pub pager: Option<Pager<'a>>,
    /// What time it is: the wall clock, or one a test drives with tokio's paused time.
    pub clock: Clock,
    /// How many frames the loop drew, for tests that hold an idle UI to drawing nothing.
    pub draws: Arc<std::sync::atomic::AtomicU64>,
    /// Looks at the state after each round of updates, before the frame is drawn: how a test
    /// driving the real loop waits for what it needs (actions loaded, a transcript open)
    /// instead of sleeping.
    pub watch: Option<Watch<'a>>,
}

/// See `Backends::watch`.
pub type Watch<'a> = Box<dyn FnMut(&App) + Send + 'a>;

/// Tells the loop the time.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

/// The wall clock.
pub fn wall_clock() -> Clock {
    Arc::new(chrono::Utc::now)
}

fn execute(effect: Effect, backends: &mut Backends, messages: &mpsc::UnboundedSender<Message>) {
    let sink: super::work::Sink = {
        let messages = messages.clone();
        Arc::new(move |message| {
            let _ = messages.send(message);
        })
    };
    let Some(effect) = super::work::start(effect, &sink).and_then(|effect| {
        super::acting::start(effect, &backends.client, backends.custody.as_ref(), &sink)
    }) else {
        return;
    };
    match effect {
        Effect::List(request) => backends.engine.list(request),
        Effect::Fetch(key, priority) => backends.engine.fetch(key, priority),
        // Started by `work::start` above.
        Effect::Highlight { .. }
        | Effect::Search { .. }
        | Effect::Decode { .. }
        | Effect::Digest { .. }
        | Effect::Diff { .. }
        | Effect::LoadLibrary
        | Effect::PrepareRun { .. }
        | Effect::LaunchRun(_)
        | Effect::CancelAction { .. } => {}
        Effect::Withdraw { keys, at_most } => {
            for key in keys {
                backends.engine.withdraw(key, at_most);
            }
        }
        Effect::RefreshMeter => backends.engine.refresh_meter(),
        Effect::Activity(activity) => backends.engine.set_activity(activity),
        Effect::Save {
            source,
            target,
            kind,
            key,
        } => {
            let messages = messages.clone();
            let custody = backends.custody.clone();
            tokio::task::spawn_blocking(move || {
                let (notice, written) = super::save::save_hashed(&source, &target, kind);
                if let (Some(custody), Some((sha256, size))) = (custody, written) {
                    custody.note(crate::custody::Event::Save {
                        action_id: key.action_id,
                        index: key.index,
                        path: target.display().to_string(),
                        sha256,
                        size,
                        what: kind.label().to_string(),
                    });
                }
                let _ = messages.send(Message::Notice(notice));
            });
        }
        Effect::Custody(event) => {
            if let Some(custody) = backends.custody.clone() {
                tokio::task::spawn_blocking(move || custody.note(event));
            }
        }
        Effect::Copy(text) => (backends.clipboard)(&text),
        Effect::DeviceLogin => device_login(backends.connection.clone(), messages.clone()),
        Effect::Pager(text) => {
            let outcome = match backends.pager.as_mut() {
                Some(pager) => pager(&text),
                None => Err("no pager in this terminal".into()),
            };
            if let Err(error) = outcome {
                let _ = messages.send(Message::Notice(error));
            }
        }
        Effect::CopyRaw(path) => {
            let messages = messages.clone();
            tokio::task::spawn_blocking(move || {
                let message = match std::fs::read(&path) {
                    Ok(bytes) => Message::Clipboard(
                        decode::script_result(&bytes).visible_output().to_string(),
                    ),
                    Err(error) => Message::Notice(format!("could not read the result: {error}")),
                };
                let _ = messages.send(message);
            });
        }
    }
}

/// `:login`: a device code sign-in whose code the UI shows in a dialog; the refresh token
/// goes to the keyring, as with `lrx login --device-code`.
fn device_login(
    connection: Option<crate::config::Connection>,
    messages: mpsc::UnboundedSender<Message>,
) {
    use crate::config::Credential;
    let Some(connection) = connection else {
        let _ = messages.send(Message::DeviceDone(Err(
            "no connection to sign in to".into()
        )));
        return;
    };
    let client_id = match &connection.credential {
        Credential::DeviceCode { client_id }
        | Credential::ClientSecret { client_id, .. }
        | Credential::Certificate { client_id, .. } => client_id.clone(),
        Credential::Token(_) | Credential::AzureCli { .. } => {
            let _ = messages.send(Message::DeviceDone(Err(":login needs the app's client id: start lrx with --client-id (or LRX_CLIENT_ID) and --auth device-code".into())));
            return;
        }
    };
    let target = connection.sign_in_target(&client_id);
    tokio::spawn(async move {
        let outcome = async {
            let http = crate::session::http_client().map_err(|e| e.to_string())?;
            let prompts = messages.clone();
            let tokens = crate::config::secrets::KeyringRefreshTokens::of(&target);
            crate::api::device::device_sign_in(&http, &target, &tokens, move |prompt| {
                let _ = prompts.send(Message::DevicePrompt {
                    uri: prompt.verification_uri.clone(),
                    code: prompt.user_code.clone(),
                });
            })
            .await?;
            // Another user may have signed in before: their tokens must not serve this one.
            crate::config::secrets::forget_tokens(&target).map_err(|e| e.to_string())?;
            Ok(())
        }
        .await;
        let _ = messages.send(Message::DeviceDone(outcome));
    });
}

fn draw<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    theme: &Theme,
    backends: &mut Backends,
    messages: &mpsc::UnboundedSender<Message>,
) -> Result<(), B::Error> {
    backends
        .draws
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    terminal.draw(|frame| {
        view::draw(frame, app, theme, &mut |effect| {
            execute(effect, backends, messages);
        });
    })?;
    Ok(())
}

/// Enough for a pasted line; few enough that a stuck key still lets frames through.
const MAX_KEYS_PER_FRAME: usize = 256;

/// What a terminal event means to the app, if anything.
fn input(event: Event) -> Option<Message> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => Some(Message::Key(key)),
        Event::Paste(text) => Some(Message::Paste(text)),
        Event::Resize(_, _) => Some(Message::Resize),
        Event::Mouse(mouse) => Some(Message::Mouse(mouse)),
        _ => None,
    }
}

/// Runs until the user quits. `external` carries signals (SIGTERM) and test injections.
pub async fn run<B: Backend, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    theme: &Theme,
    mut backends: Backends<'_>,
    mut inputs: S,
    mut external: mpsc::UnboundedReceiver<Message>,
) -> Result<(), B::Error>
where
    S: Stream<Item = std::io::Result<Event>> + Unpin,
{
    let (messages_tx, mut messages) = mpsc::unbounded_channel();
    app.now = (backends.clock)();
    for effect in app.start() {
        execute(effect, &mut backends, &messages_tx);
    }
    let mut inputs_open = true;
    draw(terminal, app, theme, &mut backends, &messages_tx)?;
    while !app.quit {
        // Sleep until something on screen changes by itself; with nothing due, not at all.
        let wake = app.next_wake().map(|at| {
            let after = (at - app.now).to_std().unwrap_or_default();
            tokio::time::Instant::now() + after.max(Duration::from_millis(10))
        });
        let timer = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // Biased: the analyst's keys first, so a flood of fetch events never delays input.
        let message = tokio::select! {
            biased;
            event = inputs.next(), if inputs_open => {
                let Some(Ok(event)) = event else {
                    inputs_open = false;
                    continue;
                };
                let Some(message) = input(event) else { continue };
                message
            }
            Some(message) = external.recv() => message,
            Some(event) = backends.fetch_events.recv() => Message::Fetch(event),
            Some(message) = messages.recv() => message,
            () = timer => Message::Tick,
        };
        app.now = (backends.clock)();
        for effect in app.update(message) {
            execute(effect, &mut backends, &messages_tx);
        }
        // Keys already typed (a burst, text pasted without bracketing) are taken in before
        // the frame is drawn: one frame for the burst, not one per key.
        for _ in 0..MAX_KEYS_PER_FRAME {
            if !inputs_open || app.quit {
                break;
            }
            // Polled in this task's own context, never with a throwaway waker: crossterm's
            // stream keeps the first waker it is given until a key comes.
            let ready = tokio::select! {
                biased;
                event = inputs.next() => Some(event),
                () = std::future::ready(()) => None,
            };
            match ready {
                Some(Some(Ok(event))) => {
                    if let Some(message) = input(event) {
                        for effect in app.update(message) {
                            execute(effect, &mut backends, &messages_tx);
                        }
                    }
                }
                Some(Some(Err(_)) | None) => {
                    inputs_open = false;
                    break;
                }
                None => break,
            }
        }
        // Drain what is already queued before drawing once.
        while let Ok(event) = backends.fetch_events.try_recv() {
            for effect in app.update(Message::Fetch(event)) {
                execute(effect, &mut backends, &messages_tx);
            }
        }
        while let Ok(message) = messages.try_recv() {
            for effect in app.update(message) {
                execute(effect, &mut backends, &messages_tx);
            }
        }
        if let Some(watch) = backends.watch.as_mut() {
            watch(app);
        }
        if std::mem::take(&mut app.needs_full_redraw) {
            terminal.clear()?;
        }
        draw(terminal, app, theme, &mut backends, &messages_tx)?;
    }
    Ok(())
}
