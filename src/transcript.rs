//! The UI-free document model for result payloads: decoding and sanitising (and, for the
//! viewer, highlighting and search). The CLI's text output uses the same sanitiser.

pub mod decode;
pub mod document;
pub mod highlight;
pub mod highlighter;
pub mod indent;
pub mod indicators;
pub mod line;
pub mod search;
pub mod tokens;
