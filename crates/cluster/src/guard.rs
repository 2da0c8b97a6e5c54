//! The cleanup guard: whatever happens, a run leaves nothing behind.
//!
//! A [`CleanupGuard`] learns what a run creates as it creates it (the compose project, the
//! nodes, the database, files) and undoes it when dropped: on success, on error, on panic
//! (unwinding), and on SIGINT, SIGTERM or SIGHUP, for which it installs the process's
//! handler. Undoing means: heal the network (only faultline's iptables chain), resume
//! paused daemons, reset clock offsets, then take the cluster down (`docker-compose down`
//! plus a sweep of anything still labelled with the project; on real hosts, the database's
//! teardown). With `keep_cluster` only the faults are undone and the cluster stays up.

use crate::proc::{interrupted_by, remove_all_scratch, set_interrupted, stop_children};
use faultline_control::Node;
use faultline_db::Db;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Duration;

static GUARDS: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());
static HOOKS: Mutex<Vec<Box<dyn Fn() + Send>>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();
/// Held by the signal thread from the moment a signal arrives until it exits the process.
static HANDLING: Mutex<()> = Mutex::new(());

/// The exit status after a SIGINT-triggered cleanup (128 + SIGINT, as a shell reports it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Runs `hook` first when a signal arrives, before guards clean up (e.g. to flush a history).
pub fn on_interrupt(hook: Box<dyn Fn() + Send>) {
    install_handler();
    HOOKS.lock().unwrap_or_else(|p| p.into_inner()).push(hook);
}

/// Installs the SIGINT/SIGTERM/SIGHUP handling that cleans up (once per process).
///
/// A thread waits for the signals (signal-hook's iterator, so the work is done outside the
/// async-signal context); on the first one it stops the child processes, cleans every guard
/// and exits with 128 + the signal. Child tools run in their own process groups
/// ([`crate::proc`], [`faultline_control::run_process`]), so a terminal's Ctrl-C reaches
/// faultline alone and a `docker-compose down` under way is not cut short.
pub(crate) fn install_handler() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    HANDLER.call_once(|| {
        let started = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).and_then(
            |mut signals| {
                std::thread::Builder::new()
                    .name("faultline-signals".into())
                    .spawn(move || {
                        if let Some(signal) = signals.forever().next() {
                            handle_signal(signal);
                        }
                    })
                    .map(drop)
            },
        );
        if let Err(e) = started {
            eprintln!(
                "faultline: cannot install the signal handler, so a signal would skip cleanup: {e}"
            );
        }
    });
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

fn handle_signal(signal: i32) -> ! {
    let _handling = HANDLING.lock().unwrap_or_else(|p| p.into_inner());
    set_interrupted(signal);
    clean_after_signal(signal);
    std::process::exit(128 + signal);
}

/// Everything a signal's cleanup does, said in the run's log (faultline.log) as well as on
/// stderr: that the run was interrupted, and what was cleaned (each hook, each guard's
/// cleanup, logs its own part).
fn clean_after_signal(signal: i32) {
    let name = signal_name(signal);
    eprintln!("faultline: interrupted by {name}: cleaning up");
    tracing::warn!("interrupted by {name}: the run stops here; cleaning up");
    for hook in HOOKS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        hook();
    }
    stop_children(Duration::from_secs(10));
    remove_all_scratch();
    let guards: Vec<Arc<Inner>> = GUARDS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let mut problems = Vec::new();
    for g in guards {
        // A cleanup the main thread has begun holds the guard's lock: this waits for it.
        problems.extend(g.cleanup());
    }
    for problem in &problems {
        eprintln!("faultline: cleanup: {problem}");
    }
    tracing::warn!(
        "interrupted by {name}: cleanup finished ({}); exiting with {}",
        if problems.is_empty() {
            "no problems".to_string()
        } else {
            format!("problems: {}", problems.join("; "))
        },
        128 + signal
    );
}

/// If a signal arrived, waits until its cleanup is done and returns 128 + the signal (the
/// signal thread normally exits the process first). `main` calls this before it exits, so
/// a run that ends while a signal's cleanup is under way cannot exit 0 before it is done.
pub fn exit_code_after_signal() -> Option<i32> {
    let signal = interrupted_by()?;
    // The signal thread took this lock before recording the signal and exits while holding it.
    let _wait = HANDLING.lock().unwrap_or_else(|p| p.into_inner());
    Some(128 + signal)
}

/// What a cleanup must undo.
#[derive(Default)]
struct Plan {
    /// The compose project and its file, for a Docker cluster.
    project: Option<(String, PathBuf)>,
    /// The nodes, for undoing faults (and, on real hosts, the database).
    nodes: Vec<Node>,
    /// The database, torn down on real hosts.
    db: Option<Arc<dyn Db>>,
    /// Files and directories removed after the cluster is down.
    paths: Vec<PathBuf>,
}

