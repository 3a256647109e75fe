//! Lazy highlighting of one section at any size. Only the lines someone looks at (plus a
//! margin) are tokenised, in chunks, on a worker thread the viewer never waits for.
//!
//! Exactness comes from parse-state checkpoints: the state before every `CHECKPOINT_EVERY`th
//! line, each derived from the one before, so a chunk near a checkpoint is parsed exactly
//! from it. A jump far past the last checkpoint (`G` in a 100 MB transcript) would need
//! everything above parsed first, so that window is first highlighted *provisionally*, from a
//! fresh state a few lines above it (right for line-oriented output, nearly right for the
//! rest), while the worker sweeps checkpoints forward in the background and redoes the window
//! exactly when it gets there. Line-local syntaxes (the transcript one) need none of this:
//! every line is parsed from the initial state. A newer request cancels older work between
//! lines.
//!
//! The worker owns the parse state and shares nothing with whoever draws: what it tokenises
//! is *delivered* as chunks (the TUI turns them into messages) into a `Tokens` cache that the
//! asker owns, so drawing reads plain data and never takes a lock.

use std::collections::BTreeSet;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use super::highlight::{Kind, Meanings, Parser};
use super::line::Line;
use super::tokens::{CHUNK, TokenChunk, Tokens, Wanted};

/// Distance between parse-state checkpoints (a multiple of `CHUNK`).
const CHECKPOINT_EVERY: usize = 256;
/// Sections this short are highlighted completely where the document is built…
pub const EAGER_LINES: usize = 4_096;
/// …longer ones only as far as a first screen reaches, so building them stays quick.
const FIRST_SCREEN_LINES: usize = 2 * CHUNK;
/// A window this close past the last checkpoint is parsed exactly straight away.
const CATCH_UP: usize = 8_192;
/// Lines parsed above a provisional window so multi-line constructs can settle.
const WARM_UP: usize = 64;
/// An idle worker ends after this; the next request starts another from where it stopped.
const IDLE_EXIT: Duration = Duration::from_secs(30);
/// How often long parses look for a newer request.
const INTERRUPT_EVERY: usize = 64;

/// Where tokenised chunks go: called on the worker thread, once the chunks on screen are
/// ready and again for the margin and for exact redos.
pub type Deliver = Arc<dyn Fn(Vec<TokenChunk>) + Send + Sync>;

struct Request {
    wanted: Wanted,
    deliver: Deliver,
}

/// Tells long work that a newer request (or the end) has come.
trait Interrupt {
    fn interrupted(&mut self) -> bool;
}

struct Never;

impl Interrupt for Never {
    fn interrupted(&mut self) -> bool {
        false
    }
}

/// The parse state of one section, owned by whichever thread works on it.
struct Engine {
    kind: Kind,
    lines: Arc<[Line]>,
    /// The parser before lines 0, `CHECKPOINT_EVERY`, 2 × …, each derived from its predecessor.
    checkpoints: Vec<Parser>,
    /// Chunks delivered provisionally, to redo exactly once the sweep reaches them.
    provisional: BTreeSet<usize>,
    meanings: Meanings,
}

enum Parsed {
    Chunk(TokenChunk),
    /// Past the end of the section, or no syntax: nothing to deliver.
    Nothing,
    Interrupted,
}

impl Engine {
    fn frontier(&self) -> usize {
        (self.checkpoints.len() - 1) * CHECKPOINT_EVERY
    }

    /// Parses `from..to` without tokens, recording every checkpoint passed when `record`.
    /// False when interrupted.
    fn advance(
        &mut self,
        parser: &mut Parser,
        from: usize,
        to: usize,
        record: bool,
        interrupt: &mut dyn Interrupt,
    ) -> bool {
        for number in from..to {
            if (number - from) % INTERRUPT_EVERY == INTERRUPT_EVERY - 1 && interrupt.interrupted() {
                return false;
            }
            parser.line(&self.lines[number].text, None);
            if record
                && (number + 1).is_multiple_of(CHECKPOINT_EVERY)
                && (number + 1) / CHECKPOINT_EVERY == self.checkpoints.len()
            {
                self.checkpoints.push(parser.clone());
            }
        }
        true
    }

