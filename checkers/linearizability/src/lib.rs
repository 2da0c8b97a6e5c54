//! Linearizability checker: filled by issue 2.
