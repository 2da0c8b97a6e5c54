//! The error every reader of a history returns: the 1-based line and what is wrong. Its own
//! module so the JSON Lines reader and the importers, which both return it, need not import
//! each other.

use crate::edn::EdnError;
use std::fmt;

/// Why a history could not be imported: the 1-based line and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// 1-based line of the problem.
    pub line: u32,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ImportError {}

impl From<EdnError> for ImportError {
    fn from(e: EdnError) -> Self {
        ImportError {
            line: e.line,
            message: e.message,
        }
    }
}

/// What a reader says of `what` (a line, a form, an operation) longer than `max_bytes`
/// because reading it could take more than `memory_limit` bytes.
pub fn too_long_message(what: &str, max_bytes: usize, memory_limit: usize) -> String {
    format!(
        "{what} longer than {}: reading it could take more than the memory limit of {} MB; raise --memory-limit to read it",
        mb(max_bytes),
        memory_limit >> 20
    )
}

/// `bytes` in MB for a message, or in bytes below one MB.
fn mb(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}
