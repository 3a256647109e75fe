//! The tokens a viewer holds for a section, as the highlighting worker delivers them: plain
//! data the viewer owns and drawing reads without locks, bounded in size, and the list of
//! chunks still to ask for.

use std::collections::HashMap;
use std::sync::Arc;

use super::highlight::LineTokens;

/// Lines tokenised, delivered and cached together.
pub(crate) const CHUNK: usize = 128;
/// Chunks a `Tokens` cache keeps (32,768 lines); the least recently used go first.
const MAX_CHUNKS: usize = 256;

/// Tokens for `CHUNK` consecutive lines (fewer at the end), from line `index * CHUNK`.
#[derive(Clone)]
pub struct TokenChunk {
    pub index: usize,
    pub tokens: Arc<[LineTokens]>,
    /// False for a provisional parse (from a fresh state above a far window): an exact one
    /// replaces it when the background sweep gets there.
    pub exact: bool,
}

impl std::fmt::Debug for TokenChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenChunk")
            .field("index", &self.index)
            .field("lines", &self.tokens.len())
            .field("exact", &self.exact)
            .finish()
    }
}

/// A chunk the asker wants, and whether it holds a provisional version already (which only
/// an exact parse improves on, so the worker leaves it to the sweep until one is cheap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub index: usize,
    pub provisional_held: bool,
}

/// The chunks wanted for a window, those on screen first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wanted {
    pub chunks: Vec<Want>,
    /// How many of `chunks` are on screen: they are delivered together, before the margin.
    pub on_screen: usize,
}

struct Cached {
    tokens: Arc<[LineTokens]>,
    exact: bool,
    used: u64,
}

/// The tokens one viewer holds for a section: filled from the highlighter's first chunks and
/// from deliveries, read by drawing without locks, bounded by `MAX_CHUNKS`.
#[derive(Default)]
pub struct Tokens {
    chunks: HashMap<usize, Cached>,
    clock: u64,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// What the highlighter did where the document was built.
    pub fn from_chunks(chunks: &[TokenChunk]) -> Self {
        let mut tokens = Self::default();
        tokens.insert(chunks.iter().cloned());
        tokens
    }

    /// How many chunks are held.
    pub fn chunks_held(&self) -> usize {
        self.chunks.len()
    }

    /// Takes in delivered chunks; an exact chunk is never replaced by a provisional one.
    pub fn insert(&mut self, chunks: impl IntoIterator<Item = TokenChunk>) {
        for chunk in chunks {
            self.clock += 1;
            if self
                .chunks
                .get(&chunk.index)
                .is_some_and(|held| held.exact && !chunk.exact)
            {
                continue;
            }
            self.chunks.insert(
                chunk.index,
                Cached {
                    tokens: chunk.tokens,
                    exact: chunk.exact,
                    used: self.clock,
                },
            );
        }
        while self.chunks.len() > MAX_CHUNKS {
            let Some(oldest) = self
                .chunks
                .iter()
                .min_by_key(|(_, chunk)| chunk.used)
                .map(|(index, _)| *index)
            else {
                break;
            };
            self.chunks.remove(&oldest);
        }
    }

    /// Marks these lines' chunks as just used, so eviction takes others first.
    pub fn touch(&mut self, lines: &[usize]) {
        self.clock += 1;
        for line in lines {
            if let Some(chunk) = self.chunks.get_mut(&(line / CHUNK)) {
                chunk.used = self.clock;
            }
        }
    }

    /// Tokens for these lines as far as they are known.
    pub fn window(&self, lines: &[usize]) -> Vec<Option<LineTokens>> {
        lines
            .iter()
            .map(|line| {
                self.chunks
                    .get(&(line / CHUNK))
                    .and_then(|chunk| chunk.tokens.get(line % CHUNK).cloned())
            })
            .collect()
    }

    /// Whether these lines have tokens (`exact`: final ones).
    pub fn covers(&self, lines: &[usize], exact: bool) -> bool {
        lines.iter().all(|line| {
            self.chunks
                .get(&(line / CHUNK))
                .is_some_and(|chunk| chunk.exact || !exact)
        })
    }

    /// What to ask for so these lines (of `total`) get exact tokens, with a margin above and
    /// below; nothing when they have them.
    pub fn wanted(&self, lines: &[usize], total: usize) -> Wanted {
        if self.covers(lines, true) {
            return Wanted::default();
        }
        let (indexes, on_screen) = wanted_chunks(lines, total);
        let mut wanted = Wanted::default();
        for (position, index) in indexes.into_iter().enumerate() {
            let held = self.chunks.get(&index).map(|chunk| chunk.exact);
            if held != Some(true) {
                wanted.chunks.push(Want {
                    index,
                    provisional_held: held == Some(false),
                });
                if position < on_screen {
                    wanted.on_screen += 1;
                }
            }
        }
        wanted
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_asked_for_is_what_is_missing_screen_first() {
        let mut tokens = Tokens::default();
        let chunk = |index, exact| TokenChunk {
            index,
            tokens: vec![LineTokens::new(); CHUNK].into(),
            exact,
        };
        tokens.insert([chunk(2, true), chunk(3, false)]);
        let wanted = tokens.wanted(&[300, 301, 400], 10_000);
        assert_eq!(
            wanted,
            Wanted {
                chunks: vec![
                    Want {
                        index: 3,
                        provisional_held: true
                    },
                    Want {
                        index: 1,
                        provisional_held: false
                    },
                    Want {
                        index: 4,
                        provisional_held: false
                    },
                    Want {
                        index: 5,
                        provisional_held: false
                    },
                ],
                on_screen: 1,
            }
        );
        // An exact chunk stays when a provisional one for it comes late.
        tokens.insert([chunk(2, false)]);
        assert!(tokens.covers(&[300], true));
    }

    #[test]
    fn margins_follow_the_window() {
        assert_eq!(wanted_chunks(&[300, 301], 10_000), (vec![2, 1, 3, 4], 1));
        assert_eq!(wanted_chunks(&[0, 200], 300), (vec![0, 1, 2], 2));
    }
}
