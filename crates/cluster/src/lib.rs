//! faultline-cluster: placeholder, filled by its issue.
