//! What a test tells its user while it works. The library never prints: it hands each
//! [`Notice`] to the [`Notify`] sink its caller put in the [`crate::Plan`] (quiet unless set),
//! and the CLI prints them, so a program that embeds faultline logs them or drops them.
//!
//! ```
//! use faultline_core::notice::{Notice, Notify};
//! let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
//! let keep = seen.clone();
//! let notify = Notify::new(move |n| keep.lock().unwrap().push(n));
//! notify.tell(Notice::Warning("note: a clock fault without a clock command".into()));
//! assert_eq!(seen.lock().unwrap().len(), 1);
//! ```

use std::sync::Arc;

/// One thing a test has to say while it works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// How the test is going: a run's first line, an early stop, a fallback.
    Progress(String),
    /// Something the user should know and may act on (a note, a warning, a defect).
    Warning(String),
    /// An anomaly found while the run still goes on, by the streamed or the prefix check.
    Anomaly(String),
}

/// Where a test's notices go.
#[derive(Clone)]
pub struct Notify(Arc<dyn Fn(Notice) + Send + Sync>);

impl Notify {
    /// A sink that calls `f` with each notice (from any thread).
    pub fn new(f: impl Fn(Notice) + Send + Sync + 'static) -> Notify {
        Notify(Arc::new(f))
    }

    /// A sink that drops every notice.
    pub fn quiet() -> Notify {
        Notify::new(|_| {})
    }

    /// Hands `notice` to the sink.
    pub fn tell(&self, notice: Notice) {
        (self.0)(notice)
    }

    /// [`Notice::Progress`] of `text`.
    pub fn progress(&self, text: impl Into<String>) {
        self.tell(Notice::Progress(text.into()))
    }

    /// [`Notice::Warning`] of `text`.
    pub fn warn(&self, text: impl Into<String>) {
        self.tell(Notice::Warning(text.into()))
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::quiet()
    }
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notify")
    }
}
