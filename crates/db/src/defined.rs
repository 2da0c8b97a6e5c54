//! The one [`Db`]: a database run from its [`Definition`]. Everything here is generic; what
//! differs between databases is in their `db.toml` and scripts.
//!
//! Setup uploads the definition's files and an environment file to `$FAULTLINE_DIR`, wipes
//! the data directories, runs the setup command and starts the daemons under faultline's
//! supervision ([`Daemon`]: PID file, log, optional clock shim). Kill, start, pause and
//! resume act on the first daemon's PID file, so faults need no per-database code.

use crate::daemon::Daemon;
use crate::definition::{ClientFamily, Definition, FailoverCommands};
use crate::{Db, DbError, ProcessState};
use faultline_control::{faults, quote, Node};
use std::time::{Duration, Instant};

/// The longest one run of a definition's readiness check may take.
const MAX_READY_CHECK: Duration = Duration::from_secs(10);
/// The shortest time a readiness check is given, even right at the deadline.
const MIN_READY_CHECK: Duration = Duration::from_millis(100);
/// The pause between readiness checks.
const READY_POLL: Duration = Duration::from_millis(200);

/// A database run from its definition.
#[derive(Clone, Debug)]
pub struct DefinedDb {
    def: Definition,
    /// Mount faultline-fs over the data directories (runs with storage faults only).
    faultfs: bool,
}

impl DefinedDb {
    /// The database `def` describes.
    pub fn new(def: Definition) -> Self {
        DefinedDb {
            def,
            faultfs: false,
        }
    }

    /// The same database with faultline-fs mounted over its data directories at setup (and
    /// unmounted at teardown), so storage faults can drop what was not fsynced.
    pub fn with_faultfs(mut self) -> Self {
        self.faultfs = true;
        self
    }

    /// Whether setup mounts faultline-fs over the data directories.
    pub fn uses_faultfs(&self) -> bool {
        self.faultfs
    }

    /// Its definition.
    pub fn definition(&self) -> &Definition {
        &self.def
    }

    fn env_file(&self) -> String {
        format!("{}/env", self.def.node_dir())
    }

    /// `command` with the definition's environment, for `sh -c` on a node.
    fn with_env(&self, command: &str) -> String {
        format!(". {} && {command}", quote(&self.env_file()))
    }

    fn daemons(&self) -> Vec<Daemon> {
        self.def
            .daemons
            .iter()
            .map(|d| Daemon {
                name: d.name.clone(),
                exec: "/bin/sh".into(),
                args: vec!["-c".into(), self.with_env(&format!("exec {}", d.start))],
                clock_shim: d.clock_shim,
            })
            .collect()
    }

    fn main_daemon(&self) -> Daemon {
        self.daemons().swap_remove(0)
    }

    fn node_error(node: &Node, reason: String) -> DbError {
        DbError::Node {
            node: node.name.clone(),
            reason,
        }
    }

    /// Runs a definition command on `node`: its output, or an error quoting the field.
    fn run_command(&self, node: &Node, field: &str, command: &str) -> Result<String, DbError> {
        let out = node
            .remote
            .exec(&self.with_env(command), b"", Duration::from_secs(120))?;
        if out.status == 0 {
            Ok(out.stdout_text())
        } else {
            let err = out.stderr_text();
            let last = err.lines().last().unwrap_or("").trim();
            Err(Self::node_error(
                node,
                format!(
                    "{}: {field} exited with status {}{}",
                    self.def.origin,
                    out.status,
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    }
                ),
            ))
        }
    }

    /// The error of a node that did not become ready within `timeout`.
    fn not_ready(&self, node: &Node, timeout: Duration, why: String) -> DbError {
        Self::node_error(
            node,
            format!(
                "{} not ready after {:.1} s ([ready] timeout_s): {why} (logs: {})",
                self.def.name,
                timeout.as_secs_f64(),
                self.log_files().join(", ")
            ),
        )
    }

    fn wipe_data(&self, node: &Node) -> Result<(), DbError> {
        if self.faultfs {
            node.remote
                .run(&faults::faultfs_mount_cmd(&self.def.data_dirs))?;
            return Ok(());
        }
        if self.def.data_dirs.is_empty() {
            return Ok(());
        }
        let dirs: Vec<String> = self.def.data_dirs.iter().map(|d| quote(d)).collect();
        node.remote
            .run(&format!("rm -rf {0} && mkdir -p {0}", dirs.join(" ")))?;
        Ok(())
    }
}

