//! The fetch engine task: requests in (with priorities, coalesced, cancellable), one state
//! event per change out. Both the CLI and the TUI drive it; it owns the link store.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::budget::Budget;
use super::cache::{Cache, EntryMeta};
use super::download::{self, DownloadError, DownloadLimits};
use super::meter::MeterSnapshot;
use crate::api::MdeClient;
use crate::api::link::ResultLink;

pub use super::result::{Fetched, Priority, ResultKey, ResultState};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub queued: usize,
    pub running: usize,
    pub ready: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    State(ResultKey, ResultState),
    Meter(MeterSnapshot, QueueStats),
    List(super::ListEvent),
}

enum Command {
    Fetch(ResultKey, Priority),
    Withdraw(ResultKey, Priority),
    Meter,
    Activity(String),
    List(super::ListRequest),
}

/// The handle callers keep; dropping every handle stops the engine.
#[derive(Clone)]
pub struct FetchEngine {
    commands: mpsc::UnboundedSender<Command>,
}

impl FetchEngine {
    pub fn fetch(&self, key: ResultKey, priority: Priority) {
        let _ = self.commands.send(Command::Fetch(key, priority));
    }

    /// Takes back a fetch still waiting in the queue at `at_most` priority or below (the
    /// analyst moved on before it started). One already running finishes: its link is paid.
    pub fn withdraw(&self, key: ResultKey, at_most: Priority) {
        let _ = self.commands.send(Command::Withdraw(key, at_most));
    }

    /// Asks for a fresh meter snapshot (the windows drain as time passes).
    pub fn refresh_meter(&self) {
        let _ = self.commands.send(Command::Meter);
    }

    /// Tells teammates on the team's store what this analyst is doing (with the next meter
    /// reading).
    pub fn set_activity(&self, activity: String) {
        let _ = self.commands.send(Command::Activity(activity));
    }

    /// Loads (a page of) the actions list or re-reads unfinished actions; the outcome comes
    /// as `FetchEvent::List`. See `lists` for how loads replace and skip each other.
    pub fn list(&self, request: super::ListRequest) {
        let _ = self.commands.send(Command::List(request));
    }
}

pub struct EngineConfig {
    pub cache: Option<Cache>,
    /// Where payloads go when there is no cache (removed with the engine's process).
    pub scratch_dir: PathBuf,
    pub concurrent_downloads: usize,
    pub download_retries: u32,
    /// Size, time and stall bounds of each download.
    pub limits: DownloadLimits,
    /// The team's result store: results a teammate fetched cost no call.
    pub team: Option<Arc<super::team_results::TeamResults>>,
    /// Where each result that reaches this machine is recorded.
    pub custody: Option<Arc<crate::custody::CustodyLog>>,
}

struct Shared {
    client: Arc<MdeClient>,
    budget: Arc<Budget>,
    config: EngineConfig,
    links: Mutex<HashMap<ResultKey, ResultLink>>,
    events: mpsc::UnboundedSender<FetchEvent>,
}

enum Phase {
    Queued(Priority),
    Running,
    Done(Arc<Fetched>),
}

pub fn spawn(
    client: Arc<MdeClient>,
    budget: Arc<Budget>,
    config: EngineConfig,
    events: mpsc::UnboundedSender<FetchEvent>,
) -> FetchEngine {
    let (commands, receiver) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        client,
        budget,
        config,
        links: Mutex::new(HashMap::new()),
        events,
    });
    let (meter, wanted) = watch::channel(QueueStats::default());
    tokio::spawn(read_meter(Arc::clone(&shared), wanted));
    tokio::spawn(run(shared, receiver, meter));
    FetchEngine { commands }
}

struct Scheduler {
    shared: Arc<Shared>,
    phases: HashMap<ResultKey, Phase>,
    queue: BinaryHeap<(Priority, Reverse<u64>, ResultKey)>,
    sequence: u64,
    running: JoinSet<(ResultKey, Priority, Result<Arc<Fetched>, ResultState>)>,
    meter: watch::Sender<QueueStats>,
}

impl Scheduler {
    fn emit(&self, key: &ResultKey, state: ResultState) {
        let _ = self
            .shared
            .events
            .send(FetchEvent::State(key.clone(), state));
    }

