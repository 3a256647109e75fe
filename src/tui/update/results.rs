//! What the app makes of a result once it is on disk: a document for what the analyst reads
//! (the selected action's results), only a digest for the rest (a review's thousands).

use std::sync::Arc;

use crate::fetch::{Fetched, ResultKey, ResultState};
use crate::results::PayloadKind;
use crate::tui::app::App;
use crate::tui::message::Effect;

impl App {
    /// A result is ready: decode what belongs to the action on screen, digest the rest.
    pub(crate) fn take_in(&mut self, key: &ResultKey, fetched: &Arc<Fetched>) -> Vec<Effect> {
        let on_screen = self.selected().is_some_and(|a| a.id == key.action_id);
        // Decoded while its cached copy was checked: it passed.
        let decoded_while_checked = self.documents.release(key);
        if on_screen {
            if decoded_while_checked
                || self.documents.contains_key(key)
                || self.documents.is_decoding(key)
            {
                return Vec::new();
            }
            return vec![self.decode(key, fetched)];
        }
        if self.digests.contains_key(key) {
            return Vec::new();
        }
        vec![Effect::Digest {
            key: key.clone(),
            fetched: Arc::clone(fetched),
            kind: self.payload_kind(key, fetched),
        }]
    }

    /// A large cached copy of what is on screen is being checked: decode it meanwhile (it
    /// is shown once the check passes), so that the hash and the decoding overlap.
    pub(crate) fn decode_while_checked(
        &mut self,
        key: &ResultKey,
        fetched: &Arc<Fetched>,
    ) -> Vec<Effect> {
        if self.selected_key().as_ref() != Some(key) || self.documents.contains_key(key) {
            return Vec::new();
        }
        self.documents.decoding(key.clone());
        vec![self.decode(key, fetched)]
    }

    /// A document arrived: kept, or held while its payload is checked.
    pub(crate) fn take_document(
        &mut self,
        key: ResultKey,
        document: Arc<crate::transcript::document::Document>,
    ) {
        self.documents.decoded(&key, &document);
        if matches!(self.results.get(&key), Some(ResultState::Verifying(_))) {
            self.documents.hold(key, document);
        } else {
            self.documents.insert(key, document);
        }
    }

    /// The selected result is on disk but not decoded (it was digested for a review, or let
    /// go for newer ones): decode it now; if it is decoded, it is the last to be let go.
    pub(crate) fn decode_selected(&mut self) -> Vec<Effect> {
        let Some(key) = self.selected_key() else {
            return Vec::new();
        };
        if self.documents.contains_key(&key) {
            self.documents.touch(&key);
            return Vec::new();
        }
        match self.results.get(&key) {
            Some(ResultState::Ready(fetched)) => vec![self.decode(&key, fetched)],
            _ => Vec::new(),
        }
    }

    fn decode(&self, key: &ResultKey, fetched: &Arc<Fetched>) -> Effect {
        Effect::Decode {
            key: key.clone(),
            fetched: Arc::clone(fetched),
            kind: self.payload_kind(key, fetched),
        }
    }

    pub(crate) fn payload_kind(&self, key: &ResultKey, fetched: &Fetched) -> PayloadKind {
        let command = self
            .actions
            .iter()
            .find(|a| a.id == key.action_id)
            .and_then(|a| a.commands.iter().find(|c| c.index == key.index));
        PayloadKind::of(command, fetched)
    }

    /// A run's exit code: from its digest (every fetched result has one), else from its
    /// document (a result decoded before its digest came).
    pub fn exit_code(&self, key: &ResultKey) -> Option<&crate::transcript::decode::ExitCode> {
        self.digests
            .get(key)
            .and_then(|d| d.exit_code.as_ref())
            .or_else(|| self.documents.get(key).and_then(|d| d.exit_code()))
    }
}
