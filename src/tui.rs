//! The terminal UI: panes for machine actions, their commands and transcripts, with the
//! rate-limit meter and link countdowns. Only this layer knows about widgets.

pub mod acting;
pub mod app;
pub mod event_loop;
pub mod harness;
pub mod input;
pub mod layout;
pub mod message;
mod panes;

pub mod save;
pub mod state;
pub mod terminal;
pub mod theme;
mod update;
pub mod view;
mod widgets;
pub mod work;

use std::sync::Arc;

use crate::session::Session;

pub struct UiOptions {
    pub variant: theme::Variant,
    pub mouse: bool,
    pub prefetch: bool,
    pub keymap: input::KeyMap,
}

/// Opens a session for a profile (`None`: the one configured), for `:profile` switches.
pub type OpenSession = Box<
    dyn FnMut(Option<String>) -> crate::api::auth::BoxFuture<'static, Result<Session, String>>
        + Send,
>;

/// Runs the UI until the analyst quits, reopening the session when `:profile` switches it.
pub async fn run(
    session: Session,
    options: UiOptions,
    mut open: OpenSession,
) -> std::io::Result<()> {
    // Loading syntect's syntaxes takes ~100 ms: done while the first actions load, not when
    // the first transcript opens.
    std::thread::spawn(crate::transcript::highlight::warm_up);
    let mut guard = terminal::TerminalGuard::enter(options.mouse)?;
    let mut session = session;
    let mut notice: Option<String> = None;
    let mut resume: Option<Box<app::App>> = None;
    loop {
        let (exit, app) = run_session(
            &mut guard,
            &mut session,
            &options,
            notice.take(),
            resume.take(),
        )
        .await?;
        match exit {
            message::Exit::Quit => return Ok(()),
            message::Exit::SwitchProfile(name) => match open(Some(name.clone())).await {
                Ok(next) => {
                    session = next;
                    notice = Some(format!("switched to profile {name}"));
                }
                // Nothing changed: the analyst goes on where they were, marks and all.
                Err(error) => {
                    notice = Some(format!("could not switch to profile {name}: {error}"));
                    resume = Some(app);
                }
            },
        }
    }
}

async fn run_session(
    guard: &mut terminal::TerminalGuard,
    session: &mut Session,
    options: &UiOptions,
    notice: Option<String>,
    resume: Option<Box<app::App>>,
) -> std::io::Result<(message::Exit, Box<app::App>)> {
    let theme = theme::Theme::from_env(options.variant);
    let settings = app::Settings {
        prefetch: options.prefetch,
        highlight: theme.colored,
        ..app::Settings::default()
    };
    let mut app = resume.map_or_else(
        || {
            Box::new(app::App::new(
                session.label.clone(),
                session.cloud.clone(),
                settings,
                chrono::Utc::now(),
            ))
        },
        |mut app| {
            app.quit = false;
            app.exit = message::Exit::Quit;
            app
        },
    );
    app.keymap = options.keymap.clone();
    // Per session: a profile switched to may be read-only where the last was not.
    app.settings.read_only = session.read_only;
    app.settings.analyst = crate::team::shown_member(&crate::team::member_name(
        &crate::config::Paths::discover().state_dir,
    ));
    app.settings.case = std::env::var("LRX_CASE")
        .ok()
        .filter(|c| !c.trim().is_empty());
    if let Some(notice) = notice {
        let _ = app.update(message::Message::Notice(notice));
    }
    let (signals_tx, signals) = tokio::sync::mpsc::unbounded_channel();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // In raw mode Ctrl-C is a key, so these come only from outside (kill, a closed
        // SSH session): each quits through the loop, so the guard restores the terminal.
        for kind in [
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::interrupt(),
            SignalKind::quit(),
        ] {
            let signals_tx = signals_tx.clone();
            if let Ok(mut incoming) = signal(kind) {
                tokio::spawn(async move {
                    incoming.recv().await;
                    let _ = signals_tx.send(message::Message::Quit);
                });
            }
        }
    }
    let _keep_sender = signals_tx;
    let backends = event_loop::Backends {
        client: Arc::clone(&session.client),
        engine: session.engine.clone(),
        fetch_events: &mut session.events,
        clipboard: Box::new(|text: &str| {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(terminal::osc52(text).as_bytes());
            let _ = out.flush();
        }),
        connection: Some(session.connection.clone()),
        custody: Some(Arc::clone(&session.custody)),
        pager: Some(Box::new(terminal::page)),
        clock: event_loop::wall_clock(),
        draws: Arc::default(),
        watch: None,
    };
    let inputs = ratatui::crossterm::event::EventStream::new();
    event_loop::run(
        &mut guard.terminal,
        &mut app,
        &theme,
        backends,
        inputs,
        signals,
    )
    .await?;
    Ok((app.exit.clone(), app))
}