    /// Writes a result's arrival in the custody log, off the scheduler (the log is a file
    /// other processes lock too).
    fn record(&self, key: &ResultKey, fetched: &Fetched) {
        let Some(custody) = self.shared.config.custody.clone() else {
            return;
        };
        let cache = self.shared.config.cache.clone();
        let source = match (&fetched.team_share, fetched.from_cache) {
            (super::TeamShare::From(member), _) => {
                format!("teammate {}", crate::team::shown_member(member))
            }
            (_, true) => "cache".to_string(),
            _ => "live".to_string(),
        };
        let (key, sha256, size) = (key.clone(), fetched.sha256.clone(), fetched.size);
        tokio::task::spawn_blocking(move || {
            // The machine's name, when the action was listed or opened before (kept).
            let machine = cache
                .and_then(|cache| cache.get_action(&key.action_id))
                .map(|action| action.computer_dns_name)
                .unwrap_or_default();
            custody.note(crate::custody::Event::Fetch {
                action_id: key.action_id,
                index: key.index,
                machine,
                sha256,
                size,
                source,
            });
        });
    }

    fn stats(&self) -> QueueStats {
        let mut stats = QueueStats::default();
        for phase in self.phases.values() {
            match phase {
                Phase::Queued(_) => stats.queued += 1,
                Phase::Running => stats.running += 1,
                Phase::Done(_) => stats.ready += 1,
            }
        }
        stats
    }

    /// Asks for a meter reading; readings asked for while one is under way coalesce.
    fn emit_meter(&self) {
        self.meter.send_replace(self.stats());
    }

    #[expect(
        clippy::needless_pass_by_value,
        reason = "a request moves through the scheduler by value, as it came off the channel"
    )]
    fn enqueue(&mut self, key: ResultKey, priority: Priority) {
        match self.phases.get(&key) {
            Some(Phase::Running) => return,
            Some(Phase::Queued(current)) if *current >= priority => return,
            Some(Phase::Done(fetched)) if fetched.path.exists() => {
                let fetched = Arc::clone(fetched);
                self.emit(&key, ResultState::Ready(fetched));
                return;
            }
            _ => {}
        }
        self.sequence += 1;
        self.phases.insert(key.clone(), Phase::Queued(priority));
        self.queue
            .push((priority, Reverse(self.sequence), key.clone()));
        self.emit(&key, ResultState::Queued);
    }

    fn withdraw(&mut self, key: &ResultKey, at_most: Priority) {
        if matches!(self.phases.get(key), Some(Phase::Queued(p)) if *p <= at_most) {
            // Its heap entry stays behind and is skipped when popped.
            self.phases.remove(key);
            self.emit(key, ResultState::Cancelled);
        }
    }

    fn start_jobs(&mut self) {
        let slots = self.shared.config.concurrent_downloads.max(1);
        while let Some((next, _, _)) = self.queue.peek() {
            // What the analyst opens never queues behind a review's jobs waiting for budget:
            // it has slots of its own, and spends the reserve they may not.
            let room = if *next == Priority::Interactive {
                slots * 2
            } else {
                slots
            };
            if self.running.len() >= room {
                return;
            }
            let Some((priority, _, key)) = self.queue.pop() else {
                return;
            };
            // Skip stale heap entries left behind by a priority upgrade or a cancel.
            if !matches!(self.phases.get(&key), Some(Phase::Queued(p)) if *p == priority) {
                continue;
            }
            self.phases.insert(key.clone(), Phase::Running);
            let shared = Arc::clone(&self.shared);
            self.running.spawn(async move {
                let outcome = match cached(&shared, &key).await {
                    Some(fetched) => Ok(fetched),
                    // Offline, only the cache answers: nothing is asked of the service.
                    None if shared.client.is_offline() => Err(ResultState::NotCached),
                    None => job(&shared, &key, priority).await,
                };
                (key, priority, outcome)
            });
        }
    }

    #[expect(
        clippy::needless_pass_by_value,
        reason = "a finished job's key moves through the scheduler by value, as it came out of the join set"
    )]
    fn finish(
        &mut self,
        key: ResultKey,
        priority: Priority,
        outcome: Result<Arc<Fetched>, ResultState>,
    ) {
        match outcome {
            // A teammate is fetching it: back in the queue, behind what is there.
            Err(waiting @ ResultState::WaitingForTeammate { .. }) => {
                self.sequence += 1;
                self.phases.insert(key.clone(), Phase::Queued(priority));
                self.queue
                    .push((priority, Reverse(self.sequence), key.clone()));
                self.emit(&key, waiting);
            }
            Ok(fetched) => {
                self.record(&key, &fetched);
                self.phases
                    .insert(key.clone(), Phase::Done(Arc::clone(&fetched)));
                self.emit(&key, ResultState::Ready(fetched));
            }
            Err(unfetched) => {
                self.phases.remove(&key);
                self.emit(&key, unfetched);
            }
        }
        self.emit_meter();
    }
}

