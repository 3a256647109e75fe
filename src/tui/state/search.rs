//! What a transcript search holds: the query, its matches as far as they are found, the
//! current one.

use std::sync::Arc;

use crate::transcript::line::Line;
use crate::transcript::search::{Hit, Pattern, Scope, SearchId, StopOnDrop};

#[derive(Debug, Default, Clone)]
pub struct Search {
    pub query: String,
    /// The query is a regular expression rather than literal text.
    pub regex: bool,
    /// Matches in document order, as far as the search has got.
    pub hits: Vec<Hit>,
    pub current: usize,
    /// The background part of the search is still counting.
    pub counting: bool,
    /// Every line below this one has been searched.
    pub(crate) reached: usize,
    /// The lines this search looks at (fewer than all when it refines the previous one).
    pub(crate) scope: Scope,
    /// What this search is of, while the query is being typed, so the next character can
    /// refine it rather than start over.
    pub(crate) typed: Option<Typed>,
    /// Why the query cannot be searched (a regex that does not compile).
    pub error: Option<String>,
    /// The first line on screen when the search began: the first match from there is shown.
    pub origin: usize,
    /// A match from `origin` on is wanted but has not been found yet.
    pub(crate) jump_pending: bool,
    /// Which search the background news must be about to count.
    pub(crate) id: SearchId,
    /// Stops the background part when this search is replaced or cleared.
    pub(crate) stop: Option<Arc<StopOnDrop>>,
}

/// The text and pattern of the search being typed.
#[derive(Debug, Clone)]
pub(crate) struct Typed {
    pub(crate) lines: Arc<[Line]>,
    pub(crate) pattern: Pattern,
}

impl Search {
    /// A fresh prompt, remembering the literal/regex choice.
    pub fn prompt(regex: bool, origin: usize) -> Self {
        Self {
            regex,
            origin,
            ..Self::default()
        }
    }

    /// No search, remembering the literal/regex choice.
    pub fn cleared(regex: bool) -> Self {
        Self {
            regex,
            ..Self::default()
        }
    }

    /// How many distinct lines have a match above line `line`: its position when only
    /// matching lines are shown.
    pub fn matching_lines_before(&self, line: usize) -> usize {
        let before = &self.hits[..self.first_from(line)];
        before.windows(2).filter(|w| w[0].line != w[1].line).count()
            + usize::from(!before.is_empty())
    }

    /// Index of the first match on line `line` or after it.
    pub fn first_from(&self, line: usize) -> usize {
        self.hits.partition_point(|hit| hit.line < line)
    }
}
