//! CPU work started for the state off the UI thread (decoding, digesting, diffing,
//! highlighting and searching), shared by the event loop and the test harness. It needs no runtime and no network: its results
//! come back through `sink` as messages, like everything else.

use std::sync::Arc;

use super::message::{Effect, Message};
use crate::results::pool::{Lane, Pool};
use crate::review::{Digest, Normaliser};
use crate::transcript::highlighter::Deliver;

/// Where background work sends its messages.
pub type Sink = Arc<dyn Fn(Message) + Send + Sync>;

/// Starts the effect if it is CPU work for the viewer; gives any other effect back.
pub fn start(effect: Effect, sink: &Sink) -> Option<Effect> {
    match effect {
        Effect::Highlight {
            key,
            document,
            section,
            wanted,
        } => {
            // A section without a syntax has nothing to highlight.
            let highlighter = document.0.highlighter(section)?;
            let sink = Arc::clone(sink);
            let weak = Arc::downgrade(&document.0);
            let deliver: Deliver = Arc::new(move |chunks| {
                sink(Message::Highlighted {
                    key: key.clone(),
                    section,
                    document: weak.clone(),
                    chunks,
                });
            });
            highlighter.request(wanted, deliver);
            None
        }
        Effect::Search { id, rest } => {
            let sink = Arc::clone(sink);
            let spawned = std::thread::Builder::new()
                .name("lrx-search".into())
                .spawn(move || rest.run(&|found| sink(Message::SearchFound { id, found })));
            if let Err(error) = spawned {
                tracing::warn!("no search thread: {error}");
            }
            None
        }
        Effect::Decode { key, fetched, kind } => {
            let sink = Arc::clone(sink);
            Pool::decoding().submit(Lane::Now, move || {
                crate::results::decode(&fetched, &kind, &Normaliser::builtin(), &mut |event| {
                    sink(Message::from_result(key.clone(), event));
                });
            });
            None
        }
        Effect::Digest { key, fetched, kind } => {
            let sink = Arc::clone(sink);
            Pool::decoding().submit(Lane::Later, move || {
                // Unreadable, it still counts as in, by its download's hash (as `Decode` does).
                let digest = crate::results::digest(&fetched, &kind, &Normaliser::builtin())
                    .unwrap_or_else(|| {
                        Digest::of_file(&fetched.sha256).fetched_by(fetched.team_share.teammate())
                    });
                sink(Message::Digested(key, digest));
            });
            None
        }
        Effect::Diff {
            title,
            majority,
            outlier,
        } => {
            let sink = Arc::clone(sink);
            Pool::decoding().submit(Lane::Now, move || {
                let old = crate::results::output_text(&majority.0, &majority.1);
                let new = crate::results::output_text(&outlier.0, &outlier.1);
                let lines = crate::review::diff(&old, &new, &Normaliser::builtin(), 3);
                sink(Message::Diffed { title, lines });
            });
            None
        }
        other => Some(other),
    }
}
