//! Storage faults: what a node keeps when its power goes, and disks that fail.
//!
//! They act through faultline-fs (`image/faultfs.c`), which a run with a storage fault
//! mounts over the database's data directories on every node (and no other run does).
//! `lose-unfsynced` kills the database on its targets and drops what they wrote and never
//! fsynced; healing starts it again. `power-cut` does it to every node at once: the data
//! center loses power. `disk-error` fails writes, fsyncs and creations under the data
//! directories with EIO or ENOSPC until healed. Each records, per node, what faultline-fs
//! answered (files rolled back, bytes dropped, directories restored; the error injected), and
//! healing a lost-write fault checks that the database came back.

use serde::{Deserialize, Serialize};

/// Which storage fault a user asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    /// Kill the database, drop what was not fsynced, restart it when healed.
    LoseUnfsynced,
    /// Writes and fsyncs fail with EIO or ENOSPC until healed.
    DiskError,
}

impl StorageKind {
    /// The `--nemesis` name: `lose-unfsynced` or `disk-error`.
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::LoseUnfsynced => "lose-unfsynced",
            StorageKind::DiskError => "disk-error",
        }
    }
}

/// What a storage fault does, concretely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum StorageAction {
    /// The database is killed and what it never fsynced is lost.
    LoseUnfsynced,
    /// Writes, fsyncs and creations fail with this error (`EIO` or `ENOSPC`).
    DiskError {
        /// The error name.
        errno: DiskErrno,
    },
}

/// The error a `disk-error` fault injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskErrno {
    /// An I/O error: the disk failed (the "fsyncgate" case when an fsync gets it).
    EIO,
    /// No space left on the device.
    ENOSPC,
}

impl DiskErrno {
    /// `EIO` or `ENOSPC`.
    pub fn name(self) -> &'static str {
        match self {
            DiskErrno::EIO => "EIO",
            DiskErrno::ENOSPC => "ENOSPC",
        }
    }
}
