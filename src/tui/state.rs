//! The application's state, by concern, all owned by one `App`: browsing, the transcript
//! being read and its search, the prompts above them. Plain data: no file here knows `App`.

pub mod act;
pub mod browse;
pub mod dialogs;
pub mod documents;
pub mod review;
pub mod search;
pub mod transcript;

/// The first row to show so that the `selected` one stays within `height` rows.
pub(crate) fn scroll_to_show(offset: usize, selected: usize, height: usize) -> usize {
    if selected < offset {
        selected
    } else if selected >= offset + height {
        selected + 1 - height
    } else {
        offset
    }
}