/// Reads the budget's store for the meter whenever the scheduler asks, apart from the
/// scheduler: a store may be across the network (a team's), and the queue must not wait on it.
async fn read_meter(shared: Arc<Shared>, mut wanted: watch::Receiver<QueueStats>) {
    while wanted.changed().await.is_ok() {
        let stats = *wanted.borrow_and_update();
        let snapshot = shared.budget.snapshot().await;
        let _ = shared.events.send(FetchEvent::Meter(snapshot, stats));
    }
}

async fn run(
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    meter: watch::Sender<QueueStats>,
) {
    let mut scheduler = Scheduler {
        shared,
        phases: HashMap::new(),
        queue: BinaryHeap::new(),
        sequence: 0,
        running: JoinSet::new(),
        meter,
    };
    let mut lists = super::lists::ListLoads::default();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Idle, a team's store is still read now and then, so teammates see this member as
    // active without anything being fetched. Alone, an idle lrx reads nothing.
    let beats = scheduler.shared.budget.heartbeat();
    let mut heartbeat = tokio::time::interval(beats.unwrap_or(Duration::from_secs(3600)));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await;
    loop {
        scheduler.start_jobs();
        // Biased: a finished job frees a slot before new requests are looked at, and ticks
        // only matter when nothing else is happening.
        tokio::select! {
            biased;
            Some(joined) = scheduler.running.join_next(), if !scheduler.running.is_empty() => {
                match joined {
                    Ok((key, priority, outcome)) => scheduler.finish(key, priority, outcome),
                    Err(error) => tracing::error!("a fetch job panicked: {error}"),
                }
            }
            Some(event) = lists.next(), if !lists.is_empty() => {
                let _ = scheduler.shared.events.send(FetchEvent::List(event));
                // The load spent a call: the meter on screen says so now.
                scheduler.emit_meter();
            }
            command = commands.recv() => match command {
                None => break,
                Some(Command::Fetch(key, priority)) => scheduler.enqueue(key, priority),
                Some(Command::Withdraw(key, at_most)) => scheduler.withdraw(&key, at_most),
                Some(Command::Meter) => scheduler.emit_meter(),
                Some(Command::Activity(activity)) => {
                    scheduler.shared.budget.set_activity(&activity);
                    scheduler.emit_meter();
                }
                Some(Command::List(request)) => lists.start(
                    &scheduler.shared.client,
                    scheduler.shared.config.cache.as_ref(),
                    request,
                ),
            },
            _ = heartbeat.tick(), if beats.is_some() => scheduler.emit_meter(),
            _ = ticker.tick(), if !scheduler.running.is_empty() || !scheduler.queue.is_empty() => {
                scheduler.emit_meter();
            }
        }
    }
    scheduler.running.abort_all();
    lists.abort_all();
}

/// A payload file of this session's scratch space; never reused, so a write never meets a
/// file (or a link) that is already there.
fn scratch_path(dir: &std::path::Path, key: &ResultKey) -> PathBuf {
    use rand_core::RngCore as _;
    dir.join(format!(
        "{}-{}-{:016x}.payload",
        crate::files::safe_name(&key.action_id),
        key.index,
        rand_core::OsRng.next_u64()
    ))
}

fn send(shared: &Shared, key: &ResultKey, state: ResultState) {
    let _ = shared.events.send(FetchEvent::State(key.clone(), state));
}

