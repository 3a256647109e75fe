//! The application's state, by concern, all owned by one `App`: browsing, the transcript
//! being read and its search, the prompts above them. Plain data: no file here knows `App`.

pub mod browse;
pub mod dialogs;
pub mod search;
pub mod transcript;