struct Inner {
    plan: Mutex<Plan>,
    /// Held for the whole cleanup; true once it ran.
    done: Mutex<bool>,
    armed: AtomicBool,
    keep_cluster: bool,
}

/// Undoes a run's faults and takes its cluster down when dropped or on a signal.
pub struct CleanupGuard {
    inner: Arc<Inner>,
}

impl CleanupGuard {
    /// A guard with nothing to clean yet. With `keep_cluster`, cleanup undoes faults but
    /// leaves the cluster up.
    pub fn new(keep_cluster: bool) -> Self {
        install_handler();
        let inner = Arc::new(Inner {
            plan: Mutex::new(Plan::default()),
            done: Mutex::new(false),
            armed: AtomicBool::new(true),
            keep_cluster,
        });
        let mut guards = GUARDS.lock().unwrap_or_else(|p| p.into_inner());
        guards.retain(|g| g.strong_count() > 0);
        guards.push(Arc::downgrade(&inner));
        CleanupGuard { inner }
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.inner.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the compose project (call before `docker-compose up`).
    pub fn track_project(&self, project: &str, compose_file: PathBuf) {
        self.plan().project = Some((project.to_string(), compose_file));
    }

    /// Records the nodes whose faults cleanup undoes.
    pub fn track_nodes(&self, nodes: &[Node]) {
        self.plan().nodes = nodes.to_vec();
    }

    /// Records the database (torn down on real hosts when the cluster goes down).
    pub fn track_db(&self, db: Arc<dyn Db>) {
        self.plan().db = Some(db);
    }

    /// Records a file or directory to remove once the cluster is down.
    pub fn track_path(&self, path: PathBuf) {
        self.plan().paths.push(path);
    }

    /// Leaves everything as it is: the guard will do nothing (e.g. `cluster up` succeeded).
    pub fn disarm(&self) {
        self.inner.armed.store(false, Ordering::SeqCst);
    }

    /// Cleans up now (once; later calls and the drop do nothing). Returns the problems met;
    /// every step is tried regardless.
    pub fn cleanup(&self) -> Vec<String> {
        self.inner.cleanup()
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        for problem in self.inner.cleanup() {
            eprintln!("faultline: cleanup: {problem}");
        }
    }
}

impl Inner {
    fn cleanup(&self) -> Vec<String> {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        if *done || !self.armed.load(Ordering::SeqCst) {
            return Vec::new();
        }
        *done = true;
        let plan = self.plan.lock().unwrap_or_else(|p| p.into_inner());
        let mut problems = Vec::new();
        let docker = plan.project.is_some();
        let mut cleaned = Vec::new();
        // Containers that are about to be removed take their faults with them.
        if self.keep_cluster || !docker {
            problems.extend(restore_nodes(&plan.nodes));
            if !plan.nodes.is_empty() {
                cleaned.push(format!("faults undone on {} node(s)", plan.nodes.len()));
            }
        }
        if !self.keep_cluster {
            if let Some((project, file)) = &plan.project {
                problems.extend(compose_down(project, file));
                cleaned.push(format!("cluster {project} taken down"));
            } else if let Some(db) = &plan.db {
                if let Err(e) = faultline_db::teardown_all(db.as_ref(), &plan.nodes) {
                    problems.push(format!("database teardown: {e}"));
                }
                cleaned.push(format!("{} torn down", db.name()));
            }
            for path in &plan.paths {
                let r = if path.is_dir() {
                    std::fs::remove_dir_all(path)
                } else {
                    std::fs::remove_file(path)
                };
                if let Err(e) = r {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        problems.push(format!("removing {}: {e}", path.display()));
                    }
                }
                cleaned.push(format!("removed {}", path.display()));
            }
        }
        if cleaned.is_empty() {
            cleaned.push("nothing to undo".into());
        }
        tracing::info!("cleanup: {}", cleaned.join(", "));
        problems
    }
}