    /// Tokenises one chunk, exactly when a checkpoint is close enough, provisionally if not.
    fn chunk(&mut self, index: usize, interrupt: &mut dyn Interrupt) -> Parsed {
        let start = index * CHUNK;
        let end = (start + CHUNK).min(self.lines.len());
        if start >= end {
            return Parsed::Nothing;
        }
        let nearest = (start / CHECKPOINT_EVERY).min(self.checkpoints.len() - 1);
        let mut parser = self.checkpoints[nearest].clone();
        let from = nearest * CHECKPOINT_EVERY;
        let line_local = self.kind.is_line_local();
        let exact = line_local || start - from <= CATCH_UP;
        if line_local {
            // Every line after the first starts from the same state: no checkpoint or warm-up.
            if start > 0
                && let Some(primed) = Parser::primed(self.kind)
            {
                parser = primed;
            }
        } else if exact {
            if !self.advance(&mut parser, from, start, true, interrupt) {
                return Parsed::Interrupted;
            }
        } else {
            let Some(fresh) = Parser::new(self.kind) else {
                return Parsed::Nothing;
            };
            parser = fresh;
            let warm_from = start.saturating_sub(WARM_UP);
            if !self.advance(&mut parser, warm_from, start, false, interrupt) {
                return Parsed::Interrupted;
            }
        }
        let mut tokens = Vec::with_capacity(end - start);
        for number in start..end {
            if (number - start) % INTERRUPT_EVERY == INTERRUPT_EVERY - 1 && interrupt.interrupted()
            {
                return Parsed::Interrupted;
            }
            tokens.push(parser.line(&self.lines[number].text, Some(&mut self.meanings)));
        }
        if exact
            && !line_local
            && end.is_multiple_of(CHECKPOINT_EVERY)
            && end / CHECKPOINT_EVERY == self.checkpoints.len()
        {
            self.checkpoints.push(parser);
        }
        if exact {
            self.provisional.remove(&index);
        } else {
            self.provisional.insert(index);
        }
        Parsed::Chunk(TokenChunk {
            index,
            tokens: tokens.into(),
            exact,
        })
    }

    /// One more checkpoint past the frontier. False when there is nothing left to sweep.
    fn sweep_step(&mut self, interrupt: &mut dyn Interrupt) -> bool {
        let mut parser = self.checkpoints[self.checkpoints.len() - 1].clone();
        let from = self.frontier();
        let to = (from + CHECKPOINT_EVERY).min(self.lines.len());
        if from >= to || !to.is_multiple_of(CHECKPOINT_EVERY) {
            return false;
        }
        self.advance(&mut parser, from, to, true, interrupt);
        true
    }

    /// Works through one request: the chunks on screen delivered together, then the margin.
    /// False when a newer request interrupted it.
    fn serve(&mut self, wanted: &Wanted, deliver: &Deliver, inbox: &mut Inbox) -> bool {
        let mut ready = Vec::new();
        let mut completed = true;
        for (position, want) in wanted.chunks.iter().enumerate() {
            let reachable = want.index * CHUNK <= self.frontier() + CATCH_UP;
            // Parsing it provisionally again would change nothing: the sweep will redo it.
            if reachable || !want.provisional_held {
                match self.chunk(want.index, inbox) {
                    Parsed::Chunk(chunk) => ready.push(chunk),
                    Parsed::Nothing => {}
                    Parsed::Interrupted => {
                        completed = false;
                        break;
                    }
                }
            }
            if position + 1 == wanted.on_screen && !ready.is_empty() {
                deliver(std::mem::take(&mut ready));
            }
        }
        if !ready.is_empty() {
            deliver(ready);
        }
        completed
    }
}

struct Inbox {
    receiver: Receiver<Request>,
    next: Option<Request>,
    /// The chunks being worked on: asking for them again (every redraw does, until they
    /// arrive) must not restart the work, or a slow parse never reaches its next checkpoint.
    current: Option<Wanted>,
    closed: bool,
}

impl Interrupt for Inbox {
    fn interrupted(&mut self) -> bool {
        loop {
            match self.receiver.try_recv() {
                Ok(request)
                    if self.next.is_none() && self.current.as_ref() == Some(&request.wanted) => {}
                Ok(request) => self.next = Some(request),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.closed = true;
                    break;
                }
            }
        }
        self.closed || self.next.is_some()
    }
}

