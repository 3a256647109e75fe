//! What a result is to the fetch engine and everyone who asks it for one: its key (action id
//! and command index), how urgently it is wanted, the states it goes through, and what a
//! fetched one is.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResultKey {
    pub action_id: String,
    pub index: u32,
}

impl ResultKey {
    pub fn new(action_id: impl Into<String>, index: u32) -> Self {
        Self {
            action_id: action_id.into(),
            index,
        }
    }

    /// The results an action's commands left to download (not `PutFile`, not unfinished).
    pub fn of_action(action: &crate::api::models::MachineAction) -> impl Iterator<Item = Self> {
        action
            .commands
            .iter()
            .filter(|c| c.has_result())
            .map(|c| Self::new(action.id.clone(), c.index))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Speculative: never spends the budget's reserve.
    Prefetch,
    Normal,
    /// What the analyst is looking at: jumps the queue.
    Interactive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub from_cache: bool,
    /// Where the team's result store stands on it.
    pub team_share: TeamShare,
    pub link_expires_at: Option<DateTime<Utc>>,
    pub file_name: Option<String>,
}

/// A result's place in the team's result store, so the analyst knows whose download it was
/// and whether teammates will get it without a call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TeamShare {
    /// Not in a team, from this machine's cache, or the store could not take it.
    #[default]
    Unshared,
    /// Downloaded by this teammate and taken from the store.
    From(String),
    /// Downloaded here and now in the store for the team.
    SharedByYou,
    /// Downloaded here but larger than the store takes (`team_result_mb`): teammates fetch
    /// it themselves.
    TooLarge { cap_bytes: u64 },
}

impl TeamShare {
    /// The teammate whose download this was.
    pub fn teammate(&self) -> Option<&str> {
        match self {
            Self::From(by) => Some(by),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultState {
    Queued,
    WaitingForBudget {
        until: DateTime<Utc>,
    },
    /// A teammate is downloading it; it will come from the team's result store.
    WaitingForTeammate {
        by: String,
    },
    RequestingLink,
    Downloading {
        received: u64,
        total: Option<u64>,
    },
    /// In the cache, being checked against its SHA-256: not to be trusted until `Ready`,
    /// but the screen may decode it meanwhile (and throws that away unless `Ready` follows).
    Verifying(Arc<Fetched>),
    Ready(Arc<Fetched>),
    Failed(String),
    /// Offline (`--offline`), and not in the cache: nothing was asked of the service.
    NotCached,
    Cancelled,
}
