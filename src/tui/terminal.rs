//! Entering and leaving the terminal's UI mode. The terminal is restored on every way out:
//! quit, SIGTERM, SIGHUP, SIGINT and SIGQUIT (the loop quits and the guard drops), and a
//! panic in any thread or task (the hook restores it, prints the message and ends the
//! process, since a UI without raw mode would keep drawing garbage).

use std::io::{Stdout, stdout};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

/// Whether mouse capture is on, so it can be restored after the pager.
static MOUSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

/// Undoes everything `enter` may have switched on; each step is harmless if it was off.
fn restore() {
    let _ = disable_raw_mode();
    if MOUSE.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = execute!(stdout(), ratatui::crossterm::event::DisableMouseCapture);
    }
    let _ = execute!(
        stdout(),
        ratatui::crossterm::event::DisableBracketedPaste,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

impl TerminalGuard {
    pub fn enter(mouse: bool) -> std::io::Result<Self> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
            eprintln!(
                "lrx: an internal error ended lrx; the terminal was restored and everything fetched so far stays in the cache. Please report it with the log file."
            );
            std::process::exit(101);
        }));
        enable_raw_mode()?;
        // Bracketed paste: pasted text arrives whole, into the prompt that is open, and is
        // never read as keys (a pasted "q" or "x" outside a prompt does nothing).
        execute!(
            stdout(),
            EnterAlternateScreen,
            ratatui::crossterm::event::EnableBracketedPaste
        )?;
        if mouse {
            execute!(stdout(), ratatui::crossterm::event::EnableMouseCapture)?;
            MOUSE.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
        Ok(Self { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal to `$PAGER` (default `less`) for `text`, then takes it back. The text
/// is already sanitised; it goes through a private temporary file, removed afterwards.
pub fn page(text: &str) -> Result<(), String> {
    use std::io::Write as _;
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less".into());
    // A fresh 0700 directory with an unguessable name: nobody can plant a link there.
    let dir = crate::files::PrivateTempDir::new()
        .map_err(|e| format!("could not make a private temporary directory: {e}"))?;
    let path = dir.path().join("output.txt");
    let mut file = crate::files::create_private_new(&path)
        .map_err(|e| format!("could not write the page: {e}"))?;
    file.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    drop(file);
    restore();
    let mut words = pager.split_whitespace();
    let status = match words.next() {
        Some(program) => std::process::Command::new(program)
            .args(words)
            .arg(&path)
            .status()
            .map_err(|e| format!("could not run {pager}: {e}")),
        None => Err("PAGER is empty".into()),
    };
    drop(dir);
    let _ = enable_raw_mode();
    let _ = execute!(
        stdout(),
        EnterAlternateScreen,
        ratatui::crossterm::event::EnableBracketedPaste
    );
    if MOUSE.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = execute!(stdout(), ratatui::crossterm::event::EnableMouseCapture);
    }
    status.map(|_| ())
}

/// The OSC 52 sequence that asks the terminal (even over SSH) to set the clipboard.
pub fn osc52(text: &str) -> String {
    use base64::Engine as _;
    format!(
        "\u{1b}]52;c;{}\u{7}",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}
