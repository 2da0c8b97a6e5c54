//! The store: one directory per run, `store/<test-name>/<timestamp>/`, holding
//! `history.jsonl`, `test.json` (the full configuration and seed) and `faultline.log`,
//! with `store/latest` pointing at the most recent run.

use serde::Serialize;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The history file's name in a run directory.
pub const HISTORY_FILE: &str = "history.jsonl";
/// The configuration file's name in a run directory.
pub const TEST_FILE: &str = "test.json";
/// The run log's name in a run directory.
pub const LOG_FILE: &str = "faultline.log";
/// The symlink to the most recent run, in the store root.
pub const LATEST: &str = "latest";

/// One run's directory in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    /// The directory itself.
    pub path: PathBuf,
    /// Its timestamp component, e.g. `20260101T120000.123Z`.
    pub timestamp: String,
}

impl RunDir {
    /// Where the history goes.
    pub fn history_path(&self) -> PathBuf {
        self.path.join(HISTORY_FILE)
    }

    /// Where the configuration goes.
    pub fn test_json_path(&self) -> PathBuf {
        self.path.join(TEST_FILE)
    }

    /// Where the run's log goes.
    pub fn log_path(&self) -> PathBuf {
        self.path.join(LOG_FILE)
    }

    /// Writes `config` (the full configuration, seed included) as pretty JSON to `test.json`.
    pub fn write_test_json<T: Serialize>(&self, config: &T) -> io::Result<()> {
        let text = serde_json::to_string_pretty(config).map_err(io::Error::other)?;
        fs::write(self.test_json_path(), text + "\n")
    }

    /// Sends this process's `tracing` events to this run's log file from now on: the first
    /// call installs the subscriber (see [`begin_log`]) and moves what was logged before any
    /// run dir existed (cluster setup) into this file; a later run's call switches the log
    /// to that run's file, so with `--test-count` above 1 each run has its own log.
    pub fn install_log(&self) -> io::Result<()> {
        begin_log();
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut target = LOG.lock().unwrap_or_else(|p| p.into_inner());
        if let LogTarget::Buffer(early) = &*target {
            file.write_all(early)?;
        }
        *target = LogTarget::File(file);
        Ok(())
    }
}

/// Where `tracing` events go: memory until the first run dir exists, then its log file.
enum LogTarget {
    Buffer(Vec<u8>),
    File(fs::File),
}

static LOG: Mutex<LogTarget> = Mutex::new(LogTarget::Buffer(Vec::new()));
/// What the early buffer may hold; past it, early events are dropped (never unbounded).
const EARLY_LOG_LIMIT: usize = 8 << 20;

/// The writer the subscriber formats into: the current [`LogTarget`].
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut *LOG.lock().unwrap_or_else(|p| p.into_inner()) {
            LogTarget::Buffer(b) => {
                if b.len() + buf.len() <= EARLY_LOG_LIMIT {
                    b.extend_from_slice(buf);
                }
                Ok(buf.len())
            }
            LogTarget::File(f) => f.write_all(buf).map(|()| buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut *LOG.lock().unwrap_or_else(|p| p.into_inner()) {
            LogTarget::Buffer(_) => Ok(()),
            LogTarget::File(f) => f.flush(),
        }
    }
}

/// Starts recording this process's `tracing` events (faultline's own from debug up, other
/// crates' warnings and errors, with UTC times) in memory, for the first run's
/// `faultline.log`. Call it before the cluster is set up; later calls do nothing. Returns
/// false if another subscriber was already installed.
pub fn begin_log() -> bool {
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // "faultline" matches every faultline crate's targets (faultline_runner::run...).
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("faultline", tracing::Level::DEBUG)
            .with_default(tracing::Level::WARN);
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(|| LogWriter)
                    .with_ansi(false)
                    .with_filter(filter),
            )
            .try_init()
            .is_ok()
    })
}

