//! The prompts and overlays that take the keyboard above the screen, and which screen is up.

/// What has the keyboard above the screen: at most one prompt or overlay at a time, so
/// which one gets a key is decided in one place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Prompt {
    #[default]
    None,
    /// Typing the actions list's filter.
    Filter,
    /// Typing a transcript search (its query lives with the search).
    Search,
    /// `:` and digits in a transcript: the line to go to.
    Goto(String),
    /// The `:` command line.
    Command(String),
    /// The key help, scrolled this far (it is longer than a 24- or 40-row terminal).
    Help { scroll: usize },
    /// `X`: a live response run being prepared, confirmed or started.
    Run(Box<super::act::RunDialog>),
    /// `C`: the comment to cancel an action with.
    Cancel(Box<super::act::CancelDialog>),
}

/// Which screen is up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// The actions, commands and transcript panes.
    #[default]
    Browse,
    /// The review of a sweep.
    Review,
    /// A transcript opened from the review: Esc goes back there.
    FromReview,
}
