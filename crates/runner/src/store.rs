//! The store: one directory per run, `store/<test-name>/<timestamp>/`, holding
//! `history.jsonl`, `test.json` (the full configuration and seed) and `faultline.log`,
//! with `store/latest` pointing at the most recent run.

use serde::Serialize;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
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

    /// Sends this process's `tracing` events to the run's log file. Only the first call in a
    /// process installs a subscriber; later calls return `Ok(false)`.
    pub fn install_log(&self) -> io::Result<bool> {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        Ok(tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init()
            .is_ok())
    }
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
    fn the_run_log_receives_tracing_events() {
        let store = tempfile::tempdir().unwrap();
        let dir = create_run_dir(store.path(), "log", SystemTime::now()).unwrap();
        assert!(dir.install_log().unwrap());
        tracing::warn!("nemesis start-kill failed: n2 unreachable");
        assert!(
            !dir.install_log().unwrap(),
            "only the first run of a process installs"
        );
        let text = fs::read_to_string(dir.log_path()).unwrap();
        assert!(
            text.contains("WARN") && text.contains("start-kill failed: n2 unreachable"),
            "{text}"
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
