//! Where faultline leaves its marks on a node, and how to remove them.
//!
//! The nemesis and the DB supervisors use these names, and the cleanup guard undoes them on
//! every exit path: the network is healed by removing only faultline's own iptables chain,
//! paused processes are resumed, the clock offset goes back to zero.

use crate::{ControlError, Remote};
use std::time::Duration;

/// The iptables chain that holds every rule faultline adds; nothing else is ever touched.
pub const IPTABLES_CHAIN: &str = "FAULTLINE";
/// The file the clock shim reads its offset (ns) from.
pub const CLOCK_OFFSET_FILE: &str = "/var/lib/faultline/clock-offset";
/// The clock shim library inside the node image.
pub const CLOCK_SHIM: &str = "/usr/local/lib/faultline-clockshim.so";
/// Where supervised daemons keep their PID files (`<name>.pid`).
pub const PID_DIR: &str = "/var/lib/faultline/run";
/// Where supervised daemons write their logs (`<name>.log`).
pub const LOG_DIR: &str = "/var/log/faultline";

/// Removes faultline's iptables chain and its jumps; other rules stay as they are.
pub fn heal_network_cmd() -> String {
    let c = IPTABLES_CHAIN;
    format!(
        "command -v iptables >/dev/null || exit 0; \
         if iptables -w -n -L {c} >/dev/null 2>&1; then \
           for hook in INPUT OUTPUT FORWARD; do \
             while iptables -w -D $hook -j {c} 2>/dev/null; do :; done; \
           done; \
           iptables -w -F {c} && iptables -w -X {c}; \
         fi"
    )
}

/// Sends SIGCONT to every supervised daemon, so none stays paused.
pub fn resume_all_cmd() -> String {
    format!(
        "for f in {PID_DIR}/*.pid; do [ -f \"$f\" ] && kill -CONT \"$(cat \"$f\")\" 2>/dev/null; done; true"
    )
}

/// Sets the clock offset back to zero (if the node has one).
pub fn reset_clock_cmd() -> String {
    format!("[ ! -e {CLOCK_OFFSET_FILE} ] || echo 0 > {CLOCK_OFFSET_FILE}")
}

/// Undoes every fault on one node: heals the network, resumes daemons, resets the clock.
/// Tries all three even if one fails, and returns the first failure.
pub fn restore_node(remote: &dyn Remote) -> Result<(), ControlError> {
    let timeout = Duration::from_secs(20);
    let mut first = None;
    for cmd in [heal_network_cmd(), resume_all_cmd(), reset_clock_cmd()] {
        if let Err(e) = remote.run_with(&cmd, b"", timeout) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}
