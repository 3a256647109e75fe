//! The review screen (`R`): the selected actions' runs grouped by script, outcome counts,
//! output clusters, and a diff of an outlier against the majority. It updates as results
//! arrive and is usable before everything is in.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::scroll_to_show;
use crate::api::models::MachineAction;
use crate::fetch::ResultKey;
use crate::review::baseline::VsPrevious;
use crate::review::{self, DiffLine, Digest, Group};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSort {
    Interesting,
    Machine,
    Action,
    Status,
    Outcome,
    Duration,
    Cluster,
    FirstLine,
}

impl RowSort {
    fn next(self) -> Self {
        match self {
            Self::Interesting => Self::Machine,
            Self::Machine => Self::Action,
            Self::Action => Self::Status,
            Self::Status => Self::Outcome,
            Self::Outcome => Self::Duration,
            Self::Duration => Self::Cluster,
            Self::Cluster => Self::FirstLine,
            Self::FirstLine => Self::Interesting,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Interesting => "outliers first",
            Self::Machine => "machine",
            Self::Action => "action",
            Self::Status => "status",
            Self::Outcome => "outcome",
            Self::Duration => "duration",
            Self::Cluster => "output cluster",
            Self::FirstLine => "first line",
        }
    }
}

pub struct DiffView {
    pub title: String,
    pub lines: Vec<DiffLine>,
    pub scroll: usize,
    /// Long lines (an autorun's image path) wrap instead of running off the edge.
    pub wrap: bool,
}

impl DiffView {
    /// While a diff is open the movement keys scroll it, as in the transcript.
    pub fn scroll_by(&mut self, delta: isize) {
        let last = self.lines.len().saturating_sub(1);
        self.scroll = self.scroll.saturating_add_signed(delta).min(last);
    }
}

pub struct ReviewScreen {
    pub scope: Vec<MachineAction>,
    pub digests: HashMap<ResultKey, Digest>,
    pub groups: Vec<Group>,
    pub selected_group: usize,
    pub selected_row: usize,
    pub rows_focused: bool,
    pub failed_only: bool,
    pub sort: RowSort,
    pub diff: Option<DiffView>,
    /// Results to collect, and when collecting started (for the ETA).
    pub wanted: usize,
    pub started: DateTime<Utc>,
    /// Results that cannot come: offline, and not in the cache.
    pub not_cached: std::collections::HashSet<ResultKey>,
    pub(crate) row_offset: usize,
    /// Results arrived since the groups were last built.
    stale: bool,
    /// Each run's previous run of its script on its machine (`None`: the first), when the
    /// list holds earlier runs; empty when none of them has one.
    pub baselines: HashMap<ResultKey, Option<ResultKey>>,
    /// Digests of baselines outside the review's scope.
    baseline_digests: HashMap<ResultKey, Digest>,
}

impl ReviewScreen {
    pub fn new(scope: Vec<MachineAction>, now: DateTime<Utc>) -> Self {
        let wanted = scope.iter().flat_map(ResultKey::of_action).count();
        let mut screen = Self {
            scope,
            digests: HashMap::new(),
            groups: Vec::new(),
            selected_group: 0,
            selected_row: 0,
            rows_focused: true,
            failed_only: false,
            sort: RowSort::Interesting,
            diff: None,
            wanted,
            started: now,
            not_cached: std::collections::HashSet::new(),
            row_offset: 0,
            stale: false,
            baselines: HashMap::new(),
            baseline_digests: HashMap::new(),
        };
        screen.rebuild();
        screen
    }

    pub fn keys(&self) -> Vec<ResultKey> {
        self.scope.iter().flat_map(ResultKey::of_action).collect()
    }

    pub fn wants(&self, key: &ResultKey) -> bool {
        self.scope.iter().any(|a| {
            a.id == key.action_id
                && a.commands
                    .iter()
                    .any(|c| c.index == key.index && c.has_result())
        })
    }

    /// An action of the review as it is now, or one that joins it (`join`: a run started
    /// from the review); gives the keys of its results not taken in yet.
    pub fn take_action(&mut self, action: &MachineAction, join: bool) -> Vec<ResultKey> {
        match self.scope.iter_mut().find(|a| a.id == action.id) {
            Some(slot) => slot.clone_from(action),
            None if join => self.scope.push(action.clone()),
            None => return Vec::new(),
        }
        self.wanted = self.keys().len();
        self.stale = true;
        ResultKey::of_action(action)
            .filter(|key| !self.digests.contains_key(key))
            .collect()
    }

    /// Baselines outside the scope whose digests are still to come.
    pub fn wants_baseline(&self, key: &ResultKey) -> bool {
        !self.digests.contains_key(key)
            && !self.baseline_digests.contains_key(key)
            && self.baselines.values().flatten().any(|b| b == key)
    }

    pub fn add_baseline(&mut self, key: ResultKey, digest: Digest) {
        self.baseline_digests.insert(key, digest);
        self.stale = true;
    }

    /// Takes a result in; the groups are rebuilt once before they are next looked at, not
    /// once per result (a burst of thousands would otherwise rebuild thousands of times).
    pub fn add(&mut self, key: ResultKey, digest: Digest) {
        self.digests.insert(key, digest);
        self.stale = true;
    }

