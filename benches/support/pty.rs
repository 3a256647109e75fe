//! A terminal of the benchmark's own: the program runs on a pseudo-terminal whose output is
//! read with a timestamp per chunk and replayed onto a small screen model, so a key's
//! latency is measured to the chunk that put the expected text on screen (tmux's capture is
//! polled, about ±5 ms; this is the kernel's delivery, well under a millisecond).

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};

/// What the terminal has written, with when each chunk arrived.
type Chunks = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

pub(crate) struct Pty {
    writer: File,
    child: Child,
    chunks: Chunks,
    screen: Screen,
    /// How many chunks `screen` has taken in.
    replayed: usize,
}

impl Pty {
    /// Starts `command` with a new pseudo-terminal of `rows` × `columns` as its standard
    /// input, output and error. Run it under `setsid` so it has no other terminal to find.
    pub(crate) fn spawn(mut command: Command, rows: u16, columns: u16) -> std::io::Result<Self> {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let name = ptsname(&master, Vec::new())?;
        tcsetwinsize(
            &master,
            Winsize {
                ws_row: rows,
                ws_col: columns,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )?;
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(std::ffi::OsStr::from_bytes(name.as_bytes()))?;
        command
            .stdin(slave.try_clone()?)
            .stdout(slave.try_clone()?)
            .stderr(slave);
        let child = command.spawn()?;
        drop(command);
        let writer = File::from(master);
        let mut reader = writer.try_clone()?;
        let chunks: Chunks = Arc::default();
        let sink = Arc::clone(&chunks);
        std::thread::spawn(move || {
            let mut buffer = vec![0; 1 << 16];
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                let at = Instant::now();
                sink.lock()
                    .expect("chunks")
                    .push((at, buffer[..read].to_vec()));
            }
        });
        Ok(Self {
            writer,
            child,
            chunks,
            screen: Screen::new(rows, columns),
            replayed: 0,
        })
    }

    /// Types `bytes` (all in one write, as a paste or a fast typist's burst arrives) and
    /// returns the instant just before.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> Instant {
        self.catch_up();
        let at = Instant::now();
        self.writer.write_all(bytes).expect("write to the terminal");
        at
    }

    /// When the screen first showed a row for which `wanted` holds, waiting at most
    /// `limit`; None if it never did.
    pub(crate) fn until(
        &mut self,
        wanted: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(at) = self.replay_until(&wanted) {
                return Some(at);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// `until` a row contains `needle`.
    pub(crate) fn until_shown(&mut self, needle: &str, limit: Duration) -> Option<Instant> {
        self.until(|row| row.contains(needle), limit)
    }

    /// The screen as far as it has been replayed, one string per row.
    pub(crate) fn rows(&mut self) -> Vec<String> {
        self.catch_up();
        self.screen.rows()
    }

    /// Takes in every chunk read so far.
    fn catch_up(&mut self) {
        let _ = self.replay_until(&|_: &str| false);
    }

    fn replay_until(&mut self, wanted: &dyn Fn(&str) -> bool) -> Option<Instant> {
        let chunks = self.chunks.lock().expect("chunks");
        while self.replayed < chunks.len() {
            let (at, bytes) = &chunks[self.replayed];
            self.replayed += 1;
            self.screen.feed(bytes);
            if self.screen.rows().iter().any(|row| wanted(row)) {
                return Some(*at);
            }
        }
        None
    }

    /// Sends `q` and waits a little for the program to end, then ends it.
    pub(crate) fn quit(mut self) {
        let _ = self.writer.write_all(b"q");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of a terminal's screen: printable characters where the cursor puts them, with
/// cursor moves and erases; styles and every other sequence are read and ignored.
struct Screen {
    cells: Vec<Vec<char>>,
    row: usize,
    column: usize,
    /// Bytes of a sequence or character split across chunks.
    pending: Vec<u8>,
}

impl Screen {
    fn new(rows: u16, columns: u16) -> Self {
        Self {
            cells: vec![vec![' '; usize::from(columns)]; usize::from(rows)],
            row: 0,
            column: 0,
            pending: Vec::new(),
        }
    }

    fn rows(&self) -> Vec<String> {
        self.cells.iter().map(|row| row.iter().collect()).collect()
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let input = std::mem::take(&mut self.pending);
        let mut at = 0;
        while at < input.len() {
            let Some(used) = self.step(&input[at..]) else {
                self.pending = input[at..].to_vec();
                return;
            };
            at += used;
        }
    }

    /// Takes in one character or sequence from the start of `input`: how many bytes it was,
    /// or None if `input` ends inside it.
    fn step(&mut self, input: &[u8]) -> Option<usize> {
        match input[0] {
            0x1b => self.escape(input),
            b'\r' => {
                self.column = 0;
                Some(1)
            }
            b'\n' => {
                self.row = (self.row + 1).min(self.cells.len() - 1);
                Some(1)
            }
            byte if byte < 0x20 => Some(1),
            byte => {
                let length = match byte {
                    0xf0.. => 4,
                    0xe0.. => 3,
                    0xc0.. => 2,
                    _ => 1,
                };
                let bytes = input.get(..length)?;
                let c = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|s| s.chars().next())
                    .unwrap_or('?');
                if let Some(cell) = self.cells[self.row].get_mut(self.column) {
                    *cell = c;
                }
                self.column += 1;
                Some(length)
            }
        }
    }

    fn escape(&mut self, input: &[u8]) -> Option<usize> {
        match *input.get(1)? {
            b'[' => {
                let end = input[2..].iter().position(|b| (0x40..=0x7e).contains(b))? + 2;
                let params = std::str::from_utf8(&input[2..end]).unwrap_or("");
                self.csi(params, input[end]);
                Some(end + 1)
            }
            b']' => {
                let end = input[2..]
                    .windows(2)
                    .position(|w| w[0] == 0x07 || w == b"\x1b\\")?
                    + 2;
                Some(end + if input[end] == 0x07 { 1 } else { 2 })
            }
            _ => Some(2),
        }
    }

    fn csi(&mut self, params: &str, command: u8) {
        let numbers: Vec<usize> = params
            .trim_start_matches('?')
            .split(';')
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        let first = numbers.first().copied().unwrap_or(0);
        let last_row = self.cells.len() - 1;
        match command {
            b'H' | b'f' => {
                self.row = first.max(1).min(last_row + 1) - 1;
                self.column = numbers.get(1).copied().unwrap_or(1).max(1) - 1;
            }
            b'G' => self.column = first.max(1) - 1,
            b'C' => self.column += first.max(1),
            b'D' => self.column = self.column.saturating_sub(first.max(1)),
            b'A' => self.row = self.row.saturating_sub(first.max(1)),
            b'B' => self.row = (self.row + first.max(1)).min(last_row),
            b'J' if first == 2 || first == 3 => {
                for row in &mut self.cells {
                    row.fill(' ');
                }
            }
            b'J' => {
                let column = self.column;
                for (number, row) in self.cells.iter_mut().enumerate().skip(self.row) {
                    let from = if number == self.row { column } else { 0 };
                    row.iter_mut().skip(from).for_each(|c| *c = ' ');
                }
            }
            b'K' => {
                let column = self.column;
                self.cells[self.row]
                    .iter_mut()
                    .skip(column)
                    .for_each(|c| *c = ' ');
            }
            _ => {}
        }
    }
}
