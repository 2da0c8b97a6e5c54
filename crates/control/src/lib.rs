//! faultline-control: placeholder, filled by its issue.
