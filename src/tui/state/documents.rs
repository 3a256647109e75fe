//! The decoded results kept for reading: a few, most recently used first. A review of
//! thousands of results keeps their digests, not their documents, so memory follows what
//! the analyst has opened, not what the sweep fetched.

use std::collections::HashMap;
use std::sync::Arc;

use crate::fetch::ResultKey;
use crate::transcript::document::Document;

/// How many documents stay decoded: enough to go back and forth between the runs being
/// compared without decoding again, few enough that huge outputs do not pile up.
pub const KEPT: usize = 8;

#[derive(Default)]
pub struct Documents {
    kept: HashMap<ResultKey, (Arc<Document>, u64)>,
    /// Decoded from a cached copy still being checked against its hash: shown only once
    /// the check passes, thrown away if it fails.
    unchecked: HashMap<ResultKey, Arc<Document>>,
    /// Being decoded while their copies are checked: not to be decoded twice.
    decoding: std::collections::HashSet<ResultKey>,
    /// A clock of uses: the entry with the smallest stamp goes first.
    uses: u64,
}

impl Documents {
    pub fn get(&self, key: &ResultKey) -> Option<&Arc<Document>> {
        self.kept.get(key).map(|(document, _)| document)
    }

    pub fn contains_key(&self, key: &ResultKey) -> bool {
        self.kept.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Keeps a document (a preview is replaced by the whole); the least recently used ones
    /// beyond `KEPT` are let go, never the one just kept.
    pub fn insert(&mut self, key: ResultKey, document: Arc<Document>) {
        self.uses += 1;
        let newest = self.uses;
        self.kept.insert(key, (document, newest));
        while self.kept.len() > KEPT {
            let oldest = self
                .kept
                .iter()
                .filter(|(_, (_, used))| *used != newest)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(oldest) => self.kept.remove(&oldest),
                None => break,
            };
        }
    }

    /// A decoding started while the payload is checked.
    pub fn decoding(&mut self, key: ResultKey) {
        self.decoding.insert(key);
    }

    pub fn is_decoding(&self, key: &ResultKey) -> bool {
        self.decoding.contains(key)
    }

    /// A document came from a decoding (the whole, or a huge one's preview).
    pub fn decoded(&mut self, key: &ResultKey, document: &Document) {
        if document.complete {
            self.decoding.remove(key);
        }
    }

    /// Holds a document decoded from a payload not yet verified.
    pub fn hold(&mut self, key: ResultKey, document: Arc<Document>) {
        self.unchecked.insert(key, document);
    }

    /// The payload passed its check: its held document (if decoded already) is kept;
    /// false when there was none.
    pub fn release(&mut self, key: &ResultKey) -> bool {
        match self.unchecked.remove(key) {
            Some(document) => {
                self.insert(key.clone(), document);
                true
            }
            None => false,
        }
    }

    /// The payload failed its check, or is being fetched again: what was decoded from it
    /// goes, held or kept.
    pub fn discard(&mut self, key: &ResultKey) {
        self.unchecked.remove(key);
        self.decoding.remove(key);
        self.kept.remove(key);
    }

    /// The analyst looked at it again: it goes last in line to be let go.
    pub fn touch(&mut self, key: &ResultKey) {
        self.uses += 1;
        if let Some((_, used)) = self.kept.get_mut(key) {
            *used = self.uses;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(text: &str) -> Arc<Document> {
        Arc::new(Document::from_script(
            text.as_bytes(),
            "00".repeat(32),
            false,
        ))
    }

    fn key(i: usize) -> ResultKey {
        ResultKey::new(format!("action-{i}"), 0)
    }

    #[test]
    fn the_least_recently_used_go_first_and_a_touched_one_stays() {
        let mut documents = Documents::default();
        for i in 0..KEPT {
            documents.insert(key(i), document("x"));
        }
        documents.touch(&key(0));
        documents.insert(key(KEPT), document("y"));
        assert_eq!(documents.len(), KEPT);
        assert!(documents.contains_key(&key(0)), "touched, so kept");
        assert!(
            !documents.contains_key(&key(1)),
            "the oldest untouched goes"
        );
        assert!(documents.contains_key(&key(KEPT)), "the newest stays");
    }

    #[test]
    fn a_document_of_an_unchecked_copy_shows_only_once_it_passes() {
        let mut documents = Documents::default();
        documents.hold(key(1), document("maybe tampered"));
        assert!(
            !documents.contains_key(&key(1)),
            "not shown while unchecked"
        );
        assert!(documents.release(&key(1)));
        assert!(documents.contains_key(&key(1)));
        documents.hold(key(2), document("tampered"));
        documents.discard(&key(2));
        assert!(
            !documents.release(&key(2)),
            "a failed check leaves nothing to show"
        );
        assert!(!documents.contains_key(&key(2)));
    }

    #[test]
    fn a_thousand_results_keep_only_a_few_documents() {
        let mut documents = Documents::default();
        for i in 0..1000 {
            documents.insert(key(i), document("output"));
        }
        assert_eq!(documents.len(), KEPT);
        assert!(documents.contains_key(&key(999)));
    }
}
