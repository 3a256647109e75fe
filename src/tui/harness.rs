//! The app without a terminal: its state, a `TestBackend` screen, and the background work
//! the screen asks for (highlighting, searching) run for real, its news taken in as the
//! event loop would take it. One harness for the tests, the benchmarks and the screenshots;
//! calls chain: `harness.key('j').press(KeyCode::Enter).assert_line(3, "…")`.
//!
//! Waiting is driven by messages: `settle` blocks on the next piece of news (bounded), never
//! on a fixed sleep.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::App;
use super::message::{Effect, Message};
use super::theme::Theme;
use super::view;
use super::work::{self, Sink};

pub struct Harness {
    pub app: App,
    pub terminal: Terminal<TestBackend>,
    pub theme: Theme,
    sink: Sink,
    news: Receiver<Message>,
    /// Effects the last message sent asked for that need the network, the disk or the
    /// terminal (loads, fetches, saves, copies), in order, with those of the background news
    /// taken in since: the caller looks at them or carries them out.
    effects: Vec<Effect>,
}

impl Harness {
    /// A harness on a screen of this size, drawn once.
    pub fn new(app: App, width: u16, height: u16, theme: Theme) -> Self {
        let (sender, news) = std::sync::mpsc::channel();
        let sink: Sink = Arc::new(move |message| {
            let _ = sender.send(message);
        });
        let terminal = match Terminal::new(TestBackend::new(width, height)) {
            Ok(terminal) => terminal,
            Err(never) => match never {},
        };
        let mut harness = Self {
            app,
            terminal,
            theme,
            sink,
            news,
            effects: Vec::new(),
        };
        harness.draw();
        harness
    }

    /// Where background work started by hand (outside `send`) should report.
    pub fn sink(&self) -> Sink {
        Arc::clone(&self.sink)
    }

    /// Lays out and draws a frame, starting the work the layout asks for.
    pub fn draw(&mut self) -> &mut Self {
        let Self {
            app,
            terminal,
            theme,
            sink,
            effects,
            ..
        } = self;
        let drawn = terminal.draw(|frame| {
            view::draw(frame, app, theme, &mut |effect| {
                if let Some(other) = work::start(effect, sink) {
                    effects.push(other);
                }
            });
        });
        if let Err(never) = drawn {
            match never {}
        }
        self
    }

    /// A screen of another size, drawn.
    pub fn resize(&mut self, width: u16, height: u16) -> &mut Self {
        self.terminal.backend_mut().resize(width, height);
        if let Err(never) = self.terminal.autoresize() {
            match never {}
        }
        self.draw()
    }

    fn run(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            if let Some(other) = work::start(effect, &self.sink) {
                self.effects.push(other);
            }
        }
    }

    /// Feeds the app a message, starts the background work it asks for, takes in the news
    /// that has arrived meanwhile (as the event loop does before it draws), and draws.
    pub fn send(&mut self, message: Message) -> &mut Self {
        self.effects.clear();
        self.apply(message);
        self.take_news()
    }

    /// A key with modifiers.
    pub fn chord(&mut self, code: KeyCode, modifiers: KeyModifiers) -> &mut Self {
        self.send(Message::Key(KeyEvent::new(code, modifiers)))
    }

    pub fn press(&mut self, code: KeyCode) -> &mut Self {
        self.chord(code, KeyModifiers::NONE)
    }

    /// A character key (`'j'`, `'G'`, `'/'`).
    pub fn key(&mut self, c: char) -> &mut Self {
        self.press(KeyCode::Char(c))
    }

    pub fn ctrl(&mut self, c: char) -> &mut Self {
        self.chord(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// Types text into whatever has the keyboard, one key at a time.
    pub fn type_text(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            self.key(c);
        }
        self
    }

    /// The effects of the last message sent (and of the news since), oldest first.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Takes in background news until `done` holds of the app, then draws; false if
    /// `timeout` passes first. As in the event loop, the news that has arrived is taken in
    /// together and drawn once, and `done` is asked before drawing.
    pub fn settle(&mut self, done: impl Fn(&App) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.app) {
                self.draw();
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.news.recv_timeout(left) {
                Ok(message) => {
                    self.apply(message);
                    while let Ok(more) = self.news.try_recv() {
                        self.apply(more);
                    }
                    if !done(&self.app) {
                        // The layout asks for what the news did not bring yet.
                        self.draw();
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    self.draw();
                    return done(&self.app);
                }
            }
        }
    }

    /// Takes in the news that has arrived, without waiting for more, and draws.
    pub fn take_news(&mut self) -> &mut Self {
        while let Ok(message) = self.news.try_recv() {
            self.apply(message);
        }
        self.draw()
    }

    /// Feeds the app one message and starts the background work it asks for; no drawing.
    fn apply(&mut self, message: Message) {
        let effects = self.app.update(message);
        self.run(effects);
    }

    /// The screen as text, one line per row.
    pub fn text(&self) -> String {
        let buffer = self.terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|row| self.line(row) + "\n")
            .collect()
    }

    /// One row of the screen.
    pub fn line(&self, row: u16) -> String {
        let buffer = self.terminal.backend().buffer();
        (0..buffer.area.width)
            .map(|column| buffer[(column, row)].symbol())
            .collect()
    }

    pub fn assert_line(&self, row: u16, needle: &str) -> &Self {
        let line = self.line(row);
        assert!(
            line.contains(needle),
            "row {row} lacks {needle:?}: {line:?}\n{}",
            self.text()
        );
        self
    }

    pub fn assert_shows(&self, needle: &str) -> &Self {
        let text = self.text();
        assert!(text.contains(needle), "screen lacks {needle:?}:\n{text}");
        self
    }

    pub fn assert_hides(&self, needle: &str) -> &Self {
        let text = self.text();
        assert!(!text.contains(needle), "screen shows {needle:?}:\n{text}");
        self
    }
}