/// Undoes faults on all nodes in parallel.
pub(crate) fn restore_nodes(nodes: &[Node]) -> Vec<String> {
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| {
                s.spawn(move || {
                    faultline_control::faults::restore_node(n.remote.as_ref())
                        .err()
                        .map(|e| format!("{}: {e}", n.name))
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect()
    })
}

/// `docker-compose down`, then removes any container or network still labelled with the
/// project (e.g. one a killed `up` was creating).
pub fn compose_down(project: &str, compose_file: &std::path::Path) -> Vec<String> {
    let mut problems = Vec::new();
    if compose_file.exists() {
        let mut cmd = Command::new("docker-compose");
        cmd.args(["-p", project, "-f"])
            .arg(compose_file)
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .env("FAULTLINE_IMAGE", "unused-by-down")
            .env("FAULTLINE_AUTHORIZED_KEY", "");
        match run_untracked_ok(&mut cmd, Duration::from_secs(120)) {
            Ok(_) => {}
            Err(e) => problems.push(format!("docker-compose down: {e}")),
        }
    }
    let label = format!("label=com.docker.compose.project={project}");
    match docker_lines(&["ps", "-aq", "--filter", &label]) {
        Ok(ids) if !ids.is_empty() => {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            if let Err(e) =
                run_untracked_ok(Command::new("docker").args(&args), Duration::from_secs(60))
            {
                problems.push(format!("removing containers: {e}"));
            }
        }
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    match docker_lines(&["network", "ls", "-q", "--filter", &label]) {
        Ok(ids) if !ids.is_empty() => {
            let mut args = vec!["network", "rm"];
            args.extend(ids.iter().map(String::as_str));
            if let Err(e) =
                run_untracked_ok(Command::new("docker").args(&args), Duration::from_secs(60))
            {
                problems.push(format!("removing networks: {e}"));
            }
        }
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    problems
}

/// Runs a cleanup command even after an interrupt (the tracked runner refuses then).
fn run_untracked_ok(cmd: &mut Command, timeout: Duration) -> Result<String, String> {
    let out = faultline_control::run_process(cmd, b"", timeout).map_err(|e| e.to_string())?;
    if out.status != 0 {
        // One line: the last thing the tool said (a tool's traceback is no message).
        let stderr = out.stderr_text();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!(
            "exited with status {}{}",
            out.status,
            last.map(|l| format!(": {}", l.trim())).unwrap_or_default()
        ));
    }
    Ok(out.stdout_text())
}

/// The non-empty lines `docker ARGS` prints.
pub(crate) fn docker_lines(args: &[&str]) -> Result<Vec<String>, String> {
    let out = run_untracked_ok(Command::new("docker").args(args), Duration::from_secs(30))
        .map_err(|e| format!("docker {}: {e}", args.join(" ")))?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Lists the containers and networks labelled with `project` (empty: nothing left).
pub fn leftovers(project: &str) -> Result<Vec<String>, String> {
    let label = format!("label=com.docker.compose.project={project}");
    let mut left: Vec<String> = docker_lines(&["ps", "-aq", "--filter", &label])?
        .into_iter()
        .map(|c| format!("container {c}"))
        .collect();
    left.extend(
        docker_lines(&["network", "ls", "-q", "--filter", &label])?
            .into_iter()
            .map(|n| format!("network {n}")),
    );
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_in(dir: &std::path::Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "x").unwrap();
        p
    }

    #[test]
    fn a_panic_still_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_in(dir.path(), "record");
        let tracked = f.clone();
        let result = std::panic::catch_unwind(move || {
            let g = CleanupGuard::new(false);
            g.track_path(tracked);
            panic!("the run failed");
        });
        assert!(result.is_err());
        assert!(!f.exists(), "the guard did not clean up during unwinding");
    }

    #[test]
    fn disarmed_or_keep_cluster_guards_leave_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let kept = file_in(dir.path(), "kept");
        let g = CleanupGuard::new(false);
        g.track_path(kept.clone());
        g.disarm();
        drop(g);
        assert!(kept.exists());

        let g = CleanupGuard::new(true);
        g.track_path(kept.clone());
        assert!(g.cleanup().is_empty());
        assert!(kept.exists(), "keep_cluster removed the cluster's files");
    }

    /// The log as a test sees it.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_signal_says_in_the_log_that_the_run_was_interrupted_and_what_was_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_in(dir.path(), "record");
        let g = CleanupGuard::new(false);
        g.track_path(f.clone());
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || clean_after_signal(libc::SIGINT));
        assert!(!f.exists());
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("interrupted by SIGINT: the run stops here"),
            "{text}"
        );
        assert!(
            text.contains(&format!("cleanup: removed {}", f.display())),
            "{text}"
        );
        assert!(
            text.contains(
                "interrupted by SIGINT: cleanup finished (no problems); exiting with 130"
            ),
            "{text}"
        );
    }

    #[test]
    fn cleanup_runs_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_in(dir.path(), "once");
        let g = CleanupGuard::new(false);
        g.track_path(f.clone());
        assert!(g.cleanup().is_empty());
        assert!(!f.exists());
        std::fs::write(&f, "again").unwrap();
        assert!(g.cleanup().is_empty());
        drop(g);
        assert!(f.exists(), "a second cleanup ran");
    }
}
