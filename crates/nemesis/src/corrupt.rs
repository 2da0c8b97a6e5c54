//! `corrupt-file`: which data file a fault damages and how, as pure seeded functions, and
//! the node commands that list the candidates and do the damage.
//!
//! After Jepsen's file-corruption nemesis (`jepsen.nemesis.file`: bit flips in a region of a
//! file, truncation), with one file per node: the candidates are the non-empty regular files
//! under the definition's `setup.data_dirs` (or those matching its `[storage] corrupt`
//! patterns), listed on the node and sorted by path; the fault's seed and the node's place in
//! the cluster draw one of them, then 1 to [`MAX_FLIPS`] bits to flip at offsets in the file,
//! or a shorter length to truncate it to. The same seed over the same files makes the same
//! choice.

use crate::fault::shell_quote;
use crate::storage::CorruptMode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// The most bits one bit-flip corruption flips.
pub const MAX_FLIPS: u32 = 8;

/// One candidate file on a node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DataFile {
    /// Its absolute path.
    pub path: String,
    /// Its size in bytes (never 0).
    pub size: u64,
}

/// What one corruption does to its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// XOR each byte at an offset with its mask (one or more bits set).
    Bitflip(BTreeMap<u64, u8>),
    /// Cut the file to this many bytes (less than its size).
    Truncate(u64),
}

/// One file and what is done to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The file.
    pub file: DataFile,
    /// What is done to it.
    pub damage: Damage,
}

/// The command listing the non-empty regular files under `dirs` as `<size> <path>` lines.
pub fn list_command(dirs: &[String]) -> String {
    let dirs: Vec<String> = dirs.iter().map(|d| shell_quote(d)).collect();
    format!(
        "find {} -type f -size +0c -printf '%s %p\\n' 2>/dev/null; true",
        dirs.join(" ")
    )
}

/// The files of a [`list_command`] output, sorted by path (lines it cannot read are skipped).
pub fn parse_listing(out: &str) -> Vec<DataFile> {
    let mut files: Vec<DataFile> = out
        .lines()
        .filter_map(|l| {
            let (size, path) = l.split_once(' ')?;
            let size = size.parse().ok().filter(|s| *s > 0)?;
            Some(DataFile {
                path: path.to_string(),
                size,
            })
        })
        .collect();
    files.sort();
    files
}

/// The files among `files` that a corruption may damage: every one when `patterns` is empty,
/// else those whose path relative to one of `dirs` matches a pattern ([`glob_match`]).
pub fn candidates(files: &[DataFile], dirs: &[String], patterns: &[String]) -> Vec<DataFile> {
    files
        .iter()
        .filter(|f| {
            patterns.is_empty()
                || dirs.iter().any(|d| {
                    let rel = f
                        .path
                        .strip_prefix(d.trim_end_matches('/'))
                        .and_then(|r| r.strip_prefix('/'));
                    rel.is_some_and(|r| patterns.iter().any(|p| glob_match(p, r)))
                })
        })
        .cloned()
        .collect()
}

/// Whether `path` matches the glob `pattern`: `*` is any run of characters but `/`, `?` one
/// such character, `**` any run including `/`; everything else matches itself.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = std::str::from_utf8(&p[2..]).unwrap_or("");
            (0..=s.len()).any(|i| path.is_char_boundary(i) && glob_match(rest, &path[i..]))
        }
        Some(b'*') => {
            let rest = &pattern[1..];
            let upto = path.find('/').unwrap_or(path.len());
            (0..=upto).any(|i| path.is_char_boundary(i) && glob_match(rest, &path[i..]))
        }
        Some(b'?') => match path.chars().next() {
            Some(c) if c != '/' => glob_match(&pattern[1..], &path[c.len_utf8()..]),
            _ => false,
        },
        Some(_) => {
            let c = pattern.chars().next().unwrap_or_default();
            path.starts_with(c) && glob_match(&pattern[c.len_utf8()..], &path[c.len_utf8()..])
        }
    }
}

