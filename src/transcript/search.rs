//! Searching a section: literal (smart case) or regex, with every match's byte range. A
//! search begins on the caller's thread for the first lines, so short documents are done at
//! once, and the rest (a `Rest`) runs wherever the caller puts it, reporting what it finds
//! as news: the first match can be shown while the count of a 100 MB transcript completes
//! in the background. Nothing is shared with the searcher but a stop flag.
//!
//! Typing refines: a literal needle that contains the previous one can only match lines the
//! previous needle matched, so the next search looks at those lines (as far as the previous
//! one got) and scans only what the previous one had not reached. A pasted needle on 100 MB
//! searches the whole text about once, not once per character.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::line::Line;

/// Lines searched before `start` returns (a few MB: about a millisecond for literal text)…
const FOREGROUND_LINES: usize = 20_000;
/// …or this long, whichever comes first (a regex can be a hundred times slower), looked at
/// every `FOREGROUND_CHECK` lines.
const FOREGROUND_TIME: Duration = Duration::from_millis(4);
const FOREGROUND_CHECK: usize = 256;
/// Lines the worker searches between looks at the cancel flag.
const BLOCK_LINES: usize = 8_192;
/// How often a long search reports a growing count.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub line: usize,
    /// Byte range in the line's display text.
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
pub enum Pattern {
    /// Smart case: case-insensitive unless the needle has an upper-case letter.
    Literal {
        needle: String,
        ignore_case: bool,
    },
    /// A non-ASCII needle without upper case: matched against each line lower-cased in full,
    /// with offsets mapped back (lower-casing can change a character's byte length).
    Folded {
        needle: String,
    },
    Regex(regex_lite::Regex),
}

impl Pattern {
    /// None for an empty query; an error (to show) for a regex that does not compile.
    pub fn new(query: &str, regex: bool) -> Result<Option<Self>, String> {
        if query.is_empty() {
            return Ok(None);
        }
        let ignore_case = !query.chars().any(char::is_uppercase);
        if ignore_case && !regex && !query.is_ascii() {
            return Ok(Some(Self::Folded {
                needle: query.to_lowercase(),
            }));
        }
        if regex {
            // regex-lite folds ASCII only; smart case still applies to the rest of the pattern.
            let source = query.to_string();
            let source = if ignore_case {
                format!("(?i){source}")
            } else {
                source
            };
            return regex_lite::Regex::new(&source)
                .map(|r| Some(Self::Regex(r)))
                .map_err(|e| e.to_string());
        }
        Ok(Some(Self::Literal {
            needle: if ignore_case {
                query.to_ascii_lowercase()
            } else {
                query.to_string()
            },
            ignore_case,
        }))
    }

    /// Every match of `self` lies in a line `previous` matches: a search for `self` need
    /// look only at the lines a search for `previous` found. Literal needles only, of one
    /// kind (ASCII and full lower-casing fold differently), the new one containing the old.
    pub fn narrows(&self, previous: &Pattern) -> bool {
        match (self, previous) {
            (
                Self::Literal {
                    needle,
                    ignore_case,
                },
                Self::Literal {
                    needle: old,
                    ignore_case: old_ignores_case,
                },
            ) => {
                if *old_ignores_case {
                    needle.to_ascii_lowercase().contains(old.as_str())
                } else {
                    !ignore_case && needle.contains(old.as_str())
                }
            }
            (Self::Folded { needle }, Self::Folded { needle: old }) => {
                needle.contains(old.as_str())
            }
            _ => false,
        }
    }

    /// Adds the matches in `text` (line number `line`) to `hits`; `folded` is scratch space.
    fn find(&self, line: usize, text: &str, folded: &mut String, hits: &mut Vec<Hit>) {
        match self {
            Self::Folded { needle } => {
                folded.clear();
                let mut origins = Vec::with_capacity(text.len() + 1);
                for (at, c) in text.char_indices() {
                    for lower in c.to_lowercase() {
                        folded.push(lower);
                        origins.resize(folded.len(), at);
                    }
                }
                origins.push(text.len());
                let mut from = 0;
                while let Some(found) = folded[from..].find(needle.as_str()) {
                    let start = from + found;
                    let end = start + needle.len();
                    // The end maps to the start of the next original character.
                    let original_end = origins[end..]
                        .iter()
                        .copied()
                        .find(|o| *o > origins[end - 1])
                        .unwrap_or(text.len());
                    hits.push(Hit {
                        line,
                        start: origins[start],
                        end: original_end,
                    });
                    from = end;
                }
            }
            Self::Literal {
                needle,
                ignore_case,
            } => {
                let haystack = if *ignore_case {
                    // ASCII lower-casing keeps every byte offset.
                    folded.clear();
                    folded.push_str(text);
                    folded.make_ascii_lowercase();
                    folded.as_str()
                } else {
                    text
                };
                let mut from = 0;
                while let Some(at) = haystack[from..].find(needle.as_str()) {
                    let start = from + at;
                    hits.push(Hit {
                        line,
                        start,
                        end: start + needle.len(),
                    });
                    from = start + needle.len().max(1);
                }
            }
            Self::Regex(regex) => {
                for found in regex.find_iter(text) {
                    // An empty match highlights nothing and would make n/N stand still.
                    if found.end() > found.start() {
                        hits.push(Hit {
                            line,
                            start: found.start(),
                            end: found.end(),
                        });
                    }
                }
            }
        }
    }
}

