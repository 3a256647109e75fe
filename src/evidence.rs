//! What an analyst fetches becomes evidence: case bundles that verify on their own, and the
//! timeline of a sweep for the rest of the case. The custody log (`crate::custody`) stands
//! apart, below the fetch engine that writes to it.

pub mod bundle;
pub mod timeline;
pub mod zip;
