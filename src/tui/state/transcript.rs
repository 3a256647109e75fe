//! How the open transcript is being read: section, scroll, wrap, numbers, search.

use std::sync::{Arc, Weak};

use super::search::Search;
use crate::fetch::ResultKey;
use crate::transcript::document::{Document, Section};
use crate::transcript::highlighter::SectionHighlighter;
use crate::transcript::tokens::{TokenChunk, Tokens};

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

/// Sections (of a document) kept highlighted: going back to one keeps its colours.
const KEPT_SECTIONS: usize = 8;

/// The syntax tokens the app holds for the sections last shown, filled by `Highlighted`
/// messages and read by drawing: the highlighting workers share nothing with the screen.
#[derive(Debug, Default)]
pub struct Highlights {
    /// Most recently shown first.
    entries: Vec<HighlightEntry>,
}

#[derive(Debug)]
struct HighlightEntry {
    key: ResultKey,
    section: Section,
    /// The document the tokens are for: a key's preview and its whole document differ.
    document: Weak<Document>,
    tokens: Tokens,
}

impl HighlightEntry {
    fn is(&self, key: &ResultKey, section: Section, document: &Weak<Document>) -> bool {
        self.key == *key && self.section == section && self.document.ptr_eq(document)
    }
}

impl Highlights {
    /// The tokens held for a section of a document, if any.
    pub fn get(
        &self,
        key: &ResultKey,
        section: Section,
        document: &Arc<Document>,
    ) -> Option<&Tokens> {
        let document = Arc::downgrade(document);
        self.entries
            .iter()
            .find(|entry| entry.is(key, section, &document))
            .map(|entry| &entry.tokens)
    }

    /// The tokens for a section about to be shown, starting from what the document was built
    /// with; the section becomes the most recent.
    pub fn shown(
        &mut self,
        key: &ResultKey,
        section: Section,
        document: &Arc<Document>,
        highlighter: &SectionHighlighter,
    ) -> &mut Tokens {
        let weak = Arc::downgrade(document);
        let entry = match self.entries.iter().position(|e| e.is(key, section, &weak)) {
            Some(at) => self.entries.remove(at),
            None => HighlightEntry {
                key: key.clone(),
                section,
                document: weak,
                tokens: Tokens::from_chunks(highlighter.first_chunks()),
            },
        };
        self.entries.insert(0, entry);
        self.entries.truncate(KEPT_SECTIONS);
        &mut self.entries[0].tokens
    }

    /// Takes in chunks a worker delivered, for a section still held; late news of a document
    /// since replaced or a section long gone is dropped.
    pub fn delivered(
        &mut self,
        key: &ResultKey,
        section: Section,
        document: &Weak<Document>,
        chunks: Vec<TokenChunk>,
    ) {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|entry| entry.is(key, section, document))
        {
            entry.tokens.insert(chunks);
        }
    }
}