/// The worker, if one runs, or the parse state it left when it stopped.
struct Slot {
    sender: Option<Sender<Request>>,
    parked: Option<Engine>,
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    // Every update is one assignment: a panic elsewhere cannot leave the slot half-written.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

fn work(mut engine: Engine, mut inbox: Inbox, slot: &Weak<Mutex<Slot>>) {
    let mut deliver: Deliver = Arc::new(|_| {});
    loop {
        inbox.interrupted();
        if inbox.closed {
            return;
        }
        if let Some(request) = inbox.next.take() {
            deliver = request.deliver;
            inbox.current = Some(request.wanted.clone());
            if engine.serve(&request.wanted, &deliver, &mut inbox) {
                // Served: the same chunks asked for later (evicted meanwhile) are new work.
                inbox.current = None;
            }
            continue;
        }
        if let Some(&first) = engine.provisional.first() {
            // Sweep towards the provisional window, then redo it exactly.
            if first * CHUNK > engine.frontier() + CATCH_UP {
                if !engine.sweep_step(&mut inbox) {
                    // Nothing left to sweep: what was delivered stays as it is.
                    engine.provisional.clear();
                }
                continue;
            }
            match engine.chunk(first, &mut inbox) {
                Parsed::Chunk(chunk) => deliver(vec![chunk]),
                Parsed::Nothing => {
                    engine.provisional.remove(&first);
                }
                Parsed::Interrupted => {}
            }
            continue;
        }
        match inbox.receiver.recv_timeout(IDLE_EXIT) {
            Ok(request) => inbox.next = Some(request),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let Some(slot) = slot.upgrade() else {
                    return;
                };
                let mut slot = lock(&slot);
                // Requests are sent under this lock: one sent while the wait timed out is in
                // the channel now, and none can come once the sender is gone.
                if let Ok(request) = inbox.receiver.try_recv() {
                    inbox.next = Some(request);
                    continue;
                }
                slot.sender = None;
                slot.parked = Some(engine);
                return;
            }
        }
    }
}

/// Highlighting for one section. Cheap to clone; the worker ends when the last clone goes.
#[derive(Clone)]
pub struct SectionHighlighter {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    lines: usize,
    /// What was highlighted where the document was built: every `Tokens` starts from it.
    first: Arc<[TokenChunk]>,
    slot: Arc<Mutex<Slot>>,
}

impl std::fmt::Debug for SectionHighlighter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SectionHighlighter")
            .field("kind", &self.inner.kind)
            .field("lines", &self.inner.lines)
            .field("first_chunks", &self.inner.first.len())
            .finish_non_exhaustive()
    }
}

impl SectionHighlighter {
    /// Highlights a short section now, or a long one's first screen (so it is ready with the
    /// document), and the rest on request. None when the kind has no syntax.
    pub fn new(kind: Kind, lines: Arc<[Line]>) -> Option<Self> {
        let parser = Parser::new(kind)?;
        let total = lines.len();
        let mut engine = Engine {
            kind,
            lines,
            checkpoints: vec![parser],
            provisional: BTreeSet::new(),
            meanings: Meanings::default(),
        };
        let eager = if total <= EAGER_LINES {
            total
        } else {
            FIRST_SCREEN_LINES
        };
        let first: Vec<TokenChunk> = (0..eager.div_ceil(CHUNK))
            .filter_map(|index| match engine.chunk(index, &mut Never) {
                Parsed::Chunk(chunk) => Some(chunk),
                Parsed::Nothing | Parsed::Interrupted => None,
            })
            .collect();
        Some(Self {
            inner: Arc::new(Inner {
                kind,
                lines: total,
                first: first.into(),
                slot: Arc::new(Mutex::new(Slot {
                    sender: None,
                    parked: Some(engine),
                })),
            }),
        })
    }

    pub fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// What was highlighted where the document was built: where every `Tokens` starts.
    pub fn first_chunks(&self) -> &[TokenChunk] {
        &self.inner.first
    }

    /// How many lines the section has.
    pub fn lines(&self) -> usize {
        self.inner.lines
    }

    /// Asks for chunks to be tokenised; they go to `deliver` as they are ready. Supersedes
    /// earlier requests.
    pub fn request(&self, wanted: Wanted, deliver: Deliver) {
        if wanted.chunks.is_empty() {
            return;
        }
        let mut slot = lock(&self.inner.slot);
        let mut request = Request { wanted, deliver };
        if let Some(sender) = slot.sender.as_ref() {
            match sender.send(request) {
                Ok(()) => return,
                // The worker is gone (it panicked): its parse state went with it.
                Err(mpsc::SendError(returned)) => request = returned,
            }
        }
        let Some(engine) = slot.parked.take() else {
            tracing::warn!("highlighting stopped for this section: its worker ended");
            slot.sender = None;
            return;
        };
        let (sender, receiver) = mpsc::channel();
        if sender.send(request).is_err() {
            return;
        }
        let inbox = Inbox {
            receiver,
            next: None,
            current: None,
            closed: false,
        };
        let weak = Arc::downgrade(&self.inner.slot);
        let spawned = std::thread::Builder::new()
            .name("lrx-highlight".into())
            .spawn(move || work(engine, inbox, &weak));
        match spawned {
            Ok(_) => slot.sender = Some(sender),
            Err(error) => tracing::warn!("no highlighting thread: {error}"),
        }
    }
}