/// A UTC timestamp safe in file names: `YYYYMMDDTHHMMSS.mmmZ`.
pub fn timestamp(at: SystemTime) -> String {
    let t = time::OffsetDateTime::from(at);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Creates `store/<test_name>/<timestamp>/` for a run started at `started`, and points
/// `store/latest` at it. Two runs in the same millisecond get `-1`, `-2`, ... suffixes.
pub fn create_run_dir(store: &Path, test_name: &str, started: SystemTime) -> io::Result<RunDir> {
    if test_name.is_empty()
        || test_name.starts_with('.')
        || test_name.contains(['/', '\\'])
        || test_name == LATEST
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("test name {test_name:?} cannot be a store directory name (no '/', no leading '.', not \"latest\")"),
        ));
    }
    let test_dir = store.join(test_name);
    fs::create_dir_all(&test_dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create {}: {e}", test_dir.display()),
        )
    })?;
    let base = timestamp(started);
    let mut stamp = base.clone();
    let mut n = 0;
    let path = loop {
        let candidate = test_dir.join(&stamp);
        match fs::create_dir(&candidate) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                n += 1;
                stamp = format!("{base}-{n}");
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create {}: {e}", candidate.display()),
                ))
            }
        }
    };
    point_latest(store, &Path::new(test_name).join(&stamp))?;
    Ok(RunDir {
        path,
        timestamp: stamp,
    })
}

/// Atomically replaces `store/latest` with a relative symlink to `target`.
fn point_latest(store: &Path, target: &Path) -> io::Result<()> {
    let tmp = store.join(format!(".{LATEST}.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, &tmp)?;
    #[cfg(not(unix))]
    return Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the store needs symlinks (unix)",
    ));
    fs::rename(&tmp, store.join(LATEST)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot update {}/latest: {e}", store.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn each_run_logs_to_its_own_file_and_the_first_gets_the_setup() {
        let store = tempfile::tempdir().unwrap();
        assert!(begin_log());
        tracing::info!("setting up etcd on 5 nodes");
        let first = create_run_dir(store.path(), "log", SystemTime::now()).unwrap();
        first.install_log().unwrap();
        tracing::warn!("nemesis start-kill failed: n2 unreachable");
        let second = create_run_dir(store.path(), "log", SystemTime::now()).unwrap();
        second.install_log().unwrap();
        tracing::info!("run two's nemesis: start-partition");
        let one = fs::read_to_string(first.log_path()).unwrap();
        let two = fs::read_to_string(second.log_path()).unwrap();
        assert!(one.contains("setting up etcd on 5 nodes"), "{one}");
        assert!(
            one.contains("WARN") && one.contains("start-kill failed: n2 unreachable"),
            "{one}"
        );
        assert!(!one.contains("run two's"), "{one}");
        assert!(two.contains("run two's nemesis"), "{two}");
        assert!(
            !two.contains("setting up") && !two.contains("start-kill"),
            "{two}"
        );
    }

    #[test]
    fn timestamps_are_utc_and_sortable() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(timestamp(t), "20231114T221320.123Z");
    }

    #[test]
    fn run_dirs_are_unique_and_latest_follows() {
        let store = tempfile::tempdir().unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let a = create_run_dir(store.path(), "etcd-register", t).unwrap();
        assert_eq!(
            a.path,
            store.path().join("etcd-register/20231114T221320.000Z")
        );
        a.write_test_json(&serde_json::json!({"seed": 7})).unwrap();
        let b = create_run_dir(store.path(), "etcd-register", t).unwrap();
        assert_eq!(b.timestamp, "20231114T221320.000Z-1");
        let latest = store.path().join("latest");
        assert_eq!(
            fs::read_link(&latest).unwrap(),
            Path::new("etcd-register/20231114T221320.000Z-1")
        );
        assert!(latest.join(".").is_dir());
        let c = create_run_dir(store.path(), "redis", t).unwrap();
        assert_eq!(
            fs::canonicalize(&latest).unwrap(),
            fs::canonicalize(&c.path).unwrap()
        );
        let text = fs::read_to_string(a.test_json_path()).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["seed"],
            7
        );
        for bad in ["", "../x", "a/b", "latest", ".hidden"] {
            let e = create_run_dir(store.path(), bad, t).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }
}