    pub fn refresh(&mut self) {
        if std::mem::take(&mut self.stale) {
            self.rebuild();
        }
    }

    pub fn rebuild(&mut self) {
        let digests = &self.digests;
        let selected = self.groups.get(self.selected_group).map(|g| g.key.clone());
        self.groups = review::build(&self.scope, |id, index| {
            digests.get(&ResultKey::new(id, index))
        });
        if let Some(key) = selected {
            self.selected_group = self.groups.iter().position(|g| g.key == key).unwrap_or(0);
        }
        if self.baselines.is_empty() {
            return;
        }
        let digest = |key: &ResultKey| {
            self.digests
                .get(key)
                .or_else(|| self.baseline_digests.get(key))
        };
        for row in self.groups.iter_mut().flat_map(|g| g.rows.iter_mut()) {
            let key = ResultKey::new(row.action_id.clone(), row.index);
            row.vs_previous = self.baselines.get(&key).map(|before| match before {
                None => VsPrevious::FirstRun,
                Some(baseline) => match (digest(&key), digest(baseline)) {
                    (Some(new), Some(old)) if new.hash == old.hash => VsPrevious::Same {
                        baseline: baseline.clone(),
                    },
                    // Lines are counted by `b`, which reads both outputs.
                    (Some(_), Some(_)) => VsPrevious::Changed {
                        baseline: baseline.clone(),
                        added: 0,
                        removed: 0,
                    },
                    _ => VsPrevious::Unknown {
                        baseline: baseline.clone(),
                    },
                },
            });
        }
    }

    pub fn group(&self) -> Option<&Group> {
        self.groups.get(self.selected_group)
    }

    /// The selected group's rows as shown: filtered and sorted.
    pub fn rows(&self) -> Vec<&review::Row> {
        let Some(group) = self.group() else {
            return Vec::new();
        };
        let mut rows: Vec<&review::Row> = group
            .rows
            .iter()
            .filter(|r| !self.failed_only || r.outcome.is_failure())
            .collect();
        match self.sort {
            RowSort::Interesting => rows.sort_by_key(|r| {
                (
                    !r.outcome.is_failure(),
                    std::cmp::Reverse(r.cluster.map(|c| c.0)),
                    r.machine.clone(),
                )
            }),
            RowSort::Machine => rows.sort_by(|a, b| a.machine.cmp(&b.machine)),
            RowSort::Outcome => rows.sort_by(|a, b| a.outcome.cmp(&b.outcome)),
            RowSort::Duration => rows.sort_by_key(|r| std::cmp::Reverse(r.duration_seconds)),
            RowSort::Action => {
                rows.sort_by(|a, b| a.action_id.cmp(&b.action_id).then(a.index.cmp(&b.index)));
            }
            RowSort::Status => rows.sort_by(|a, b| a.status.cmp(&b.status)),
            RowSort::Cluster => rows.sort_by_key(|r| r.cluster),
            RowSort::FirstLine => rows.sort_by(|a, b| a.summary.cmp(&b.summary)),
        }
        rows
    }

    pub fn selected(&self) -> Option<&review::Row> {
        self.rows().get(self.selected_row).copied()
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.rows_focused {
            let len = self.rows().len();
            self.selected_row = if len == 0 {
                0
            } else {
                self.selected_row.saturating_add_signed(delta).min(len - 1)
            };
        } else if !self.groups.is_empty() {
            self.selected_group = self
                .selected_group
                .saturating_add_signed(delta)
                .min(self.groups.len() - 1);
            self.selected_row = 0;
        }
    }

    pub fn toggle_failed_only(&mut self) {
        self.failed_only = !self.failed_only;
        self.selected_row = 0;
    }

    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
    }

    pub fn done(&self) -> usize {
        self.digests.len()
    }

    /// `fetching 48 results · 12 done · 80/min · ETA 14:32 (in 0:31)`, or a summary once
    /// complete.
    pub fn progress(
        &self,
        meter: &crate::fetch::MeterSnapshot,
        now: DateTime<chrono::FixedOffset>,
    ) -> String {
        let done = self.done();
        let missing = self.not_cached.len();
        if done + missing >= self.wanted {
            let plural = if self.groups.len() == 1 { "" } else { "s" };
            let missing = if missing > 0 {
                format!(" · {missing} not cached (offline)")
            } else {
                String::new()
            };
            return format!(
                "{} results in{missing} · {} group{plural}",
                done,
                self.groups.len()
            );
        }
        let remaining = self.wanted - done - missing;
        match meter.plan_text(remaining, now.with_timezone(&Utc), *now.offset()) {
            Some(eta) => format!("fetching {} results · {done} done · {eta}", self.wanted),
            None => format!("fetching {} results · {done} done", self.wanted),
        }
    }

    /// Keeps the selected row among the `rows` on screen.
    pub fn keep_in_view(&mut self, rows: usize) {
        self.row_offset = scroll_to_show(self.row_offset, self.selected_row, rows);
    }
}
