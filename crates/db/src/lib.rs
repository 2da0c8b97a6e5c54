//! faultline-db: placeholder, filled by its issue.