impl Db for DefinedDb {
    fn name(&self) -> String {
        self.def.name.clone()
    }

    fn client(&self) -> ClientFamily {
        self.def.client.clone()
    }

    fn setup(&self, node: &Node, nodes: &[Node]) -> Result<(), DbError> {
        // A second setup starts from scratch: never wipe data under a running server.
        for d in self.daemons().iter().rev() {
            d.stop(node, "KILL")?;
        }
        self.wipe_data(node)?;
        let dir = self.def.node_dir();
        // A fresh cluster: every node a member again (see faults::LEFT_CLUSTER_FILE).
        node.remote.run(&format!(
            "rm -rf {0} {1} && mkdir -p {0}",
            quote(&dir),
            faults::LEFT_CLUSTER_FILE
        ))?;
        let all: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.address.as_str()))
            .collect();
        let env: String = self
            .def
            .environment((&node.name, &node.address), &all)
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", quote(v)))
            .collect();
        node.remote.write_file(&self.env_file(), env.as_bytes())?;
        for (name, contents) in &self.def.dir_files {
            node.remote.write_file(&format!("{dir}/{name}"), contents)?;
        }
        for f in &self.def.files {
            let dest = quote(&f.dest);
            node.remote
                .run(&format!("mkdir -p \"$(dirname {dest})\""))?;
            node.remote.write_file(&f.dest, &f.contents)?;
            node.remote.run(&format!("chmod {:o} {dest}", f.mode))?;
        }
        if let Some(setup) = &self.def.setup {
            self.run_command(node, "setup.command", setup)?;
        }
        for d in self.daemons() {
            d.install(node)?;
            d.start(node)?;
        }
        Ok(())
    }

    fn await_ready(&self, nodes: &[Node], timeout: Duration) -> Result<(), DbError> {
        let deadline = Instant::now() + timeout;
        let check = self.with_env(&self.def.ready);
        crate::on_all(nodes, |node| loop {
            // No check outlives the deadline: the last one gets what is left of it.
            let left = deadline.saturating_duration_since(Instant::now());
            let out = node
                .remote
                .exec(&check, b"", left.clamp(MIN_READY_CHECK, MAX_READY_CHECK));
            let done = Instant::now() >= deadline;
            let out = match out {
                Ok(out) if out.status == 0 => return Ok(()),
                Ok(out) => out,
                Err(e) if done => return Err(self.not_ready(node, timeout, e.to_string())),
                Err(e) => return Err(e.into()),
            };
            if done {
                let err = out.stderr_text();
                let why = format!(
                    "ready.command exited with status {}{}",
                    out.status,
                    err.lines()
                        .last()
                        .map(|l| format!(": {}", l.trim()))
                        .unwrap_or_default(),
                );
                return Err(self.not_ready(node, timeout, why));
            }
            std::thread::sleep(left.min(READY_POLL));
        })
    }

    fn ready_timeout(&self) -> Duration {
        self.def.ready_timeout
    }

    fn teardown(&self, node: &Node) -> Result<(), DbError> {
        for d in self.daemons().iter().rev() {
            d.stop(node, "TERM")?;
        }
        // Always: `faultline clean` tears a crashed run's database down without knowing
        // whether it had storage faults, and the command does nothing without mounts.
        node.remote.run(&faults::faultfs_unmount_cmd())?;
        let mut dirs: Vec<String> = self.def.data_dirs.iter().map(|d| quote(d)).collect();
        dirs.push(quote(&self.def.node_dir()));
        node.remote.run(&format!("rm -rf {}", dirs.join(" ")))?;
        Ok(())
    }

    fn kill(&self, node: &Node) -> Result<(), DbError> {
        Ok(self.main_daemon().stop(node, "KILL")?)
    }

    fn start(&self, node: &Node) -> Result<(), DbError> {
        Ok(self.main_daemon().start(node)?)
    }

    fn pause(&self, node: &Node) -> Result<(), DbError> {
        Ok(self.main_daemon().signal(node, "STOP")?)
    }

    fn resume(&self, node: &Node) -> Result<(), DbError> {
        Ok(self.main_daemon().signal(node, "CONT")?)
    }

    fn state(&self, node: &Node) -> Result<ProcessState, DbError> {
        Ok(self.main_daemon().state(node)?)
    }

    fn names_primaries(&self) -> bool {
        self.def.is_primary.is_some()
    }

    fn primaries(&self, nodes: &[Node]) -> Result<Vec<String>, DbError> {
        let Some(is_primary) = &self.def.is_primary else {
            return Ok(Vec::new());
        };
        let check = self.with_env(is_primary);
        // Every node at once: an ask takes one node's time, not the sum of all.
        let answers: Vec<Result<i32, String>> = std::thread::scope(|s| {
            let asks: Vec<_> = nodes
                .iter()
                .map(|node| {
                    let check = &check;
                    s.spawn(move || {
                        node.remote
                            .exec(check, b"", PRIMARY_ASK_LIMIT)
                            .map(|out| out.status)
                            .map_err(|e| e.to_string())
                    })
                })
                .collect();
            asks.into_iter()
                .map(|a| a.join().unwrap_or_else(|_| Err("panicked".into())))
                .collect()
        });
        // A failure names the command, for faultline.log.
        primaries_from(nodes, &answers).map_err(|e| match e {
            DbError::Node { node, reason } => DbError::Node {
                node,
                reason: format!("{reason} (`{is_primary}`)"),
            },
            other => other,
        })
    }

    fn log_files(&self) -> Vec<String> {
        let mut logs: Vec<String> = self.daemons().iter().map(Daemon::log_file).collect();
        logs.extend(self.def.logs.iter().cloned());
        logs
    }

    fn server_pid_file(&self) -> String {
        self.main_daemon().pid_file()
    }

    fn clock_command(&self) -> Option<String> {
        self.def.clock.as_ref().map(|c| self.with_env(c))
    }

    fn failover(&self) -> Option<FailoverCommands> {
        let f = self.def.failover.as_ref()?;
        Some(FailoverCommands {
            promote: self.with_env(&f.promote),
            position: f.position.as_ref().map(|c| self.with_env(c)),
            rejoin: f.rejoin.as_ref().map(|c| self.with_env(c)),
        })
    }

    fn clock_shim(&self) -> bool {
        self.def.clock_shim()
    }

    fn packages(&self) -> Vec<String> {
        self.def.packages.clone()
    }

    fn check_packages(&self, skip: &[&str]) -> Result<Option<String>, String> {
        crate::packages::check(&self.def.origin, &self.def.packages, skip)
    }

    fn data_dirs(&self) -> Vec<String> {
        self.def.data_dirs.clone()
    }

    fn corrupt_patterns(&self) -> Vec<String> {
        self.def.corrupt.clone()
    }

    fn wipe(&self, node: &Node) -> Result<(), DbError> {
        self.wipe_data(node)
    }

    fn has_membership(&self) -> bool {
        self.def.membership.is_some()
    }

    fn change_membership(
        &self,
        node: &Node,
        change: &str,
        members: &[&Node],
    ) -> Result<String, DbError> {
        let (leave, join) = self.def.membership.as_ref().ok_or_else(|| {
            Self::node_error(node, format!("{}: no [commands] {change}", self.def.origin))
        })?;
        let command = if change == "leave" { leave } else { join };
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        let addresses: Vec<String> = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.address))
            .collect();
        let env = format!(
            "export FAULTLINE_MEMBERS={} FAULTLINE_MEMBER_ADDRESSES={}; ",
            quote(&names.join(" ")),
            quote(&addresses.join(" "))
        );
        self.run_command(node, &format!("commands.{change}"), &(env + command))
    }
}

