//! Loads of the machine actions list, run by the engine like result fetches so the UI never
//! owns a request: a load the analyst asked for replaces one still under way (its request is
//! dropped), the same load asked twice runs once, and a refresh of unfinished actions never
//! overlaps another refresh or a full load (which brings them anyway).

use std::sync::Arc;

use tokio::task::{AbortHandle, JoinSet};

use super::cache::Cache;
use crate::api::models::MachineAction;
use crate::api::{ActionList, ApiError, ListQuery, MdeClient};

/// A list load to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListRequest {
    /// A page of the list; `append` for the next page of the one shown.
    Load { query: ListQuery, append: bool },
    /// Re-read the unfinished actions with one call: `query` lists those still `Pending` or
    /// `InProgress` (new ones included); each of `watched` that is no longer among them has
    /// finished, and is read once more for its final state.
    Refresh {
        query: ListQuery,
        watched: Vec<String>,
    },
}

/// What a list load brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEvent {
    Loaded {
        result: Result<Vec<MachineAction>, String>,
        append: bool,
        /// Records the service sent that could not be read (said once the list is shown).
        problems: Vec<String>,
    },
    /// The unfinished actions as they are now (new ones included), and the final state of
    /// those that finished.
    Refreshed(Vec<Result<MachineAction, String>>),
}

/// The list loads under way, at most one of each kind.
#[derive(Default)]
pub(super) struct ListLoads {
    load: Option<(ListRequest, AbortHandle)>,
    refresh: Option<AbortHandle>,
    running: JoinSet<(ListRequest, ListEvent)>,
}

impl ListLoads {
    pub(super) fn start(
        &mut self,
        client: &Arc<MdeClient>,
        cache: Option<&Cache>,
        request: ListRequest,
    ) {
        let lister = Lister {
            client: Arc::clone(client),
            cache: cache.cloned(),
        };
        match &request {
            ListRequest::Load { .. } => {
                if let Some((under_way, handle)) = &self.load {
                    if *under_way == request {
                        return;
                    }
                    handle.abort();
                }
                // A full load reads the unfinished actions too.
                if let Some(refresh) = self.refresh.take() {
                    refresh.abort();
                }
                let handle = self.running.spawn(lister.run(request.clone()));
                self.load = Some((request, handle));
            }
            ListRequest::Refresh { .. } => {
                if self.refresh.is_some() || self.load.is_some() {
                    return;
                }
                let handle = self.running.spawn(lister.run(request));
                self.refresh = Some(handle);
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// The next load to finish, passing over those dropped (replaced); None when none runs.
    pub(super) async fn next(&mut self) -> Option<ListEvent> {
        loop {
            match self.running.join_next().await? {
                Ok((request, event)) => {
                    match request {
                        ListRequest::Load { .. } => self.load = None,
                        ListRequest::Refresh { .. } => self.refresh = None,
                    }
                    return Some(event);
                }
                Err(error) => {
                    // A load that panicked must not block the next: forget it by its task.
                    let id = error.id();
                    if self.load.as_ref().is_some_and(|(_, h)| h.id() == id) {
                        self.load = None;
                    }
                    if self.refresh.as_ref().is_some_and(|h| h.id() == id) {
                        self.refresh = None;
                    }
                    if error.is_panic() {
                        tracing::error!("a list load panicked: {error}");
                    }
                }
            }
        }
    }

    pub(super) fn abort_all(&mut self) {
        self.running.abort_all();
    }
}

/// Lists from the service, keeping the actions that have finished (a revisit, and the list
/// offline, need no call); offline, from what the cache kept.
struct Lister {
    client: Arc<MdeClient>,
    cache: Option<Cache>,
}

impl Lister {
    async fn list(&self, query: &ListQuery, interactive: bool) -> Result<ActionList, ApiError> {
        list_actions(&self.client, self.cache.as_ref(), query, interactive).await
    }

    async fn run(self, request: ListRequest) -> (ListRequest, ListEvent) {
        let event = match &request {
            ListRequest::Load { query, append } => match self.list(query, true).await {
                Ok(listed) => ListEvent::Loaded {
                    result: Ok(listed.actions),
                    append: *append,
                    problems: listed.problems,
                },
                Err(error) => ListEvent::Loaded {
                    result: Err(error.to_string()),
                    append: *append,
                    problems: Vec::new(),
                },
            },
            // Offline nothing changes, and nothing unfinished was kept.
            ListRequest::Refresh { .. } if self.client.is_offline() => {
                ListEvent::Refreshed(Vec::new())
            }
            ListRequest::Refresh { query, watched } => {
                // Background refreshes leave the budget's reserve to the analyst.
                match self.list(query, false).await {
                    Ok(listed) => {
                        let still: std::collections::HashSet<&str> =
                            listed.actions.iter().map(|a| a.id.as_str()).collect();
                        let finished: Vec<&String> = watched
                            .iter()
                            .filter(|id| !still.contains(id.as_str()))
                            .collect();
                        let mut results: Vec<Result<MachineAction, String>> =
                            listed.actions.iter().cloned().map(Ok).collect();
                        for id in finished {
                            let action = self.client.get_action(id, false).await;
                            if let (Ok(action), Some(cache)) = (&action, &self.cache) {
                                keep(cache, std::slice::from_ref(action));
                            }
                            results.push(action.map_err(|e| e.to_string()));
                        }
                        ListEvent::Refreshed(results)
                    }
                    Err(error) => ListEvent::Refreshed(vec![Err(error.to_string())]),
                }
            }
        };
        (request, event)
    }
}

/// One listing: from the service (the finished actions in it kept in the cache), or, with
/// the client offline, from the actions the cache kept.
pub async fn list_actions(
    client: &MdeClient,
    cache: Option<&Cache>,
    query: &ListQuery,
    interactive: bool,
) -> Result<ActionList, ApiError> {
    if client.is_offline() {
        return Ok(ActionList {
            actions: cache
                .map(|cache| cache.list_actions(query))
                .unwrap_or_default(),
            problems: Vec::new(),
        });
    }
    let listed = client.list_actions(query, interactive).await?;
    if let Some(cache) = cache {
        // Writing a page of 10,000 down takes longer than reading it: done beside what
        // comes next (the list on screen, the next page), not before it.
        let cache = cache.clone();
        let actions = listed.actions.clone();
        tokio::task::spawn_blocking(move || keep(&cache, &actions));
    }
    Ok(listed)
}

fn keep(cache: &Cache, actions: &[MachineAction]) {
    if let Err(error) = cache.put_actions(actions) {
        tracing::warn!("could not keep the listed actions in the cache: {error}");
    }
}