/// The corruption the fault with `seed` makes on the node at `place` in the cluster, among
/// `candidates` (sorted, as [`candidates`] gives them); `None` when there are none.
pub fn choose(
    candidates: &[DataFile],
    mode: CorruptMode,
    seed: u64,
    place: usize,
) -> Option<Corruption> {
    if candidates.is_empty() {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(place as u64);
    let file = candidates[rng.random_range(0..candidates.len())].clone();
    let damage = match mode {
        CorruptMode::Truncate => Damage::Truncate(rng.random_range(0..file.size)),
        CorruptMode::Bitflip => {
            let mut masks = BTreeMap::new();
            for _ in 0..rng.random_range(1..=MAX_FLIPS) {
                let offset = rng.random_range(0..file.size);
                *masks.entry(offset).or_insert(0u8) |= 1u8 << rng.random_range(0..8);
            }
            Damage::Bitflip(masks)
        }
    };
    Some(Corruption { file, damage })
}

/// The command that makes `c` on the node. A bit flip prints `<offset> <old> <new>` per byte
/// (decimal); a truncation prints nothing. It fails if the file cannot be changed.
pub fn corrupt_command(c: &Corruption) -> String {
    let f = shell_quote(&c.file.path);
    match &c.damage {
        Damage::Truncate(len) => format!("truncate -s {len} {f}"),
        Damage::Bitflip(masks) => masks
            .iter()
            .map(|(off, mask)| {
                format!(
                    "b=$(od -An -tu1 -j {off} -N1 {f} | tr -d ' ') && [ -n \"$b\" ] && n=$((b ^ {mask})) && \
                     printf \"$(printf '\\\\%03o' \"$n\")\" | dd of={f} bs=1 seek={off} count=1 conv=notrunc status=none && \
                     echo \"{off} $b $n\""
                )
            })
            .collect::<Vec<_>>()
            .join(" && "),
    }
}

/// One line saying what `c` did, from what its command printed.
pub fn describe(c: &Corruption, printed: &str) -> String {
    let DataFile { path, size } = &c.file;
    match &c.damage {
        Damage::Truncate(len) => format!("truncated {path} from {size} to {len} bytes"),
        Damage::Bitflip(masks) => {
            let bytes: Vec<String> = printed
                .lines()
                .filter_map(|l| {
                    let w: Vec<u64> = l
                        .split_whitespace()
                        .filter_map(|w| w.parse().ok())
                        .collect();
                    (w.len() == 3).then(|| format!("byte {} 0x{:02x}->0x{:02x}", w[0], w[1], w[2]))
                })
                .collect();
            let bits: u32 = masks.values().map(|m| m.count_ones()).sum();
            format!(
                "flipped {bits} bit{} of {path} ({size} bytes): {}",
                if bits == 1 { "" } else { "s" },
                bytes.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, u64)]) -> Vec<DataFile> {
        list.iter()
            .map(|(p, s)| DataFile {
                path: p.to_string(),
                size: *s,
            })
            .collect()
    }

    #[test]
    fn globs_match_within_and_across_directories() {
        assert!(glob_match(
            "member/snap/*.snap",
            "member/snap/0001-0002.snap"
        ));
        assert!(!glob_match("member/snap/*.snap", "member/snap/db"));
        assert!(!glob_match("*.snap", "member/snap/a.snap"));
        assert!(glob_match("**/*.snap", "member/snap/a.snap"));
        assert!(glob_match("**.wal", "member/wal/0.wal"));
        assert!(glob_match("appendonly?.aof", "appendonly1.aof"));
        assert!(!glob_match("appendonly?.aof", "appendonly.aof"));
        assert!(glob_match("dump.rdb", "dump.rdb"));
        assert!(!glob_match("dump.rdb", "dump.rdb.tmp"));
    }

    #[test]
    fn the_listing_is_read_sorted_and_patterns_pick_among_it() {
        let out = "12 /d/member/wal/0.wal\n0 /d/empty\njunk\n4096 /d/member/snap/db\n7 /e/x.aof\n";
        let all = parse_listing(out);
        assert_eq!(
            all,
            files(&[
                ("/d/member/snap/db", 4096),
                ("/d/member/wal/0.wal", 12),
                ("/e/x.aof", 7)
            ])
        );
        let dirs = ["/d/".to_string(), "/e".to_string()];
        assert_eq!(candidates(&all, &dirs, &[]), all);
        let wal = candidates(&all, &dirs, &["member/wal/*".into(), "*.aof".into()]);
        assert_eq!(wal, files(&[("/d/member/wal/0.wal", 12), ("/e/x.aof", 7)]));
        assert!(candidates(&all, &dirs, &["nothing".into()]).is_empty());
    }

    #[test]
    fn the_seed_and_place_decide_the_choice_and_it_stays_inside_the_file() {
        let all = files(&[("/d/a", 3), ("/d/b", 100_000), ("/d/c", 1)]);
        for mode in [CorruptMode::Bitflip, CorruptMode::Truncate] {
            assert_eq!(choose(&all, mode, 7, 2), choose(&all, mode, 7, 2));
            let picks: std::collections::BTreeSet<_> = (0..64)
                .map(|seed| choose(&all, mode, seed, 0).unwrap().file.path)
                .collect();
            assert_eq!(picks.len(), 3, "every file can be drawn: {picks:?}");
            for seed in 0..200 {
                let c = choose(&all, mode, seed, seed as usize % 5).unwrap();
                match c.damage {
                    Damage::Truncate(len) => assert!(len < c.file.size),
                    Damage::Bitflip(m) => {
                        let bits: u32 = m.values().map(|b| b.count_ones()).sum();
                        assert!((1..=MAX_FLIPS).contains(&bits), "{m:?}");
                        assert!(m.keys().all(|o| *o < c.file.size));
                    }
                }
            }
        }
        let a: Vec<_> = (0..5)
            .map(|p| choose(&all, CorruptMode::Bitflip, 1, p))
            .collect();
        assert!(a.windows(2).any(|w| w[0] != w[1]), "places differ: {a:?}");
        assert_eq!(choose(&[], CorruptMode::Truncate, 1, 0), None);
    }

    /// Runs the commands on a real file: the listing finds it, the flips change exactly the
    /// chosen bits (and say so), and truncation cuts it.
    #[test]
    fn the_commands_flip_exactly_the_chosen_bits_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        let original: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        std::fs::write(&path, &original).unwrap();
        let sh = |cmd: &str| {
            let out = std::process::Command::new("sh")
                .args(["-c", cmd])
                .output()
                .unwrap();
            assert!(out.status.success(), "{cmd}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let d = dir.path().to_str().unwrap().to_string();
        let listed = parse_listing(&sh(&list_command(&[d])));
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].size, 1000);
        let masks = BTreeMap::from([(0, 0x01), (1, 0x01), (500, 0xff), (999, 0x80)]);
        let c = Corruption {
            file: listed[0].clone(),
            damage: Damage::Bitflip(masks.clone()),
        };
        let printed = sh(&corrupt_command(&c));
        let after = std::fs::read(&path).unwrap();
        let mut expected = original.clone();
        for (off, m) in &masks {
            expected[*off as usize] ^= m;
        }
        assert_eq!(after, expected);
        let line = describe(&c, &printed);
        assert!(line.contains("flipped 11 bits"), "{line}");
        assert!(line.contains("byte 1 0x01->0x00"), "{line}");
        assert!(line.contains("byte 500 0xf4->0x0b"), "{line}");
        assert!(line.contains("byte 0 0x00->0x01"), "{line}");
        let t = Corruption {
            file: listed[0].clone(),
            damage: Damage::Truncate(17),
        };
        sh(&corrupt_command(&t));
        assert_eq!(std::fs::read(&path).unwrap(), expected[..17]);
        assert!(describe(&t, "").ends_with("from 1000 to 17 bytes"));
    }
}
