//! The terminal UI: panes for machine actions, their commands and transcripts, with the
//! rate-limit meter and link countdowns. Only this layer knows about widgets.

pub mod app;
pub mod event_loop;
pub mod input;
pub mod review_screen;
pub mod screenshots;
pub mod svg;
pub mod terminal;
pub mod theme;
pub mod transcript_actions;
pub mod view;

use std::sync::Arc;

use crate::session::Session;

pub struct UiOptions {
    pub variant: theme::Variant,
    pub mouse: bool,
    pub prefetch: bool,
    pub keymap: input::KeyMap,
}

/// Opens the UI on a connected session and runs it until the analyst quits.
pub async fn run(mut session: Session, options: UiOptions) -> std::io::Result<()> {
    let theme = theme::Theme::from_env(options.variant);
    let settings = app::Settings {
        prefetch: options.prefetch,
        ..app::Settings::default()
    };
    let mut app = app::App::new(
        session.label.clone(),
        session.cloud.clone(),
        settings,
        chrono::Utc::now(),
    );
    app.keymap = options.keymap;
    let (signals_tx, signals) = tokio::sync::mpsc::unbounded_channel();
    #[cfg(unix)]
    {
        let signals_tx = signals_tx.clone();
        tokio::spawn(async move {
            if let Ok(mut terminate) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                terminate.recv().await;
                let _ = signals_tx.send(app::Message::Quit);
            }
        });
    }
    let _keep_sender = signals_tx;
    let mut guard = terminal::TerminalGuard::enter(options.mouse)?;
    let backends = event_loop::Backends {
        client: Arc::clone(&session.client),
        engine: session.engine.clone(),
        fetch_events: &mut session.events,
        clipboard: Box::new(|text: &str| {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(transcript_actions::osc52(text).as_bytes());
            let _ = out.flush();
        }),
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
    .await
}
