//! Where faultline keeps what a cluster needs and no one else may read: keys, known_hosts,
//! compose files and records, in one directory only the user can read (0700), outside any
//! store `faultline serve` shows.
//!
//! The root is `$FAULTLINE_STATE_DIR`, else `$XDG_STATE_HOME/faultline`, else
//! `~/.local/state/faultline` (the XDG base-directory default). Under it:
//!
//! - `cluster/`: the cluster of `faultline cluster up` (its `cluster.json`, key pair...);
//! - `runs/<project>/`: one directory per `faultline test` cluster, with an [`Owner`] record
//!   (`owner.json`) written before anything is started, so `faultline clean` can tell a
//!   cluster whose run is gone from one whose run still goes;
//! - `known_hosts`: host keys of existing hosts, trusted on first use.

use serde::{Deserialize, Serialize};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The owner record's file name in a run's state directory.
pub const OWNER_FILE: &str = "owner.json";

/// The state root: `$FAULTLINE_STATE_DIR`, else `$XDG_STATE_HOME/faultline`, else
/// `$HOME/.local/state/faultline`, else `/tmp/faultline-<uid>` (no home at all).
pub fn state_root() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("FAULTLINE_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(xdg) = var("XDG_STATE_HOME").map(PathBuf::from) {
        // The XDG spec: a relative path is invalid and must be ignored.
        if xdg.is_absolute() {
            return xdg.join("faultline");
        }
    }
    if let Some(home) = var("HOME") {
        return PathBuf::from(home).join(".local/state/faultline");
    }
    // SAFETY: getuid(2) cannot fail.
    PathBuf::from(format!("/tmp/faultline-{}", unsafe { libc::getuid() }))
}

/// The directory of `faultline cluster`'s own cluster under `root`.
pub fn cluster_dir(root: &Path) -> PathBuf {
    root.join("cluster")
}

/// The directory holding one directory per test run's cluster under `root`.
pub fn runs_dir(root: &Path) -> PathBuf {
    root.join("runs")
}

/// Creates `dir` (and missing parents) readable by the user alone: each directory this
/// call creates gets mode 0700, and `dir` itself is set to 0700 if it already existed.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot restrict {}: {e}", dir.display())))
}

/// Who made a test run's cluster: the process, identified so that a later process with the
/// same pid is not taken for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The compose project (or host-set name) of the cluster.
    pub project: String,
    /// The owning `faultline test` process.
    pub pid: u32,
    /// Its start time, in clock ticks after boot (`/proc/<pid>/stat`, field 22).
    pub start_ticks: u64,
    /// The kernel's boot id: a pid of an earlier boot never matches.
    pub boot_id: String,
    /// The run left the cluster up on purpose (`--keep-cluster`): never cleaned.
    #[serde(default)]
    pub kept: bool,
}

impl Owner {
    /// The record for this process owning `project`.
    pub fn this_process(project: &str) -> io::Result<Owner> {
        let pid = std::process::id();
        Ok(Owner {
            project: project.to_string(),
            pid,
            start_ticks: start_ticks(pid)?,
            boot_id: boot_id(),
            kept: false,
        })
    }

    /// True while the owning process runs (same pid, same start time, same boot).
    pub fn is_alive(&self) -> bool {
        self.boot_id == boot_id() && start_ticks(self.pid).is_ok_and(|t| t == self.start_ticks)
    }

    /// Writes the record into `dir` (atomically: a reader sees all of it or none).
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let path = dir.join(OWNER_FILE);
        let tmp = dir.join(format!(".{OWNER_FILE}.tmp"));
        let json = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, json + "\n")?;
        std::fs::rename(&tmp, &path)
    }

    /// Reads the record in `dir`.
    pub fn read(dir: &Path) -> io::Result<Owner> {
        let text = std::fs::read_to_string(dir.join(OWNER_FILE))?;
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// A process's start time in clock ticks after boot, from `/proc/<pid>/stat`.
pub fn start_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_start_ticks(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat: no start time"),
        )
    })
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and
/// may itself hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // rest starts at field 3 (state); field 22 is the 20th after it.
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The record of one test run's cluster found under the state root.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The run's state directory, `<root>/runs/<project>`.
    pub dir: PathBuf,
    /// Its owner, if the record could be read.
    pub owner: Option<Owner>,
}

