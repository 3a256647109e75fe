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

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::highlight::{Kind, LineTokens, Meanings, Parser};
use super::line::Line;

/// Wakes whoever draws, when tokens for a requested window are ready.
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// Lines on screen, and whom to wake when they are highlighted.
type Request = (Vec<usize>, Notify);

/// Lines tokenised and cached together.
const CHUNK: usize = 128;
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
/// Chunks kept (32,768 lines); the least recently used go first.
const MAX_CHUNKS: usize = 256;
/// An idle worker ends after this; the next request starts another.
const IDLE_EXIT: Duration = Duration::from_secs(30);
/// How often long parses look for a newer request.
const INTERRUPT_EVERY: usize = 64;

struct Chunk {
    tokens: Arc<[LineTokens]>,
    exact: bool,
    used: u64,
}

struct Store {
    /// The parser before lines 0, `CHECKPOINT_EVERY`, 2 × …, each derived from its predecessor.
    checkpoints: Vec<Parser>,
    chunks: HashMap<usize, Chunk>,
    clock: u64,
}

impl Store {
    fn frontier(&self) -> usize {
        (self.checkpoints.len() - 1) * CHECKPOINT_EVERY
    }

    fn insert(&mut self, index: usize, tokens: Vec<LineTokens>, exact: bool) {
        self.clock += 1;
        self.chunks.insert(
            index,
            Chunk {
                tokens: tokens.into(),
                exact,
                used: self.clock,
            },
        );
        if self.chunks.len() > MAX_CHUNKS
            && let Some(oldest) = self
                .chunks
                .iter()
                .min_by_key(|(_, chunk)| chunk.used)
                .map(|(index, _)| *index)
        {
            self.chunks.remove(&oldest);
        }
    }

    fn provisional(&self) -> Vec<usize> {
        let mut indexes: Vec<usize> = self
            .chunks
            .iter()
            .filter(|(_, chunk)| !chunk.exact)
            .map(|(index, _)| *index)
            .collect();
        indexes.sort_unstable();
        indexes
    }
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

struct Engine {
    kind: Kind,
    lines: Arc<[Line]>,
    store: Arc<Mutex<Store>>,
    meanings: Meanings,
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    // A panic elsewhere cannot leave the store half-written: every update is one insert.
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    /// Parses `from..to` without tokens, recording every checkpoint passed when `record`.
    fn advance(
        &self,
        parser: &mut Parser,
        from: usize,
        to: usize,
        record: bool,
        interrupt: &mut dyn Interrupt,
    ) -> bool {
        let mut found = Vec::new();
        let mut completed = true;
        for number in from..to {
            if (number - from) % INTERRUPT_EVERY == INTERRUPT_EVERY - 1 && interrupt.interrupted() {
                completed = false;
                break;
            }
            parser.line(&self.lines[number].text, None);
            if record && (number + 1).is_multiple_of(CHECKPOINT_EVERY) {
                found.push((number + 1, parser.clone()));
            }
        }
        if !found.is_empty() {
            let mut store = lock(&self.store);
            for (line, state) in found {
                if line / CHECKPOINT_EVERY == store.checkpoints.len() {
                    store.checkpoints.push(state);
                }
            }
        }
        completed
    }

