//! What an analyst fetches becomes evidence: the custody log of everything done with it,
//! and the timeline of a sweep for the rest of the case.

pub mod custody;
pub mod timeline;
