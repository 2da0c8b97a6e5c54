//! faultline-nemesis: placeholder, filled by its issue.
