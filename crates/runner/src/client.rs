//! The client seam: workloads supply clients as trait objects; the runner never judges them.

use crate::generator::Op;
use async_trait::async_trait;
use serde_json::Value;

/// How one client call ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// Took effect; the value is the result (for a read, what was read).
    Ok(Value),
    /// Definitely did not take effect; the value is the error.
    Fail(Value),
    /// May or may not have taken effect (timeout, connection lost); the value is the error.
    /// The worker continues under a new process id with a freshly opened client.
    Info(Value),
}

/// A connection to one node, used by one worker at a time.
#[async_trait]
pub trait Client: Send {
    /// Performs `op` against the database. The runner bounds it with the op timeout and
    /// records a timeout as `info`; the call may be dropped (cancelled) at any await point.
    async fn invoke(&mut self, op: &Op) -> Completion;

    /// The node that served the last call, when it is not the node the client was opened
    /// on (e.g. a Redis client that follows the primary); the runner records it as the
    /// completion's `node`.
    fn served_by(&self) -> Option<String> {
        None
    }

    /// Releases the connection; called after an `info` and at the end of the run.
    async fn close(&mut self) {}
}

/// Opens clients: one per worker, again after each `info`.
#[async_trait]
pub trait ClientFactory: Send + Sync {
    /// A client connected to `node`, or a one-line reason it could not connect.
    async fn open(&self, node: &str) -> Result<Box<dyn Client>, String>;
}
