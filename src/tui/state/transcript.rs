//! How the open transcript is being read: section, scroll, wrap, numbers, search.

use super::search::Search;
use crate::transcript::document::Section;

#[derive(Debug, Clone)]
pub struct TranscriptView {
    pub section: Section,
    pub scroll: usize,
    pub hscroll: usize,
    pub wrap: bool,
    pub line_numbers: bool,
    pub fullscreen: bool,
    pub search: Search,
    /// Show only lines that match the search (`&`, as in less).
    pub only_matching: bool,
}

impl Default for TranscriptView {
    fn default() -> Self {
        Self {
            section: Section::Output,
            scroll: 0,
            hscroll: 0,
            wrap: false,
            line_numbers: false,
            fullscreen: false,
            search: Search::default(),
            only_matching: false,
        }
    }
}
