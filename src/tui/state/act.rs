//! The run dialog (`X`) and the cancel dialog (`C`): what the analyst has typed and chosen,
//! and how far the run has got. Plain data, drawn by `panes::act` and changed by
//! `update::act`.

use crate::act::Preview;
use crate::api::act::LibraryFile;

/// The live response library as the dialog knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Library {
    Loading,
    Ready(Vec<LibraryFile>),
    /// It could not be read (no `Library.Manage`): the script name is typed instead.
    Unavailable(String),
}

/// The field that takes the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Script,
    Args,
    Comment,
}

impl Field {
    #[must_use]
    pub fn next(self) -> Self {
        match self {
            Self::Script => Self::Args,
            Self::Args => Self::Comment,
            Self::Comment => Self::Script,
        }
    }

    #[must_use]
    pub fn previous(self) -> Self {
        self.next().next()
    }
}

/// How far the run has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStage {
    /// Choosing the script and writing args and comment.
    Editing,
    /// Machines, library and active sessions being looked up.
    Preparing,
    /// The preview is up; the analyst types the machine count to start.
    Confirming(Box<Preview>),
    /// Posting, machine by machine: the lines said so far.
    Launching { total: usize, lines: Vec<String> },
    /// Every machine has been tried.
    Done { lines: Vec<String> },
}

/// A machine the run is for: its id, and its name as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTarget {
    pub machine_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDialog {
    pub targets: Vec<RunTarget>,
    /// Opened from the review: the new actions join it.
    pub from_review: bool,
    pub library: Library,
    /// Typed in the script field: filters the library (or is the name, without one).
    pub script: String,
    /// The library file chosen among those the filter leaves.
    pub selected: usize,
    pub args: String,
    pub comment: String,
    pub field: Field,
    pub stage: RunStage,
    /// The confirmation typed so far.
    pub typed: String,
    /// Why the last Enter did nothing.
    pub problem: Option<String>,
}

impl RunDialog {
    pub fn new(targets: Vec<RunTarget>, from_review: bool, comment: String) -> Self {
        Self {
            targets,
            from_review,
            library: Library::Loading,
            script: String::new(),
            selected: 0,
            args: String::new(),
            comment,
            field: Field::Script,
            stage: RunStage::Editing,
            typed: String::new(),
            problem: None,
        }
    }

    /// The library's scripts whose name contains what was typed (ignoring case); tools
    /// (`.exe`, data) are for `PutFile`, not to be run.
    pub fn matching(&self) -> Vec<&LibraryFile> {
        let Library::Ready(files) = &self.library else {
            return Vec::new();
        };
        let needle = self.script.to_lowercase();
        files
            .iter()
            .filter(|f| is_script(&f.file_name))
            .filter(|f| f.file_name.to_lowercase().contains(&needle))
            .collect()
    }

    /// The script to run: the file chosen in the library, or what was typed without one.
    pub fn chosen_script(&self) -> Option<String> {
        match &self.library {
            Library::Ready(_) => self
                .matching()
                .get(self.selected)
                .map(|file| file.file_name.clone()),
            Library::Loading | Library::Unavailable(_) => {
                Some(self.script.trim().to_string()).filter(|s| !s.is_empty())
            }
        }
    }

    /// The text of the field that has the keys.
    pub fn field_text(&mut self) -> &mut String {
        match self.field {
            Field::Script => &mut self.script,
            Field::Args => &mut self.args,
            Field::Comment => &mut self.comment,
        }
    }
}

/// `C` on a pending or running action: the comment to cancel it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelDialog {
    pub action_id: String,
    pub machine: String,
    pub status: String,
    pub requestor: String,
    pub comment: String,
    /// Sent; the answer has not come yet.
    pub sending: bool,
}

/// What live response runs: PowerShell on Windows, shell (or Python) scripts elsewhere.
fn is_script(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".ps1", ".sh", ".bash", ".py"]
        .iter()
        .any(|extension| lower.ends_with(extension))
}
