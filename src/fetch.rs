//! The fetch engine: turns (action id, command index) into a payload on disk, within the
//! rate budget, never with an expired link, and never paying twice (cache).

pub mod budget;
pub mod cache;
pub mod download;
pub mod engine;
pub mod lists;
pub mod meter;
pub mod result;
pub mod team_results;

pub use budget::{Budget, BudgetStore, FileStore, MemoryStore, Policy, TeamStore};
pub use download::DownloadLimits;
pub use engine::{
    EngineConfig, FetchEngine, FetchEvent, Fetched, Priority, QueueStats, ResultKey, ResultState,
};
pub use lists::{ListEvent, ListRequest};
pub use meter::MeterSnapshot;
pub use result::TeamShare;
