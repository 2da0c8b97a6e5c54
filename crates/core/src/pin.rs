//! What pins a run to what it ran: a copy of the database definition (db.toml and every file
//! it uploads) in the run directory's `definition/`, and the SHA-256 of each file the
//! `--client` command names (its executable, resolved through `PATH`, and its script). Both
//! are recorded in test.json, and [`changes`] says which of them differ now, so re-checking
//! or reproducing a run after editing a script says so.

pub use crate::config::PinnedFile;
use crate::config::TestConfig;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The directory of a run that holds its copy of the definition.
pub const DEFINITION_DIR: &str = "definition";

/// The SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The files the `--client` command names that exist: its first word (through `PATH` when it
/// has no `/`) and every later word that is a file, each resolved to an absolute path.
pub fn client_files(command: &str) -> Vec<PinnedFile> {
    let words = shell_words(command);
    let mut files: Vec<PathBuf> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let found = if i == 0 && !word.contains('/') {
            on_path(word)
        } else {
            Some(PathBuf::from(word)).filter(|p| p.is_file())
        };
        if let Some(path) = found.and_then(|p| std::fs::canonicalize(p).ok()) {
            if !files.contains(&path) {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            Some(PinnedFile {
                path: p.display().to_string(),
                sha256: sha256_hex(&bytes),
            })
        })
        .collect()
}

/// `name` found in a directory of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `command` split into words the way `sh` would for plain words and quotes (no expansions).
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quote, mut started) = (None::<char>, false);
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\\') => {
                word.extend(chars.next());
                started = true;
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// The definition `--db SPEC` names, file by file: `db.toml`, the files beside it, and the
/// files it uploads under `files/<destination>`.
pub fn definition_contents(spec: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    use faultline_db::definition;
    let def = definition::load(spec)?;
    let toml = if definition::is_path(spec) {
        let path = Path::new(spec);
        let file = if path.is_dir() {
            path.join("db.toml")
        } else {
            path.to_path_buf()
        };
        std::fs::read(&file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?
    } else {
        let (_, files) = definition::BUILTINS
            .iter()
            .find(|(n, _)| *n == spec)
            .ok_or_else(|| format!("unknown database {spec:?}"))?;
        files[0].1.as_bytes().to_vec()
    };
    let mut out = vec![("db.toml".to_string(), toml)];
    out.extend(def.dir_files.iter().cloned());
    for f in &def.files {
        let dest = f.dest.trim_start_matches('/').replace("..", "_");
        out.push((format!("files/{dest}"), f.contents.clone()));
    }
    Ok(out)
}

/// Copies the definition `spec` names into `run_dir/definition/` and returns its files with
/// their hashes.
pub fn copy_definition(spec: &str, run_dir: &Path) -> Result<Vec<PinnedFile>, String> {
    let dir = run_dir.join(DEFINITION_DIR);
    let mut pinned = Vec::new();
    for (name, contents) in definition_contents(spec)? {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("{}: cannot create: {e}", parent.display()))?;
        }
        std::fs::write(&path, &contents)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        pinned.push(PinnedFile {
            path: name,
            sha256: sha256_hex(&contents),
        });
    }
    Ok(pinned)
}

/// What differs now from what the run recorded: one line per changed, new or missing file of
/// its definition (as `--db` names it now) and of its client program.
pub fn changes(config: &TestConfig) -> Vec<String> {
    let mut lines = Vec::new();
    if !config.definition_files.is_empty() {
        match definition_contents(&config.flags.db) {
            Ok(now) => {
                let now: Vec<PinnedFile> = now
                    .iter()
                    .map(|(path, c)| PinnedFile {
                        path: path.clone(),
                        sha256: sha256_hex(c),
                    })
                    .collect();
                lines.extend(differences(
                    &format!("the definition --db {}", config.flags.db),
                    &config.definition_files,
                    &now,
                ));
            }
            Err(e) => lines.push(format!(
                "the definition --db {} cannot be read now: {e}",
                config.flags.db
            )),
        }
    }
    if let Some(command) = &config.client {
        let now = client_files(command);
        lines.extend(differences(
            "the --client program",
            &config.client_files,
            &now,
        ));
    }
    lines
}