    /// Tokenises one chunk, exactly when a checkpoint is close enough, provisionally if not.
    /// False when interrupted.
    fn chunk(&mut self, index: usize, interrupt: &mut dyn Interrupt) -> bool {
        let start = index * CHUNK;
        let end = (start + CHUNK).min(self.lines.len());
        if start >= end {
            return true;
        }
        let (mut parser, from) = {
            let store = lock(&self.store);
            let nearest = (start / CHECKPOINT_EVERY).min(store.checkpoints.len() - 1);
            (
                store.checkpoints[nearest].clone(),
                nearest * CHECKPOINT_EVERY,
            )
        };
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
                return false;
            }
        } else {
            let Some(fresh) = Parser::new(self.kind) else {
                return true;
            };
            parser = fresh;
            let warm_from = start.saturating_sub(WARM_UP);
            if !self.advance(&mut parser, warm_from, start, false, interrupt) {
                return false;
            }
        }
        let mut tokens = Vec::with_capacity(end - start);
        for number in start..end {
            if (number - start) % INTERRUPT_EVERY == INTERRUPT_EVERY - 1 && interrupt.interrupted()
            {
                return false;
            }
            tokens.push(parser.line(&self.lines[number].text, Some(&mut self.meanings)));
        }
        let mut store = lock(&self.store);
        if exact
            && !line_local
            && end.is_multiple_of(CHECKPOINT_EVERY)
            && end / CHECKPOINT_EVERY == store.checkpoints.len()
        {
            store.checkpoints.push(parser);
        }
        store.insert(index, tokens, exact);
        true
    }

    /// One more checkpoint past the frontier. False when there is nothing left to sweep.
    fn sweep_step(&self, interrupt: &mut dyn Interrupt) -> bool {
        let (mut parser, from) = {
            let store = lock(&self.store);
            let last = store.checkpoints.len() - 1;
            (store.checkpoints[last].clone(), store.frontier())
        };
        let to = (from + CHECKPOINT_EVERY).min(self.lines.len());
        if from >= to || !to.is_multiple_of(CHECKPOINT_EVERY) {
            return false;
        }
        self.advance(&mut parser, from, to, true, interrupt);
        true
    }
}

/// Chunks to tokenise for a window: those on screen first, then one above and two below; and
/// how many are on screen.
fn wanted_chunks(lines: &[usize], total: usize) -> (Vec<usize>, usize) {
    let mut chunks: Vec<usize> = Vec::new();
    for line in lines {
        let chunk = line / CHUNK;
        if !chunks.contains(&chunk) {
            chunks.push(chunk);
        }
    }
    let on_screen = chunks.len();
    let last_chunk = total.saturating_sub(1) / CHUNK;
    if let (Some(&first), Some(&last)) = (chunks.first(), chunks.last()) {
        for margin in [first.checked_sub(1), Some(last + 1), Some(last + 2)]
            .into_iter()
            .flatten()
        {
            if margin <= last_chunk && !chunks.contains(&margin) {
                chunks.push(margin);
            }
        }
    }
    (chunks, on_screen)
}

struct Inbox {
    receiver: Receiver<Request>,
    next: Option<Request>,
    /// The lines being worked on: asking for them again (every redraw does, until they are
    /// ready) must not restart the work, or a slow parse never reaches its next checkpoint.
    current: Option<Vec<usize>>,
    closed: bool,
}