/// Requests these lines and takes deliveries into `tokens` until they are highlighted
/// exactly, as a viewer would (tests and benchmarks). False on timeout.
pub fn settle(
    highlighter: &SectionHighlighter,
    tokens: &mut Tokens,
    lines: &[usize],
    timeout: Duration,
) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    let (sender, receiver) = mpsc::channel();
    let sender = Mutex::new(sender);
    let deliver: Deliver = Arc::new(move |chunks| {
        let _ = sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(chunks);
    });
    loop {
        let wanted = tokens.wanted(lines, highlighter.lines());
        if wanted.chunks.is_empty() {
            return true;
        }
        highlighter.request(wanted, Arc::clone(&deliver));
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match receiver.recv_timeout(left) {
            Ok(chunks) => tokens.insert(chunks),
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::highlight::{LineTokens, Token, highlight_all};
    use crate::transcript::line::LineClass;

    fn lines(texts: impl Iterator<Item = String>) -> Arc<[Line]> {
        texts
            .map(|text| Line {
                text,
                class: LineClass::Normal,
            })
            .collect()
    }

    fn json_lines(records: usize) -> Arc<[Line]> {
        let mut text = vec!["[".to_string()];
        for i in 0..records {
            text.push("  {".into());
            text.push(format!("    \"Name\": \"svc{i}\","));
            text.push(format!("    \"Pid\": {i}"));
            text.push("  },".into());
        }
        text.push("]".into());
        lines(text.into_iter())
    }

    #[test]
    fn small_sections_are_highlighted_where_they_are_built() {
        let all = json_lines(100);
        let highlighter = SectionHighlighter::new(Kind::Json, Arc::clone(&all)).expect("syntax");
        let every: Vec<usize> = (0..all.len()).collect();
        let tokens = Tokens::from_chunks(highlighter.first_chunks());
        assert!(tokens.covers(&every, true));
        assert_eq!(tokens.wanted(&every, all.len()), Wanted::default());
        let expected = highlight_all(&all, Kind::Json).expect("syntax");
        let got: Vec<LineTokens> = tokens.window(&every).into_iter().flatten().collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn far_windows_end_up_exactly_as_a_full_pass_would_highlight_them() {
        let all = json_lines(3_500);
        let highlighter = SectionHighlighter::new(Kind::Json, Arc::clone(&all)).expect("syntax");
        let end: Vec<usize> = (all.len() - 50..all.len()).collect();
        let mut tokens = Tokens::from_chunks(highlighter.first_chunks());
        assert!(!tokens.covers(&end, false), "not highlighted up front");
        assert!(settle(
            &highlighter,
            &mut tokens,
            &end,
            Duration::from_secs(60)
        ));
        assert!(tokens.covers(&end, true), "settled is exact");
        let expected = highlight_all(&all, Kind::Json).expect("syntax");
        for (line, got) in end.iter().zip(tokens.window(&end)) {
            assert_eq!(got.as_ref(), Some(&expected[*line]), "line {line}");
        }
        // Keys inside an object are keys, which a parse from the middle could not know.
        assert!(
            expected[end[5]]
                .iter()
                .chain(&expected[end[6]])
                .any(|(_, _, token)| *token == Token::Key)
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let all: Arc<[Line]> = (0..(256 + 40) * CHUNK)
            .map(|i| Line {
                text: format!("line {i}"),
                class: LineClass::Normal,
            })
            .collect();
        let highlighter =
            SectionHighlighter::new(Kind::Transcript, Arc::clone(&all)).expect("syntax");
        let mut tokens = Tokens::from_chunks(highlighter.first_chunks());
        for start in (0..all.len()).step_by(CHUNK * 4) {
            let window: Vec<usize> = (start..(start + 10).min(all.len())).collect();
            assert!(settle(
                &highlighter,
                &mut tokens,
                &window,
                Duration::from_secs(60)
            ));
            tokens.touch(&window);
        }
        assert!(tokens.chunks_held() <= 256);
    }

    #[test]
    fn a_newer_request_replaces_an_older_one() {
        let all = lines((0..100_000).map(|i| format!("2026-11-20T12:00:00Z line {i}")));
        let highlighter =
            SectionHighlighter::new(Kind::Transcript, Arc::clone(&all)).expect("syntax");
        let mut tokens = Tokens::from_chunks(highlighter.first_chunks());
        let middle: Vec<usize> = (50_000..50_040).collect();
        highlighter.request(tokens.wanted(&middle, all.len()), Arc::new(|_| {}));
        let end: Vec<usize> = (99_960..100_000).collect();
        assert!(settle(
            &highlighter,
            &mut tokens,
            &end,
            Duration::from_secs(60)
        ));
        let window = tokens.window(&end);
        assert!(window.iter().all(|t| {
            t.as_ref()
                .is_some_and(|t| t.first().is_some_and(|(_, _, k)| *k == Token::Timestamp))
        }));
        let expected = highlight_all(&all, Kind::Transcript).expect("syntax");
        for (line, got) in end.iter().zip(window) {
            assert_eq!(got.as_ref(), Some(&expected[*line]), "line {line}");
        }
    }
}
