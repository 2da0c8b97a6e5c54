//! The built-in models, one file each.

pub mod fifo_queue;
pub mod kv;
pub mod multi_register;
pub mod mutex;
pub mod register;
pub mod set;
pub mod unordered_queue;
