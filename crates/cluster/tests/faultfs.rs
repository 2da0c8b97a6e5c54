//! faultline-fs (`image/faultfs.c`) against a model of what must survive a power cut, on a
//! real mount: random sequences of create, write, append, truncate, rename, unlink, fsync,
//! fdatasync, directory fsync and "lose un-fsynced" (the control socket's `drop`). After each
//! sequence, and after each drop, every name and every byte under the mount must be what the
//! model says. Needs gcc, libfuse3-dev, /dev/fuse and root (as `faultline test` does for
//! storage faults). `FAULTFS_SEED` replays a seed; `FAULTFS_SEQUENCES` changes the count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

/// faultline-fs compiled into `dir`, the mutant with `FAULTFS_MUTANT_FDATASYNC`.
fn build(dir: &Path, mutant: bool) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../image/faultfs.c");
    let out = dir.join(if mutant { "faultfs-mutant" } else { "faultfs" });
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "fuse3"])
        .output()
        .expect("pkg-config runs");
    assert!(
        flags.status.success(),
        "pkg-config fuse3: install libfuse3-dev"
    );
    let flags = String::from_utf8(flags.stdout).unwrap();
    let mut gcc = Command::new("gcc");
    gcc.args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&src);
    gcc.args(flags.split_whitespace()).arg("-lpthread");
    if mutant {
        gcc.arg("-DFAULTFS_MUTANT_FDATASYNC");
    }
    let st = gcc.status().expect("gcc runs");
    assert!(st.success(), "gcc could not compile {}", src.display());
    out
}

/// A mounted faultline-fs, unmounted when dropped (also when a test panics).
struct Mount {
    backing: PathBuf,
    at: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mount {
    fn new(mutant: bool) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let bin = build(dir.path(), mutant);
        let (backing, at) = (dir.path().join("backing"), dir.path().join("mnt"));
        fs::create_dir(&backing).unwrap();
        fs::create_dir(&at).unwrap();
        let st = Command::new(&bin)
            .arg("mount")
            .arg(&backing)
            .arg(&at)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "faultline-fs could not mount (needs /dev/fuse and root)"
        );
        Mount {
            backing,
            at,
            _dir: dir,
        }
    }

    /// One command over the control socket (what `faultline-fs ctl` does, without a process).
    fn ctl(&self, cmd: &str) -> String {
        let mut sock = UnixStream::connect(self.backing.join("ctl")).expect("control socket");
        sock.write_all(cmd.as_bytes()).unwrap();
        sock.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        sock.read_to_string(&mut out).unwrap();
        out
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.at).status();
    }
}

const DIRS: [&str; 2] = ["", "d"];
const NAMES: [&str; 3] = ["a", "b", "c"];

/// One step of a sequence; a path is (directory index, name index).
#[derive(Clone, Debug)]
enum Op {
    Create((usize, usize)),
    Write((usize, usize), u64, Vec<u8>),
    Append((usize, usize), Vec<u8>),
    Truncate((usize, usize), u64),
    Rename((usize, usize), (usize, usize)),
    Unlink((usize, usize)),
    Fsync((usize, usize)),
    Fdatasync((usize, usize)),
    FsyncDir(usize),
    Lose,
}

#[derive(Clone, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

/// What the file system must show now, and what it must show after a power cut: a file's
/// bytes are durable at its fsync or fdatasync, a directory's entries at its fsync, and a
/// rename between the two directories at the fsync of either (it is atomic, as on ext4).
#[derive(Default)]
struct Model {
    inodes: Vec<Inode>,
    now: [BTreeMap<usize, usize>; 2],
    durable: [BTreeMap<usize, usize>; 2],
    /// A rename between the directories since the last fsync of either: they become durable
    /// together, so no power cut shows the file under both names or under neither.
    tied: bool,
}

impl Model {
    fn get(&self, (d, n): (usize, usize)) -> Option<usize> {
        self.now[d].get(&n).copied()
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Create(p) => {
                if self.get(*p).is_none() {
                    self.inodes.push(Inode::default());
                    self.now[p.0].insert(p.1, self.inodes.len() - 1);
                }
            }
            Op::Write(p, off, bytes) => {
                if let Some(i) = self.get(*p) {
                    let d = &mut self.inodes[i].data;
                    let end = *off as usize + bytes.len();
                    if d.len() < end {
                        d.resize(end, 0);
                    }
                    d[*off as usize..end].copy_from_slice(bytes);
                }
            }
            Op::Append(p, bytes) => {
                if let Some(i) = self.get(*p) {
                    self.inodes[i].data.extend_from_slice(bytes);
                }
            }
            Op::Truncate(p, len) => {
                if let Some(i) = self.get(*p) {
                    self.inodes[i].data.resize(*len as usize, 0);
                }
            }
            Op::Rename(from, to) => {
                if let Some(i) = self.get(*from) {
                    if from != to {
                        self.now[from.0].remove(&from.1);
                        self.now[to.0].insert(to.1, i);
                        self.tied |= from.0 != to.0;
                    }
                }
            }
            Op::Unlink(p) => {
                self.now[p.0].remove(&p.1);
            }
            Op::Fsync(p) | Op::Fdatasync(p) => {
                if let Some(i) = self.get(*p) {
                    self.inodes[i].durable = self.inodes[i].data.clone();
                }
            }
            Op::FsyncDir(d) => {
                self.durable[*d] = self.now[*d].clone();
                if std::mem::take(&mut self.tied) {
                    self.durable[1 - *d] = self.now[1 - *d].clone();
                }
            }
            Op::Lose => {
                self.tied = false;
                self.now = self.durable.clone();
                for ino in &mut self.inodes {
                    ino.data = ino.durable.clone();
                }
            }
        }
    }
}