/// Every match in `lines`, in order (short texts and tests).
pub fn find_all(lines: &[Line], pattern: &Pattern) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut folded = String::new();
    for (number, line) in lines.iter().enumerate() {
        pattern.find(number, &line.text, &mut folded, &mut hits);
    }
    hits
}

/// The lines a search looks at, in order: `candidates` (ascending, all below `scan_from`),
/// then every line from `scan_from` on. A fresh search scans everything; a refined one
/// looks at the previous search's matching lines first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    candidates: Arc<[usize]>,
    scan_from: usize,
}

impl Scope {
    /// How many lines of a text of `lines` lines this scope looks at.
    fn len(&self, lines: usize) -> usize {
        self.candidates.len() + lines.saturating_sub(self.scan_from)
    }

    /// The line looked at in position `position`.
    fn line_at(&self, position: usize) -> usize {
        match self.candidates.get(position) {
            Some(line) => *line,
            None => self.scan_from + position - self.candidates.len(),
        }
    }

    /// Where a search standing at `position` has got: every line below is decided.
    fn reached(&self, position: usize, lines: usize) -> usize {
        if position >= self.len(lines) {
            lines
        } else {
            self.line_at(position)
        }
    }

    /// The scope of a narrower search, given the matches this scope's search found on every
    /// line below `reached`: the lines they are on, then what this scope had yet to look at.
    #[must_use]
    pub fn narrowed(&self, hits: &[Hit], reached: usize) -> Scope {
        let mut candidates: Vec<usize> = Vec::new();
        for hit in hits.iter().take_while(|hit| hit.line < reached) {
            if candidates.last() != Some(&hit.line) {
                candidates.push(hit.line);
            }
        }
        let still_to_look_at = self.candidates.iter().copied().filter(|l| *l >= reached);
        candidates.extend(still_to_look_at);
        Scope {
            candidates: candidates.into(),
            scan_from: self.scan_from.max(reached),
        }
    }

    /// How many lines this scope looks at in a text of `lines` lines (for tests and
    /// benchmarks: how much a refinement saved).
    pub fn lines_to_look_at(&self, lines: usize) -> usize {
        self.len(lines)
    }
}

/// Which search news is about: news of a search since replaced is ignored.
pub type SearchId = u64;

/// A fresh id, never given out before in this process.
pub fn next_id() -> SearchId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Matches found since the last news, how far the search has got, and whether it has
/// finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// Every line below this one has been searched.
    pub reached: usize,
    pub done: bool,
}

/// Stops the rest of a search when dropped: whoever holds it wants the answer.
#[derive(Debug)]
pub struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The part of a search the first look did not reach, to run off the caller's thread.
#[derive(Clone)]
pub struct Rest {
    lines: Arc<[Line]>,
    scope: Scope,
    /// The position in `scope` to go on from.
    from: usize,
    pattern: Pattern,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("from", &self.from)
            .field("of", &self.lines.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Rest {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.lines, &other.lines)
            && Arc::ptr_eq(&self.stop, &other.stop)
            && self.from == other.from
    }
}

/// The start of a search: the matches in the first lines, how far it got, and what is
/// left, if anything, with the guard that stops it.
pub struct Begun {
    pub hits: Vec<Hit>,
    /// Every line below this one has been searched.
    pub reached: usize,
    pub rest: Option<(Rest, StopOnDrop)>,
}

/// Searches the first lines of `scope` now (bounded in lines and time) and leaves the rest.
pub fn begin(lines: Arc<[Line]>, pattern: Pattern, scope: Scope) -> Begun {
    let mut hits = Vec::new();
    let mut folded = String::new();
    let started = Instant::now();
    let total = scope.len(lines.len());
    let mut foreground = 0;
    while foreground < total.min(FOREGROUND_LINES) {
        if foreground % FOREGROUND_CHECK == FOREGROUND_CHECK - 1
            && started.elapsed() >= FOREGROUND_TIME
        {
            break;
        }
        let line = scope.line_at(foreground);
        pattern.find(line, &lines[line].text, &mut folded, &mut hits);
        foreground += 1;
    }
    let reached = scope.reached(foreground, lines.len());
    let rest = (foreground < total).then(|| {
        let stop = Arc::new(AtomicBool::new(false));
        (
            Rest {
                lines,
                scope,
                from: foreground,
                pattern,
                stop: Arc::clone(&stop),
            },
            StopOnDrop(stop),
        )
    });
    Begun {
        hits,
        reached,
        rest,
    }
}