/// The files of `then` and `now` that differ, one line each, under `what`.
fn differences(what: &str, then: &[PinnedFile], now: &[PinnedFile]) -> Vec<String> {
    let mut lines = Vec::new();
    for old in then {
        match now.iter().find(|n| n.path == old.path) {
            None => lines.push(format!("{what}: {} is gone since this run", old.path)),
            Some(n) if n.sha256 != old.sha256 => lines.push(format!(
                "{what}: {} changed since this run (sha256 {} then, {} now)",
                old.path,
                &old.sha256[..12.min(old.sha256.len())],
                &n.sha256[..12]
            )),
            Some(_) => {}
        }
    }
    for new in now
        .iter()
        .filter(|n| !then.iter().any(|o| o.path == n.path))
    {
        lines.push(format!("{what}: {} is new since this run", new.path));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_command_names_its_interpreter_and_script() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("my client.py");
        std::fs::write(&script, "print(1)\n").unwrap();
        let command = format!("sh '{}' --flag", script.display());
        let files = client_files(&command);
        assert_eq!(files.len(), 2, "{files:?}");
        let sh = std::fs::canonicalize(on_path("sh").unwrap()).unwrap();
        assert_eq!(files[0].path, sh.display().to_string(), "{files:?}");
        assert_eq!(
            files[1].path,
            std::fs::canonicalize(&script)
                .unwrap()
                .display()
                .to_string()
        );
        assert_eq!(files[1].sha256, sha256_hex(b"print(1)\n"));
        assert_eq!(
            shell_words(r#"a "b c" 'd e'f g\ h"#),
            ["a", "b c", "d ef", "g h"]
        );
    }

    #[test]
    fn a_builtin_definition_is_copied_whole() {
        let dir = tempfile::tempdir().unwrap();
        let pinned = copy_definition("etcd", dir.path()).unwrap();
        assert_eq!(pinned[0].path, "db.toml");
        for p in &pinned {
            let bytes = std::fs::read(dir.path().join(DEFINITION_DIR).join(&p.path)).unwrap();
            assert_eq!(sha256_hex(&bytes), p.sha256, "{}", p.path);
        }
        assert!(pinned.iter().any(|p| p.path == "start.sh"), "{pinned:?}");
    }

    #[test]
    fn differences_name_changed_gone_and_new_files() {
        let f = |p: &str, h: &str| PinnedFile {
            path: p.into(),
            sha256: h.repeat(64),
        };
        let then = [f("a", "1"), f("b", "2")];
        let now = [f("a", "3"), f("c", "4")];
        let lines = differences("x", &then, &now);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("x: a changed since this run"));
        assert!(lines[1].contains("b is gone"));
        assert!(lines[2].contains("c is new"));
        assert!(differences("x", &then, &then).is_empty());
    }

    /// Issue 18 item 11: after a script of the definition or the client program is edited,
    /// the run's record says which files changed.
    #[test]
    fn an_edited_definition_or_client_script_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let def = dir.path().join("db");
        std::fs::create_dir(&def).unwrap();
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dbs/redis-replicas");
        for e in std::fs::read_dir(&example).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, def.join(p.file_name().unwrap())).unwrap();
            }
        }
        let client = dir.path().join("client.py");
        std::fs::write(&client, "print('v1')\n").unwrap();
        let run = dir.path().join("run");
        let spec = format!("{}/", def.display());
        let mut options = defaults();
        options.db = spec.clone();
        options.client = Some(format!("sh {}", client.display()));
        let config = TestConfig {
            definition_files: copy_definition(&spec, &run).unwrap(),
            client_files: client_files(options.client.as_deref().unwrap()),
            client: options.client.clone(),
            ..crate::config::tests_support::config(options)
        };
        assert!(changes(&config).is_empty(), "{:?}", changes(&config));
        assert!(run.join(DEFINITION_DIR).join("db.toml").is_file());
        std::fs::write(&client, "print('v2')\n").unwrap();
        let script = std::fs::read_dir(&def)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "sh"))
            .unwrap();
        let mut text = std::fs::read_to_string(&script).unwrap();
        text.push_str("\n# edited\n");
        std::fs::write(&script, text).unwrap();
        let lines = changes(&config);
        let name = script.file_name().unwrap().to_str().unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!(
                "the definition --db {spec}: {name} changed since this run"
            )),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("the --client program: ")
                && lines[1].contains("client.py changed"),
            "{lines:?}"
        );
    }

    fn defaults() -> crate::options::TestOptions {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            options: crate::options::TestOptions,
        }
        Cli::parse_from(["test"]).options
    }
}