fn path(m: &Mount, (d, n): (usize, usize)) -> PathBuf {
    m.at.join(DIRS[d]).join(NAMES[n])
}

/// Carry `op` out on the mount; operations on a missing file are skipped, as in the model.
fn perform(m: &Mount, op: &Op, model: &Model) {
    let exists = |p: (usize, usize)| model.get(p).is_some();
    let open = |p| OpenOptions::new().write(true).open(path(m, p)).unwrap();
    match op {
        Op::Create(p) => drop(
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path(m, *p))
                .unwrap(),
        ),
        Op::Write(p, off, bytes) if exists(*p) => open(*p).write_all_at(bytes, *off).unwrap(),
        Op::Append(p, bytes) if exists(*p) => {
            let mut f = OpenOptions::new().append(true).open(path(m, *p)).unwrap();
            f.write_all(bytes).unwrap();
        }
        Op::Truncate(p, len) if exists(*p) => open(*p).set_len(*len).unwrap(),
        Op::Rename(from, to) if exists(*from) => fs::rename(path(m, *from), path(m, *to)).unwrap(),
        Op::Unlink(p) if exists(*p) => fs::remove_file(path(m, *p)).unwrap(),
        Op::Fsync(p) if exists(*p) => File::open(path(m, *p)).unwrap().sync_all().unwrap(),
        Op::Fdatasync(p) if exists(*p) => File::open(path(m, *p)).unwrap().sync_data().unwrap(),
        Op::FsyncDir(d) => File::open(m.at.join(DIRS[*d])).unwrap().sync_all().unwrap(),
        Op::Lose => {
            let out = m.ctl("drop");
            assert!(out.starts_with("dropped:"), "{out}");
        }
        _ => {}
    }
}

/// The names in directory `d` of the mount, sorted (without the directory `d` itself).
fn names(m: &Mount, d: usize) -> Result<Vec<String>, String> {
    let dir = DIRS[d];
    let mut seen: Vec<String> = fs::read_dir(m.at.join(dir))
        .map_err(|e| format!("read_dir {dir:?}: {e}"))?
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !(d == 0 && n == "d"))
        .collect();
    seen.sort();
    Ok(seen)
}

/// Every name and byte under the mount against the model; the first difference.
fn compare(m: &Mount, model: &Model) -> Result<(), String> {
    for (d, dir) in DIRS.iter().enumerate() {
        let seen = names(m, d)?;
        let want: Vec<String> = model.now[d].keys().map(|n| NAMES[*n].to_string()).collect();
        if seen != want {
            return Err(format!(
                "directory {dir:?} holds {seen:?}, the model {want:?}"
            ));
        }
        for (n, ino) in &model.now[d] {
            // a second name the model lacks (a drop that turned a rename into a hard link)
            let names = model
                .now
                .iter()
                .flat_map(|e| e.values())
                .filter(|i| *i == ino);
            let names = names.count() as u64;
            let nlink = fs::metadata(path(m, (d, *n)))
                .map_err(|e| format!("stat: {e}"))?
                .nlink();
            if nlink != names {
                return Err(format!(
                    "{dir}/{}: {nlink} links, the model {names}",
                    NAMES[*n]
                ));
            }
            let got = fs::read(path(m, (d, *n))).map_err(|e| format!("read: {e}"))?;
            let want = &model.inodes[*ino].data;
            if &got != want {
                let at = got.iter().zip(want).position(|(a, b)| a != b);
                return Err(format!(
                    "{dir}/{}: {} bytes, the model {} (first difference at {at:?})",
                    NAMES[*n],
                    got.len(),
                    want.len()
                ));
            }
        }
    }
    Ok(())
}

fn random_path(rng: &mut ChaCha8Rng) -> (usize, usize) {
    (rng.random_range(0..2), rng.random_range(0..3))
}

fn random_bytes(rng: &mut ChaCha8Rng) -> Vec<u8> {
    // mostly small, sometimes spanning several 4 KiB pages
    let len = if rng.random_bool(0.2) {
        rng.random_range(1..9000)
    } else {
        rng.random_range(1..64)
    };
    let b: u8 = rng.random();
    (0..len).map(|i| b.wrapping_add(i as u8)).collect()
}

