//! What an analyst fetches becomes evidence: the custody log of everything done with it,
//! case bundles that verify on their own, and the timeline of a sweep for the rest of the
//! case.

pub mod bundle;
pub mod custody;
pub mod timeline;
pub mod zip;
