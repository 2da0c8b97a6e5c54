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