impl Rest {
    /// Searches the rest on this thread, reporting the first match as soon as it is found,
    /// how far it has got every `PROGRESS_EVERY` (so typing on can refine from there), and
    /// the end. Silent once stopped.
    pub fn run(&self, report: &dyn Fn(Found)) {
        let mut folded = String::new();
        let mut reported = Instant::now();
        let mut pending = Vec::new();
        let mut first = true;
        let total = self.scope.len(self.lines.len());
        let mut block_start = self.from;
        while block_start < total {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let block_end = (block_start + BLOCK_LINES).min(total);
            for position in block_start..block_end {
                let line = self.scope.line_at(position);
                self.pattern
                    .find(line, &self.lines[line].text, &mut folded, &mut pending);
            }
            block_start = block_end;
            let first_match = first && !pending.is_empty();
            if block_start < total && (first_match || reported.elapsed() >= PROGRESS_EVERY) {
                first = first && pending.is_empty();
                reported = Instant::now();
                report(Found {
                    hits: std::mem::take(&mut pending),
                    reached: self.scope.reached(block_start, self.lines.len()),
                    done: false,
                });
            }
        }
        if !self.stop.load(Ordering::Relaxed) {
            report(Found {
                hits: pending,
                reached: self.lines.len(),
                done: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::line::LineClass;

    fn lines(texts: &[&str]) -> Vec<Line> {
        texts
            .iter()
            .map(|t| Line {
                text: (*t).into(),
                class: LineClass::Normal,
            })
            .collect()
    }

    fn spans(hits: &[Hit]) -> Vec<(usize, usize, usize)> {
        hits.iter().map(|h| (h.line, h.start, h.end)).collect()
    }

    #[test]
    fn literal_search_is_smart_case() {
        let text = lines(&["Alpha beta", "alpha ALPHA"]);
        let lower = Pattern::new("alpha", false).expect("ok").expect("some");
        assert_eq!(
            spans(&find_all(&text, &lower)),
            vec![(0, 0, 5), (1, 0, 5), (1, 6, 11)]
        );
        let upper = Pattern::new("ALPHA", false).expect("ok").expect("some");
        assert_eq!(spans(&find_all(&text, &upper)), vec![(1, 6, 11)]);
        assert!(Pattern::new("", false).expect("ok").is_none());
    }

    #[test]
    fn offsets_stay_right_around_letters_that_change_length_when_lowered() {
        // 'İ' lower-cases to two characters: a lowered copy would shift every offset after it.
        let text = lines(&["İİ error here", "ÉTÉ été"]);
        let pattern = Pattern::new("error", false).expect("ok").expect("some");
        let hits = find_all(&text, &pattern);
        assert_eq!(&text[0].text[hits[0].start..hits[0].end], "error");
        let accented = Pattern::new("été", false).expect("ok").expect("some");
        let hits = find_all(&text, &accented);
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert_eq!(&text[1].text[hits[1].start..hits[1].end], "été");
    }

    #[test]
    fn regex_search_and_its_mistakes() {
        let text = lines(&["10.0.0.1 and 192.168.1.20", "none"]);
        let pattern = Pattern::new(r"\d+\.\d+\.\d+\.\d+", true)
            .expect("ok")
            .expect("some");
        assert_eq!(
            spans(&find_all(&text, &pattern)),
            vec![(0, 0, 8), (0, 13, 25)]
        );
        assert!(Pattern::new("(unclosed", true).is_err());
        // Empty matches are not hits.
        let empty = Pattern::new("x*", true).expect("ok").expect("some");
        assert!(find_all(&text, &empty).is_empty());
    }

    #[test]
    fn long_searches_finish_in_the_background_with_every_match() {
        let many: Arc<[Line]> = (0..FOREGROUND_LINES * 3)
            .map(|i| Line {
                text: if i % 1000 == 999 {
                    format!("needle {i}")
                } else {
                    format!("hay {i}")
                },
                class: LineClass::Normal,
            })
            .collect();
        let pattern = Pattern::new("needle", false).expect("ok").expect("some");
        let begun = begin(Arc::clone(&many), pattern.clone(), Scope::default());
        let mut hits = begun.hits;
        let (rest, _guard) = begun.rest.expect("more than the first look covers");
        let news = std::sync::Mutex::new(Vec::new());
        rest.run(&|found| news.lock().expect("lock").push(found));
        let news = news.into_inner().expect("lock");
        assert!(news.len() >= 2, "the first match is news of its own");
        assert!(news.iter().rev().skip(1).all(|found| !found.done));
        assert!(news.last().is_some_and(|found| found.done));
        hits.extend(news.into_iter().flat_map(|found| found.hits));
        assert_eq!(hits, find_all(&many, &pattern));
        assert_eq!(hits.len(), FOREGROUND_LINES * 3 / 1000);
    }

    #[test]
    fn a_stopped_search_says_nothing_more() {
        let many: Arc<[Line]> = (0..FOREGROUND_LINES * 2)
            .map(|i| Line {
                text: format!("needle {i}"),
                class: LineClass::Normal,
            })
            .collect();
        let pattern = Pattern::new("needle", false).expect("ok").expect("some");
        let (rest, guard) = begin(many, pattern, Scope::default()).rest.expect("rest");
        drop(guard);
        let news = std::sync::Mutex::new(Vec::new());
        rest.run(&|found| news.lock().expect("lock").push(found));
        assert!(news.into_inner().expect("lock").is_empty());
    }

    #[test]
    fn only_a_literal_needle_that_contains_the_previous_one_narrows_it() {
        let pattern = |q: &str, regex: bool| Pattern::new(q, regex).expect("ok").expect("some");
        assert!(pattern("error 4", false).narrows(&pattern("error", false)));
        assert!(pattern("Error", false).narrows(&pattern("erro", false)));
        assert!(pattern("an error", false).narrows(&pattern("error", false)));
        assert!(pattern("été x", false).narrows(&pattern("été", false)));
        // Case-sensitive before, case-insensitive after: more lines may match.
        assert!(!pattern("errors", false).narrows(&pattern("Error", false)));
        assert!(!pattern("erro", false).narrows(&pattern("error", false)));
        assert!(!pattern("error.", true).narrows(&pattern("error", true)));
        // ASCII lower-casing and full lower-casing fold different letters (K, the Kelvin sign).
        assert!(!pattern("kbé", false).narrows(&pattern("kb", false)));
    }

    /// A search refined from a finished or a half-finished one finds exactly what a fresh
    /// search finds, looking at fewer lines.
    #[test]
    fn a_refined_search_finds_what_a_fresh_one_does() {
        let many: Arc<[Line]> = (0..FOREGROUND_LINES * 3)
            .map(|i| Line {
                text: match i % 7 {
                    0 => format!("error {i}"),
                    1 => format!("error 4 at {i}"),
                    _ => format!("fine {i}"),
                },
                class: LineClass::Normal,
            })
            .collect();
        let everything = |pattern: &Pattern, scope: Scope| {
            let begun = begin(Arc::clone(&many), pattern.clone(), scope);
            let mut hits = begun.hits;
            let mut reached = begun.reached;
            if let Some((rest, _guard)) = begun.rest {
                let news = std::sync::Mutex::new(Vec::new());
                rest.run(&|found| news.lock().expect("lock").push(found));
                for found in news.into_inner().expect("lock") {
                    assert!(found.reached >= reached, "progress only goes forward");
                    reached = found.reached;
                    hits.extend(found.hits);
                }
            }
            assert_eq!(reached, many.len());
            hits
        };
        let broad = Pattern::new("error", false).expect("ok").expect("some");
        let narrow = Pattern::new("error 4", false).expect("ok").expect("some");
        let fresh = find_all(&many, &narrow);
        assert!(!fresh.is_empty());

        let broad_hits = everything(&broad, Scope::default());
        let refined = Scope::default().narrowed(&broad_hits, many.len());
        assert_eq!(
            refined.lines_to_look_at(many.len()),
            many.len().div_ceil(7) * 2
        );
        assert_eq!(everything(&narrow, refined), fresh);

        // Only the first look of the broad search done: its matches so far, then the rest.
        let begun = begin(Arc::clone(&many), broad, Scope::default());
        assert!(begun.reached < many.len() && begun.rest.is_some());
        let half = Scope::default().narrowed(&begun.hits, begun.reached);
        assert!(half.lines_to_look_at(many.len()) < many.len());
        assert_eq!(everything(&narrow, half.clone()), fresh);
        // And refined once more from there.
        let narrower = Pattern::new("error 4 at 1", false)
            .expect("ok")
            .expect("some");
        let again = half.narrowed(&[], 0);
        assert_eq!(everything(&narrower, again), find_all(&many, &narrower));
    }
}
