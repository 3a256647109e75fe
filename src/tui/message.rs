//! The messages the event loop feeds the app and the effects the app asks of it: the one
//! contract between the state, which never touches the network, and the work done for it.

use std::sync::{Arc, Weak};

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use crate::api::models::MachineAction;
use crate::fetch::{FetchEvent, Fetched, ListEvent, ListRequest, Priority, ResultKey};
use crate::transcript::document::{Document, Section};
use crate::transcript::search::{Found, Rest, SearchId};
use crate::transcript::tokens::{TokenChunk, Wanted};

/// Work for the event loop to start; its outcome comes back as a `Message`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Load (a page of) the actions list, or re-read unfinished actions, through the engine.
    List(ListRequest),
    Fetch(ResultKey, Priority),
    /// Highlight these chunks of a section in the background; `Highlighted` brings them.
    Highlight {
        key: ResultKey,
        document: Shown,
        section: Section,
        wanted: Wanted,
    },
    /// Search the rest of a section in the background; `SearchFound` brings the news.
    Search {
        id: SearchId,
        rest: Rest,
    },
    /// Take back fetches still queued at `at_most` priority or below: the prefetches of an
    /// action the analyst moved away from, the fetches of a review they left.
    Withdraw {
        keys: Vec<ResultKey>,
        at_most: Priority,
    },
    /// Make the document the transcript shows (and its digest), ahead of background work.
    Decode {
        key: ResultKey,
        fetched: Arc<Fetched>,
        kind: crate::results::PayloadKind,
    },
    /// Only the review's digest of a result nobody is looking at: no document is kept.
    Digest {
        key: ResultKey,
        fetched: Arc<Fetched>,
        kind: crate::results::PayloadKind,
    },
    /// Compare two runs' outputs read from their payloads; `Diffed` brings the lines.
    Diff {
        title: String,
        majority: (Arc<Fetched>, crate::results::PayloadKind),
        outlier: (Arc<Fetched>, crate::results::PayloadKind),
    },
    RefreshMeter,
    /// What the analyst is doing, for teammates on the team's store to see.
    Activity(String),
    /// Write a result to disk: the raw payload, the output text, or a `GetFile`'s file.
    Save {
        source: std::path::PathBuf,
        target: std::path::PathBuf,
        kind: SaveKind,
        /// Whose result it is, for the custody log.
        key: ResultKey,
    },
    /// Write this in the custody log (a copy to the clipboard).
    Custody(crate::custody::Event),
    /// Put text on the clipboard (OSC 52, so it works over SSH).
    Copy(String),
    /// Copy the raw `script_output` of a payload on disk.
    CopyRaw(std::path::PathBuf),
    /// Sign in with a device code (delegated), showing the code in a dialog.
    DeviceLogin,
    /// Suspend the UI and show this (sanitised) text in `$PAGER`.
    Pager(String),
    /// Read the live response library; `Library` brings it.
    LoadLibrary,
    /// Resolve the machines, check the library, find active sessions; `RunPrepared` brings
    /// the preview.
    PrepareRun {
        plan: crate::api::act::RunPlan,
        machine_ids: Vec<String>,
    },
    /// Start the sessions the preview shows; `RunStarted` for each machine, then `RunDone`.
    LaunchRun(Box<crate::act::Preview>),
    /// Cancel an action; `CancelDone` brings the answer.
    CancelAction {
        action_id: String,
        comment: String,
    },
}

/// A document on screen, compared by identity: two effects are the same when they are
/// about the same decoded result.
#[derive(Clone)]
pub struct Shown(pub Arc<Document>);

impl PartialEq for Shown {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shown(sha256 {})", self.0.sha256)
    }
}

/// Why the event loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// Reopen on another profile from config.toml (data, cache and budget switch with it).
    SwitchProfile(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveKind {
    Payload,
    OutputText,
    /// Decompressed, bounded (gzip bombs).
    File {
        limit: u64,
    },
}

#[derive(Debug)]
pub enum Message {
    Key(KeyEvent),
    /// Text pasted into the terminal (bracketed paste), whole.
    Paste(String),
    Mouse(MouseEvent),
    Resize,
    Tick,
    Fetch(FetchEvent),
    /// A result made ready to show (a preview of a huge one first, then the whole).
    Decoded(ResultKey, Arc<Document>),
    /// The review's digest of a result.
    Digested(ResultKey, crate::review::Digest),
    /// A diff of two runs' outputs, made in the background.
    Diffed {
        title: String,
        lines: Vec<crate::review::DiffLine>,
    },
    /// Something finished in the background that the analyst should hear about.
    Notice(String),
    /// Raw text read in the background, to put on the clipboard.
    Clipboard(String),
    /// A device code sign-in waits for the analyst: where to go and the code to enter.
    DevicePrompt {
        uri: String,
        code: String,
    },
    /// The device code sign-in ended.
    DeviceDone(Result<(), String>),
    /// The live response library, or why it could not be read.
    Library(Result<Vec<crate::api::act::LibraryFile>, String>),
    /// What a run will do, or why it cannot start.
    RunPrepared(Result<Box<crate::act::Preview>, String>),
    /// One machine of a run: what happened, and the action it created, if it did.
    RunStarted {
        line: String,
        action: Option<Box<MachineAction>>,
    },
    /// Every machine of the run has been tried.
    RunDone,
    /// The answer to a cancel: the action as it is now, or what went wrong.
    CancelDone(Result<Box<MachineAction>, String>),
    /// Syntax tokens for a section, from its highlighting worker.
    Highlighted {
        key: ResultKey,
        section: Section,
        document: Weak<Document>,
        chunks: Vec<TokenChunk>,
    },
    /// What a background search found since its last news.
    SearchFound {
        id: SearchId,
        found: Found,
    },
    Quit,
}

impl Message {
    /// A first page of actions as the engine brings it: how harnesses fill the list.
    pub fn listed(actions: Vec<MachineAction>) -> Self {
        Self::Fetch(FetchEvent::List(ListEvent::Loaded {
            result: Ok(actions),
            append: false,
            problems: Vec::new(),
        }))
    }

    /// What the result pipeline made of a payload, as the app takes it.
    pub fn from_result(key: ResultKey, event: crate::results::ResultEvent) -> Self {
        use crate::results::ResultEvent;
        match event {
            ResultEvent::Preview(document) | ResultEvent::Document(document) => {
                Self::Decoded(key, document)
            }
            ResultEvent::Digest(digest) => Self::Digested(key, digest),
        }
    }
}