impl RunRecord {
    /// The compose project: the directory's name.
    pub fn project(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// True if the run that made this cluster is gone and did not keep it on purpose.
    pub fn is_abandoned(&self) -> bool {
        self.owner
            .as_ref()
            .is_some_and(|o| !o.kept && !o.is_alive())
    }
}

/// Every test run's record under `root`, by project name.
pub fn run_records(root: &Path) -> Vec<RunRecord> {
    let Ok(entries) = std::fs::read_dir(runs_dir(root)) else {
        return Vec::new();
    };
    let mut records: Vec<RunRecord> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| RunRecord {
            owner: Owner::read(&e.path()).ok(),
            dir: e.path(),
        })
        .collect();
    records.sort_by_key(|r| r.dir.clone());
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_read_past_a_command_name_with_spaces_and_parens() {
        let stat =
            "4242 (a b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50";
        assert_eq!(parse_start_ticks(stat), Some(987654));
        assert_eq!(parse_start_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = Owner::this_process("faultline-test").unwrap();
        assert!(me.is_alive());
        // The same pid with another start time is another process: the owner is gone.
        let reused = Owner {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(!reused.is_alive());
        let other_boot = Owner {
            boot_id: "another-boot".into(),
            ..me.clone()
        };
        assert!(!other_boot.is_alive());
        // A process that has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let ticks = start_ticks(pid).unwrap_or(0);
        child.wait().unwrap();
        let gone = Owner {
            pid,
            start_ticks: ticks,
            ..me
        };
        assert!(!gone.is_alive());
    }

    #[test]
    fn records_round_trip_and_kept_or_live_runs_are_not_abandoned() {
        let root = tempfile::tempdir().unwrap();
        let me = Owner::this_process("faultline-1-aaa").unwrap();
        for (project, owner) in [
            ("faultline-1-aaa", Some(me.clone())),
            (
                "faultline-2-bbb",
                Some(Owner {
                    start_ticks: me.start_ticks + 7,
                    ..me.clone()
                }),
            ),
            (
                "faultline-3-ccc",
                Some(Owner {
                    start_ticks: me.start_ticks + 7,
                    kept: true,
                    ..me.clone()
                }),
            ),
            ("faultline-4-ddd", None),
        ] {
            let dir = runs_dir(root.path()).join(project);
            private_dir(&dir).unwrap();
            if let Some(o) = owner {
                o.write(&dir).unwrap();
            }
        }
        let records = run_records(root.path());
        let abandoned: Vec<String> = records
            .iter()
            .filter(|r| r.is_abandoned())
            .map(RunRecord::project)
            .collect();
        assert_eq!(abandoned, ["faultline-2-bbb"]);
        assert_eq!(records[0].owner.as_ref(), Some(&me));
        assert!(records[3].owner.is_none());
    }

    #[test]
    fn private_dirs_are_0700_even_if_they_existed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let fresh = root.path().join("c/d");
        private_dir(&fresh).unwrap();
        for d in [root.path().join("c"), fresh] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
    }

    #[test]
    fn the_root_follows_the_environment() {
        // One test touches the environment, so no other test in this binary races it.
        std::env::set_var("FAULTLINE_STATE_DIR", "/x/state");
        assert_eq!(state_root(), PathBuf::from("/x/state"));
        std::env::remove_var("FAULTLINE_STATE_DIR");
        std::env::set_var("XDG_STATE_HOME", "/x/xdg");
        assert_eq!(state_root(), PathBuf::from("/x/xdg/faultline"));
        std::env::set_var("XDG_STATE_HOME", "relative");
        std::env::set_var("HOME", "/x/home");
        assert_eq!(
            state_root(),
            PathBuf::from("/x/home/.local/state/faultline")
        );
        std::env::remove_var("XDG_STATE_HOME");
    }
}
