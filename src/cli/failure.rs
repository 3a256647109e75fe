//! How a command ends: its failure and the exit status it maps to, and writing output that
//! can fail (a closed pipe is not a failure of ours).

use unicode_width::UnicodeWidthStr as _;

use crate::api::ApiError;
use crate::sanitize;
use crate::session::SessionError;

/// A command's failure, with the exit status it maps to.
#[derive(Debug)]
pub enum Failure {
    /// Exit 2: the user can fix the invocation or configuration.
    Usage(String),
    /// Exit 1: the service, the network or the data.
    Runtime(String),
    /// Exit 3: the command ran and found what `--fail-on-nonzero` asks about.
    Findings(String),
    /// Exit 130 (the shell's code for Ctrl-C): the analyst stopped the command, after it
    /// printed what it had.
    Interrupted(String),
    /// Exit 0, said nothing: whoever read the output stopped reading (`| head`). Returned,
    /// not exited on the spot, so the session cleans up after itself (the demo's scratch).
    ReaderGone,
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Runtime(_) => 1,
            Self::Findings(_) => 3,
            Self::Interrupted(_) => 130,
            Self::ReaderGone => 0,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Usage(message)
            | Self::Runtime(message)
            | Self::Findings(message)
            | Self::Interrupted(message) => message,
            Self::ReaderGone => "",
        }
    }
}

impl From<SessionError> for Failure {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Config(error) => Self::Usage(error.to_string()),
            // A wrong password, TLS or a server without scripts: configuration to fix.
            SessionError::Team(error) => Self::Usage(error.to_string()),
            other => Self::Runtime(other.to_string()),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::MissingCredentials(message) => Self::Usage(message),
            other => Self::Runtime(other.to_string()),
        }
    }
}

/// One JSON value as a line, with invisible and control characters escaped, so `--json` to
/// a terminal is as inert as the text output.
pub(crate) fn write_json_line(
    out: &mut impl std::io::Write,
    value: &impl serde::Serialize,
) -> Result<(), Failure> {
    let text = serde_json::to_string(value).map_err(|e| Failure::Runtime(e.to_string()))?;
    writeln!(out, "{}", sanitize::json_for_terminal(&text)).map_err(|e| io_failure(&e))
}

pub(crate) fn io_failure(error: &std::io::Error) -> Failure {
    // A closed pipe (`| head`) is not a failure of ours.
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        return Failure::ReaderGone;
    }
    Failure::Runtime(format!("could not write the output: {error}"))
}

/// Pads or cuts sanitised text to a display width.
pub(crate) fn cell(text: &str, width: usize) -> String {
    let clean = sanitize::line(text);
    let mut out = String::new();
    let mut used = 0;
    for c in clean.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width {
            if width > 0 {
                out.pop();
                out.push('…');
            }
            return out;
        }
        used += w;
        out.push(c);
    }
    out.push_str(&" ".repeat(width.saturating_sub(out.width())));
    out
}