impl Interrupt for Inbox {
    fn interrupted(&mut self) -> bool {
        loop {
            match self.receiver.try_recv() {
                Ok(request) if self.next.is_none() && self.current.as_ref() == Some(&request.0) => {
                }
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

fn work(mut engine: Engine, mut inbox: Inbox) {
    let mut notify: Notify = Arc::new(|| {});
    loop {
        inbox.interrupted();
        if inbox.closed {
            return;
        }
        if let Some((request, notify_now)) = inbox.next.take() {
            notify = notify_now;
            inbox.current = Some(request.clone());
            let (wanted, on_screen) = wanted_chunks(&request, engine.lines.len());
            let mut changed = false;
            for (position, index) in wanted.iter().enumerate() {
                let (cached, exact_reachable) = {
                    let store = lock(&engine.store);
                    (
                        store.chunks.get(index).map(|chunk| chunk.exact),
                        index * CHUNK <= store.frontier() + CATCH_UP,
                    )
                };
                let needed = match cached {
                    None => true,
                    Some(exact) => !exact && exact_reachable,
                };
                if needed && !engine.chunk(*index, &mut inbox) {
                    break;
                }
                changed |= needed;
                if changed && position + 1 == on_screen {
                    notify();
                }
            }
            continue;
        }
        let provisional = lock(&engine.store).provisional();
        if let Some(&first) = provisional.first() {
            // Sweep towards the provisional window, then redo it exactly.
            let frontier = lock(&engine.store).frontier();
            if first * CHUNK > frontier + CATCH_UP {
                if !engine.sweep_step(&mut inbox) {
                    // Nothing left to sweep (the end is not on a checkpoint): settle as is.
                    let mut store = lock(&engine.store);
                    for chunk in store.chunks.values_mut() {
                        chunk.exact = true;
                    }
                }
                continue;
            }
            if engine.chunk(first, &mut inbox) {
                notify();
            }
            continue;
        }
        match inbox.receiver.recv_timeout(IDLE_EXIT) {
            Ok(request) => inbox.next = Some(request),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
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
    lines: Arc<[Line]>,
    store: Arc<Mutex<Store>>,
    worker: Mutex<Option<Sender<Request>>>,
}

impl std::fmt::Debug for SectionHighlighter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = lock(&self.inner.store);
        f.debug_struct("SectionHighlighter")
            .field("kind", &self.inner.kind)
            .field("lines", &self.inner.lines.len())
            .field("checkpoints", &store.checkpoints.len())
            .field("chunks", &store.chunks.len())
            .finish()
    }
}

/// What the store holds for some lines: tokens where known, and whether all of them are
/// there and exact.
pub struct Window {
    pub tokens: Vec<Option<LineTokens>>,
    pub complete: bool,
}

impl SectionHighlighter {
    /// Highlights a short section now, or a long one's first screen (so it is ready with the
    /// document), and the rest on request. None when the kind has no syntax.
    pub fn new(kind: Kind, lines: Arc<[Line]>) -> Option<Self> {
        let parser = Parser::new(kind)?;
        let store = Arc::new(Mutex::new(Store {
            checkpoints: vec![parser],
            chunks: HashMap::new(),
            clock: 0,
        }));
        let mut engine = Engine {
            kind,
            lines: Arc::clone(&lines),
            store: Arc::clone(&store),
            meanings: Meanings::default(),
        };
        let eager = if lines.len() <= EAGER_LINES {
            lines.len()
        } else {
            FIRST_SCREEN_LINES
        };
        for index in 0..eager.div_ceil(CHUNK) {
            engine.chunk(index, &mut Never);
        }
        Some(Self {
            inner: Arc::new(Inner {
                kind,
                lines,
                store,
                worker: Mutex::new(None),
            }),
        })
    }

    pub fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// Tokens for these lines as far as they are known; never waits.
    pub fn window(&self, lines: &[usize]) -> Window {
        let mut store = lock(&self.inner.store);
        store.clock += 1;
        let clock = store.clock;
        let mut complete = true;
        let tokens = lines
            .iter()
            .map(|line| {
                let Some(chunk) = store.chunks.get_mut(&(line / CHUNK)) else {
                    complete = false;
                    return None;
                };
                chunk.used = clock;
                complete &= chunk.exact;
                chunk.tokens.get(line % CHUNK).cloned()
            })
            .collect();
        Window { tokens, complete }
    }

    /// Whether these lines are highlighted exactly already: the check `window` makes, without
    /// copying their tokens (the layout asks it every frame, before the frame is drawn).
    pub fn is_complete(&self, lines: &[usize]) -> bool {
        let store = lock(&self.inner.store);
        lines.iter().all(|line| {
            store
                .chunks
                .get(&(line / CHUNK))
                .is_some_and(|chunk| chunk.exact)
        })
    }

    /// Asks for these lines (and a margin) to be highlighted; `notify` runs when the ones on
    /// screen are ready. Supersedes earlier requests.
    pub fn request(&self, lines: &[usize], notify: &Notify) {
        if lines.is_empty() {
            return;
        }
        let mut worker = self
            .inner
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = worker.as_ref()
            && sender.send((lines.to_vec(), Arc::clone(notify))).is_ok()
        {
            return;
        }
        let (sender, receiver) = mpsc::channel();
        if sender.send((lines.to_vec(), Arc::clone(notify))).is_err() {
            return;
        }
        let engine = Engine {
            kind: self.inner.kind,
            lines: Arc::clone(&self.inner.lines),
            store: Arc::clone(&self.inner.store),
            meanings: Meanings::default(),
        };
        let inbox = Inbox {
            receiver,
            next: None,
            current: None,
            closed: false,
        };
        let spawned = std::thread::Builder::new()
            .name("lrx-highlight".into())
            .spawn(move || work(engine, inbox));
        match spawned {
            Ok(_) => *worker = Some(sender),
            Err(error) => tracing::warn!("no highlighting thread: {error}"),
        }
    }

    /// Requests these lines and waits until they are highlighted exactly (screenshots,
    /// tests, benchmarks). False on timeout.
    pub fn settle(&self, lines: &[usize], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let notify: Notify = Arc::new(|| {});
        self.request(lines, &notify);
        loop {
            if self.window(lines).complete {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::highlight::{Token, highlight_all};
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
        let window = highlighter.window(&every);
        assert!(window.complete);
        let expected = highlight_all(&all, Kind::Json).expect("syntax");
        let got: Vec<LineTokens> = window.tokens.into_iter().flatten().collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn far_windows_end_up_exactly_as_a_full_pass_would_highlight_them() {
        let all = json_lines(3_500);
        let highlighter = SectionHighlighter::new(Kind::Json, Arc::clone(&all)).expect("syntax");
        let end: Vec<usize> = (all.len() - 50..all.len()).collect();
        assert!(
            !highlighter.window(&end).complete,
            "not highlighted up front"
        );
        assert!(!highlighter.is_complete(&end), "and the cheap check agrees");
        assert!(highlighter.settle(&end, Duration::from_secs(60)));
        assert!(highlighter.is_complete(&end), "settled is complete");
        let expected = highlight_all(&all, Kind::Json).expect("syntax");
        let window = highlighter.window(&end);
        for (line, tokens) in end.iter().zip(window.tokens) {
            assert_eq!(tokens.as_ref(), Some(&expected[*line]), "line {line}");
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
    fn a_newer_request_replaces_an_older_one() {
        let all = lines((0..100_000).map(|i| format!("2026-11-20T12:00:00Z line {i}")));
        let highlighter =
            SectionHighlighter::new(Kind::Transcript, Arc::clone(&all)).expect("syntax");
        let notify: Notify = Arc::new(|| {});
        let middle: Vec<usize> = (50_000..50_040).collect();
        highlighter.request(&middle, &notify);
        let end: Vec<usize> = (99_960..100_000).collect();
        assert!(highlighter.settle(&end, Duration::from_secs(60)));
        let window = highlighter.window(&end);
        assert!(window.tokens.iter().all(|t| {
            t.as_ref()
                .is_some_and(|t| t.first().is_some_and(|(_, _, k)| *k == Token::Timestamp))
        }));
        // The transcript syntax is line-local: far lines are exact without any sweep.
        assert!(lock(&highlighter.inner.store).checkpoints.len() == 1);
        let expected = highlight_all(&all, Kind::Transcript).expect("syntax");
        for (line, tokens) in end.iter().zip(window.tokens) {
            assert_eq!(tokens.as_ref(), Some(&expected[*line]), "line {line}");
        }
    }

    #[test]
    fn the_cache_stays_bounded() {
        let all = lines((0..(MAX_CHUNKS + 40) * CHUNK).map(|i| format!("line {i}")));
        let highlighter =
            SectionHighlighter::new(Kind::Transcript, Arc::clone(&all)).expect("syntax");
        for start in (0..all.len()).step_by(CHUNK * 4) {
            let window: Vec<usize> = (start..(start + 10).min(all.len())).collect();
            assert!(highlighter.settle(&window, Duration::from_secs(60)));
        }
        assert!(lock(&highlighter.inner.store).chunks.len() <= MAX_CHUNKS);
    }

    #[test]
    fn margins_follow_the_window() {
        assert_eq!(wanted_chunks(&[300, 301], 10_000), (vec![2, 1, 3, 4], 1));
        assert_eq!(wanted_chunks(&[0, 200], 300), (vec![0, 1, 2], 2));
    }
}
