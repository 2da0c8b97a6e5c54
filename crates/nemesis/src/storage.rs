//! Storage faults: what a node keeps when its power goes, and disks that fail.
//!
//! They act through faultline-fs (`image/faultfs.c`), which a run with a storage fault
//! mounts over the database's data directories on every node (and no other run does).
//! `lose-unfsynced` kills the database on its targets and drops what they wrote and never
//! fsynced; healing starts it again. `power-cut` does it to every node at once: the data
//! center loses power. `disk-error` fails writes, fsyncs and creations under the data
//! directories with EIO or ENOSPC until healed. `corrupt-file` kills the database on its
//! targets, flips bits in or truncates one data file on each (chosen by [`crate::corrupt`]
//! from the fault's seed), and starts it again at once. Each records, per node, what it did
//! (files rolled back, bytes dropped, directories restored; the error injected; the file, the
//! bytes flipped or the length truncated to), and every restart checks that the database came
//! back.

use serde::{Deserialize, Serialize};

/// Which storage fault a user asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    /// Kill the database, drop what was not fsynced, restart it when healed.
    LoseUnfsynced,
    /// Writes and fsyncs fail with EIO or ENOSPC until healed.
    DiskError,
    /// A data file is damaged while the database is stopped; `None` draws the mode each time.
    CorruptFile(Option<CorruptMode>),
}

impl StorageKind {
    /// The `--nemesis` name: `lose-unfsynced`, `disk-error`, `corrupt-file[-MODE]`.
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::LoseUnfsynced => "lose-unfsynced",
            StorageKind::DiskError => "disk-error",
            StorageKind::CorruptFile(None) => "corrupt-file",
            StorageKind::CorruptFile(Some(CorruptMode::Bitflip)) => "corrupt-file-bitflip",
            StorageKind::CorruptFile(Some(CorruptMode::Truncate)) => "corrupt-file-truncate",
        }
    }

    /// The storage kind a `--nemesis` name (without target suffix) names, if any.
    pub fn parse(base: &str) -> Option<StorageKind> {
        [
            StorageKind::LoseUnfsynced,
            StorageKind::DiskError,
            StorageKind::CorruptFile(None),
            StorageKind::CorruptFile(Some(CorruptMode::Bitflip)),
            StorageKind::CorruptFile(Some(CorruptMode::Truncate)),
        ]
        .into_iter()
        .find(|k| k.name() == base)
    }
}

/// How `corrupt-file` damages the file it chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorruptMode {
    /// Flip a few bits (1 to 8) at random offsets.
    Bitflip,
    /// Cut the file to a random shorter length.
    Truncate,
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
    /// One data file on each target is damaged while its database is stopped, which then
    /// starts again.
    CorruptFile {
        /// Bit flips or truncation.
        mode: CorruptMode,
        /// Draws the file, offsets and length on each node (with the node's place in the
        /// cluster), so `--seed` reproduces the choice among the same files.
        seed: u64,
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