/// How long one node's `is_primary` may take. A node paused by a fault answers only when
/// resumed; the others' answers say who leads meanwhile, and a fault aimed at the primaries
/// (with everything else the nemesis does) waits for the slowest answer.
const PRIMARY_ASK_LIMIT: Duration = Duration::from_secs(2);

/// Who leads, from each node's `is_primary` answer (its exit status, or why it could not be
/// asked): status 0 leads, 1 does not, anything else cannot tell. With no node leading and
/// some that cannot tell, nobody knows who leads: an error, never "no leader".
fn primaries_from(nodes: &[Node], answers: &[Result<i32, String>]) -> Result<Vec<String>, DbError> {
    let mut primaries = Vec::new();
    let mut unsure = None;
    for (node, answer) in nodes.iter().zip(answers) {
        match answer {
            Ok(0) => primaries.push(node.name.clone()),
            Ok(1) => {}
            Ok(status) => unsure = Some((node, format!("is_primary exited {status}"))),
            Err(e) => unsure = Some((node, e.clone())),
        }
    }
    match unsure {
        Some((node, reason)) if primaries.is_empty() => Err(DbError::Node {
            node: node.name.clone(),
            reason: format!("cannot tell who leads: {reason}"),
        }),
        _ => Ok(primaries),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_control::{ControlError, ExecOutput, Remote};
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    /// Records every command and answers each with success.
    #[derive(Debug, Default)]
    struct Recording(Mutex<Vec<String>>);

    impl Remote for Recording {
        fn exec(&self, cmd: &str, _: &[u8], _: Duration) -> Result<ExecOutput, ControlError> {
            self.0.lock().unwrap().push(cmd.to_string());
            Ok(ExecOutput {
                status: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
            })
        }
        fn upload(&self, _: &Path, _: &str) -> Result<(), ControlError> {
            Ok(())
        }
        fn download(&self, _: &str, _: &Path) -> Result<(), ControlError> {
            Ok(())
        }
        fn target(&self) -> String {
            "n1".into()
        }
    }

    fn setup_commands(db: &DefinedDb) -> Vec<String> {
        let remote = Arc::new(Recording::default());
        let node = Node {
            name: "n1".into(),
            address: "10.0.0.1".into(),
            remote: remote.clone(),
        };
        db.setup(&node, std::slice::from_ref(&node)).unwrap();
        let cmds = remote.0.lock().unwrap().clone();
        cmds
    }

    #[test]
    fn only_a_run_with_storage_faults_mounts_faultline_fs_before_the_daemons_start() {
        let def = crate::definition::load("etcd").unwrap();
        let plain = setup_commands(&DefinedDb::new(def.clone()));
        let mount = format!("{} mount", faults::FAULTFS_TOOL);
        assert!(
            !plain
                .iter()
                .any(|c| c.contains(&mount) || c.contains("fuse")),
            "{plain:#?}"
        );
        let storage = setup_commands(&DefinedDb::new(def).with_faultfs());
        let mounted = storage.iter().position(|c| c.contains(&mount));
        let started = storage.iter().position(|c| c.contains(".start"));
        assert!(mounted.is_some() && mounted < started, "{storage:#?}");
        let m = &storage[mounted.unwrap()];
        assert!(m.contains("/var/lib/faultline/etcd"), "{m}");
    }

    #[test]
    fn a_node_that_cannot_tell_makes_a_leaderless_answer_unknown() {
        let nodes: Vec<Node> = (1..=3)
            .map(|i| Node {
                name: format!("n{i}"),
                address: format!("10.0.0.{i}"),
                remote: Arc::new(Recording::default()),
            })
            .collect();
        let ask = |answers: [Result<i32, String>; 3]| primaries_from(&nodes, &answers);
        assert_eq!(ask([Ok(1), Ok(0), Ok(1)]).unwrap(), ["n2"]);
        assert_eq!(ask([Ok(1), Ok(1), Ok(1)]).unwrap(), Vec::<String>::new());
        // The leader's own ask timed out: nobody knows, not "no leader".
        let err = ask([Ok(1), Ok(124), Ok(1)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("n2: cannot tell who leads: is_primary exited 124"),
            "{err}"
        );
        assert!(ask([Ok(1), Err("docker exec: timed out".into()), Ok(1)]).is_err());
        // Another node leads: that is known whatever the silent one thinks.
        assert_eq!(ask([Ok(0), Ok(2), Ok(1)]).unwrap(), ["n1"]);
    }
}