/// The result from the cache, verified, if it is there. A large payload this process has
/// not hashed yet is announced as `Verifying` first, so that the screen can decode it while
/// it is hashed (off the runtime's threads) rather than after.
async fn cached(shared: &Shared, key: &ResultKey) -> Option<Arc<Fetched>> {
    use super::cache::Lookup;
    let cache = shared.config.cache.as_ref()?;
    let fetched = |hit: super::cache::CachedPayload| {
        Arc::new(Fetched {
            path: hit.path,
            size: hit.meta.size,
            sha256: hit.meta.sha256,
            from_cache: true,
            team_share: crate::fetch::TeamShare::Unshared,
            link_expires_at: None,
            file_name: hit.meta.file_name,
        })
    };
    let unverified = match cache.lookup(key)? {
        Lookup::Verified(hit) => return Some(fetched(hit)),
        Lookup::Unverified(hit) => hit,
    };
    if unverified.meta.size < ANNOUNCE_VERIFYING_BYTES {
        // About a millisecond: hashed where it is, rather than handed to another thread
        // (a review of thousands would keep the blocking pool growing).
        return cache.verify(key, unverified).map(fetched);
    }
    send(
        shared,
        key,
        ResultState::Verifying(fetched(unverified.clone())),
    );
    // Hashed a few at a time, off the runtime's threads.
    let _turn = hashing_turns().acquire().await.ok()?;
    let (cache, key) = (cache.clone(), key.clone());
    let verified = tokio::task::spawn_blocking(move || cache.verify(&key, unverified))
        .await
        .ok()??;
    Some(fetched(verified))
}

/// One turn per core for hashing cached payloads.
fn hashing_turns() -> &'static tokio::sync::Semaphore {
    static TURNS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    TURNS.get_or_init(|| {
        tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        )
    })
}

/// Below this, hashing takes about a millisecond: not worth a message or a thread.
const ANNOUNCE_VERIFYING_BYTES: u64 = 1024 * 1024;

/// Fetches a result the cache does not have: from a teammate through the team's store, or
/// (this member's turn) a link within the budget and the download, shared afterwards.
/// A review's result that a teammate is fetching comes back as `WaitingForTeammate`, so
/// that its slot goes on with another result meanwhile; what the analyst opens waits.
async fn job(
    shared: &Shared,
    key: &ResultKey,
    priority: Priority,
) -> Result<Arc<Fetched>, ResultState> {
    use super::team_results::{LOOK_AGAIN, Turn, await_turn, look};
    let Some(team) = &shared.config.team else {
        return download_job(shared, key, priority)
            .await
            .map_err(ResultState::Failed);
    };
    let turn = if priority == Priority::Interactive {
        await_turn(team, key, |by| {
            send(
                shared,
                key,
                ResultState::WaitingForTeammate { by: by.to_string() },
            );
        })
        .await
    } else {
        look(team, key).await
    };
    let claim = match turn {
        Turn::Shared(result) => {
            return keep_teammates(shared, key, result).map_err(ResultState::Failed);
        }
        Turn::Held { by } => {
            tokio::time::sleep(LOOK_AGAIN).await;
            return Err(ResultState::WaitingForTeammate { by });
        }
        Turn::Mine(claim) => Some(claim),
        Turn::Alone => None,
    };
    let fetched = download_job(shared, key, priority)
        .await
        .map_err(ResultState::Failed)?;
    if claim.is_none() {
        return Ok(fetched);
    }
    let team_share = team.publish(key, &fetched).await.unwrap_or_default();
    drop(claim);
    Ok(Arc::new(Fetched {
        team_share,
        ..Fetched::clone(&fetched)
    }))
}

/// A new file for a payload to arrive in: in the cache's directory, or in scratch space.
fn fresh_destination(shared: &Shared, key: &ResultKey) -> PathBuf {
    match &shared.config.cache {
        Some(cache) => cache.temp_path(key),
        None => scratch_path(&shared.config.scratch_dir, key),
    }
}

/// Writes a teammate's result where this member's own downloads go.
fn keep_teammates(
    shared: &Shared,
    key: &ResultKey,
    result: super::team_results::SharedResult,
) -> Result<Arc<Fetched>, String> {
    use std::io::Write as _;
    let destination = fresh_destination(shared, key);
    crate::files::create_private_new(&destination)
        .and_then(|mut file| file.write_all(&result.bytes))
        .map_err(|e| format!("could not keep the result a teammate shared: {e}"))?;
    let size = result.bytes.len() as u64;
    tracing::debug!(action = %key.action_id, index = key.index, bytes = size, by = %result.by, "taken from the team's result store");
    let meta = EntryMeta {
        sha256: result.sha256.clone(),
        size,
        file_name: result.file_name.clone(),
        fetched_at: Utc::now(),
    };
    let path = keep(shared, key, destination, meta)?;
    Ok(Arc::new(Fetched {
        path,
        size,
        sha256: result.sha256,
        from_cache: false,
        team_share: super::TeamShare::From(result.by),
        link_expires_at: None,
        file_name: result.file_name,
    }))
}

