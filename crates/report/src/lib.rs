//! faultline-report: placeholder, filled by its issue.
