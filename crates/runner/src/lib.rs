//! faultline-runner: placeholder, filled by its issue.