/// Where a finished download (or a teammate's payload) lives: in the cache when it fits,
/// else in scratch space for this session.
fn keep(
    shared: &Shared,
    key: &ResultKey,
    destination: PathBuf,
    meta: EntryMeta,
) -> Result<PathBuf, String> {
    Ok(match &shared.config.cache {
        Some(cache) if cache.fits(meta.size) => {
            cache
                .put(key, &destination, meta)
                .map_err(|e| format!("could not store the result in the cache: {e}"))?
                .path
        }
        Some(cache) => {
            // Too big to keep: shown from scratch space for this session only.
            tracing::info!(action = %key.action_id, index = key.index, bytes = meta.size, cap = cache.max_bytes(), "result larger than the cache; kept for this session only");
            let scratch = scratch_path(&shared.config.scratch_dir, key);
            std::fs::rename(&destination, &scratch)
                .map_err(|e| format!("could not keep the result: {e}"))?;
            scratch
        }
        None => destination,
    })
}

/// A link within the budget, then the download.
async fn download_job(
    shared: &Shared,
    key: &ResultKey,
    priority: Priority,
) -> Result<Arc<Fetched>, String> {
    // Only what the analyst is looking at may spend the reserve: reviews, fetch-all and
    // prefetch share the rest, so none of them ever makes the analyst wait.
    let interactive = priority == Priority::Interactive;
    let mut renewed_after_rejection = false;
    let mut attempts = 0;
    loop {
        let cached_link = shared
            .links
            .lock()
            .ok()
            .and_then(|links| links.get(key).cloned())
            .filter(|link| link.usable_at(Utc::now()));
        let link = if let Some(link) = cached_link {
            link
        } else {
            if let Some(until) = shared
                .budget
                .next_allowed(crate::api::limits::Api::ResultLink, interactive)
                .await
            {
                send(shared, key, ResultState::WaitingForBudget { until });
            }
            let link = shared
                .client
                .result_link_waiting(&key.action_id, key.index, interactive, || {
                    send(shared, key, ResultState::RequestingLink);
                })
                .await
                .map_err(|e| e.to_string())?;
            if let Ok(mut links) = shared.links.lock() {
                links.insert(key.clone(), link.clone());
            }
            link
        };
        let destination = fresh_destination(shared, key);
        tracing::debug!(action = %key.action_id, index = key.index, link = %link.url, expires = %link.expires_at, "downloading");
        let mut last_reported = 0u64;
        let result = download::download(
            shared.client.http(),
            &link,
            &destination,
            shared.config.limits,
            |received, total| {
                let step = total.map_or(256 * 1024, |t| (t / 50).max(64 * 1024));
                if received == 0 || received >= last_reported + step || Some(received) == total {
                    last_reported = received;
                    send(shared, key, ResultState::Downloading { received, total });
                }
            },
        )
        .await;
        match result {
            Ok(downloaded) => {
                tracing::debug!(action = %key.action_id, index = key.index, bytes = downloaded.size, "downloaded");
                let meta = EntryMeta {
                    sha256: downloaded.sha256.clone(),
                    size: downloaded.size,
                    file_name: downloaded.file_name.clone(),
                    fetched_at: Utc::now(),
                };
                let path = keep(shared, key, destination, meta)?;
                return Ok(Arc::new(Fetched {
                    path,
                    size: downloaded.size,
                    sha256: downloaded.sha256,
                    from_cache: false,
                    team_share: crate::fetch::TeamShare::Unshared,
                    link_expires_at: Some(link.expires_at),
                    file_name: downloaded.file_name,
                }));
            }
            Err(DownloadError::Rejected) if !renewed_after_rejection => {
                tracing::info!(action = %key.action_id, index = key.index, "blob storage rejected the link; requesting a fresh one");
                renewed_after_rejection = true;
                if let Ok(mut links) = shared.links.lock() {
                    links.remove(key);
                }
            }
            Err(DownloadError::Rejected) => {
                return Err(crate::api::ApiError::LinkRejected.to_string());
            }
            Err(DownloadError::Retryable(reason)) if attempts < shared.config.download_retries => {
                attempts += 1;
                tracing::warn!(action = %key.action_id, index = key.index, "download failed ({reason}); retrying");
                tokio::time::sleep(Duration::from_millis(400 * u64::from(attempts))).await;
            }
            Err(DownloadError::Retryable(reason) | DownloadError::Fatal(reason)) => {
                return Err(format!("downloading the result failed: {reason}"));
            }
        }
    }
}