fn random_op(rng: &mut ChaCha8Rng) -> Op {
    let p = random_path(rng);
    match rng.random_range(0..20) {
        0..=2 => Op::Create(p),
        3..=5 => Op::Write(p, rng.random_range(0..12_000), random_bytes(rng)),
        6..=7 => Op::Append(p, random_bytes(rng)),
        8 => Op::Truncate(p, rng.random_range(0..12_000)),
        9..=10 => Op::Rename(p, random_path(rng)),
        11 => Op::Unlink(p),
        12..=13 => Op::Fsync(p),
        14..=15 => Op::Fdatasync(p),
        16..=18 => Op::FsyncDir(rng.random_range(0..2)),
        _ => Op::Lose,
    }
}

/// Empty both directories and make that durable.
fn reset(m: &Mount) {
    for dir in DIRS {
        for name in NAMES {
            let _ = fs::remove_file(m.at.join(dir).join(name));
        }
        File::open(m.at.join(dir)).unwrap().sync_all().unwrap();
    }
    assert_eq!(m.ctl("sync"), "synced\n");
}

/// Make the directory `d` under the mount, durably.
fn prepare(m: &Mount) {
    fs::create_dir(m.at.join("d")).unwrap();
    File::open(&m.at).unwrap().sync_all().unwrap();
}

/// Carries `ops` out on an emptied mount and on a fresh model, comparing them after each
/// drop and at the end: the names in both directories after each drop, or the first
/// difference and after which step.
fn replay(m: &Mount, ops: &[Op]) -> Result<Vec<[Vec<String>; 2]>, String> {
    reset(m);
    let mut model = Model::default();
    let mut survived = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        perform(m, op, &model);
        model.apply(op);
        if matches!(op, Op::Lose) || k + 1 == ops.len() {
            compare(m, &model)
                .map_err(|e| format!("after step {k}: {e}\nsteps: {:#?}", &ops[..=k]))?;
        }
        if matches!(op, Op::Lose) {
            survived.push([names(m, 0)?, names(m, 1)?]);
        }
    }
    Ok(survived)
}

/// Runs `sequences` random sequences; the first one whose mount and model differ.
fn run(m: &Mount, seed: u64, sequences: usize) -> Result<(), String> {
    prepare(m);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for s in 0..sequences {
        let len = rng.random_range(1..16);
        let mut ops: Vec<Op> = (0..len).map(|_| random_op(&mut rng)).collect();
        ops.push(Op::Lose);
        replay(m, &ops).map_err(|e| format!("seed {seed}, sequence {s}, {e}"))?;
    }
    Ok(())
}

fn seed() -> u64 {
    std::env::var("FAULTFS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

fn sequences() -> usize {
    std::env::var("FAULTFS_SEQUENCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

#[test]
fn what_survives_a_power_cut_is_what_was_fsynced() {
    let m = Mount::new(false);
    let seed = seed();
    eprintln!("FAULTFS_SEED={seed}");
    if let Err(e) = run(&m, seed, sequences()) {
        panic!("{e}");
    }
}

#[test]
fn a_file_system_whose_fdatasync_keeps_nothing_is_caught() {
    let m = Mount::new(true);
    let seed = seed();
    eprintln!("FAULTFS_SEED={seed}");
    let err = run(&m, seed, sequences()).expect_err("the mutant passed");
    assert!(err.contains("bytes, the model"), "{err}");
}

/// `FAULTFS_SEED=1796531077148085043`, sequence 9837: `d/c` renamed to `c` and only the root
/// fsynced. The rename is atomic, so the drop must show `c` in the root and no longer in `d`;
/// the drop used to keep both names (a hard link), and renaming one name of a file onto
/// another is a no-op, so `c` then outlived the rename onto `a` that the model applied.
#[test]
fn a_rename_between_directories_survives_whole() {
    use Op::*;
    let (root, d) = (0, 1);
    let (a, b, c) = (0, 1, 2);
    let m = Mount::new(false);
    prepare(&m);
    let ops = [
        Fsync((root, b)),
        Create((d, c)),
        FsyncDir(d),
        FsyncDir(d),
        Rename((root, b), (root, a)),
        Write((root, c), 1545, (5..22).collect()),
        Rename((d, c), (root, c)),
        FsyncDir(root),
        Lose,
        Rename((d, c), (root, a)),
        Create((root, b)),
        Rename((root, c), (root, a)),
        FsyncDir(root),
        Append((d, c), (206..216).collect()),
        Fdatasync((root, a)),
        Lose,
    ];
    let survived = replay(&m, &ops).unwrap_or_else(|e| panic!("{e}"));
    let names = |ns: &[&str]| ns.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(
        survived,
        [
            [names(&["c"]), names(&[])],
            [names(&["a", "b"]), names(&[])],
        ]
    );
}
