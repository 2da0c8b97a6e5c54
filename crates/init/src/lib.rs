//! `faultline init`: a working skeleton of a database definition for a system faultline does
//! not ship, so a user starts from something that runs and changes it step by step.
//!
//! Each family's skeleton runs as generated: `etcd` against Debian's etcd, `redis` against
//! Debian's Redis (a primary with replicas), `none` against `kv.py`, a tiny example system it
//! writes, through `client.py`, a client of faultline's client protocol.
//!
//! ```no_run
//! use faultline_init::{write, Family, Options};
//! let opts = Options { family: Family::None, packages: vec!["memcached".into()] };
//! let written = write(std::path::Path::new("mydb"), &opts).unwrap();
//! assert!(written.iter().any(|p| p.ends_with("db.toml")));
//! ```

use std::path::{Path, PathBuf};

/// Which protocol family the skeleton's database speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// etcd's v3 API: faultline's built-in etcd client.
    Etcd,
    /// RESP: faultline's built-in Redis client.
    Redis,
    /// No built-in client: a Python client of the client protocol, and an example system.
    None,
}

impl Family {
    /// The family named on the command line (`etcd`, `redis`, `none`).
    pub fn parse(name: &str) -> Result<Family, String> {
        match name {
            "etcd" => Ok(Family::Etcd),
            "redis" => Ok(Family::Redis),
            "none" => Ok(Family::None),
            other => Err(format!("expected etcd, redis or none, found {other:?}")),
        }
    }

    /// The Debian packages its skeleton runs on as generated.
    fn base_packages(self) -> &'static [&'static str] {
        match self {
            Family::Etcd => &["etcd-server", "etcd-client"],
            Family::Redis => &["redis-server"],
            Family::None => &["python3"],
        }
    }

    /// The skeleton's files: name, template text, whether it is executable.
    fn templates(self) -> &'static [(&'static str, &'static str, bool)] {
        match self {
            Family::Etcd => &[
                ("db.toml", include_str!("../templates/etcd/db.toml"), false),
                ("start.sh", include_str!("../templates/etcd/start.sh"), true),
                ("setup.sh", include_str!("../templates/etcd/setup.sh"), true),
                (
                    "is-primary.sh",
                    include_str!("../templates/etcd/is-primary.sh"),
                    true,
                ),
                (
                    "README.md",
                    include_str!("../templates/etcd/README.md"),
                    false,
                ),
            ],
            Family::Redis => &[
                ("db.toml", include_str!("../templates/redis/db.toml"), false),
                (
                    "setup.sh",
                    include_str!("../templates/redis/setup.sh"),
                    true,
                ),
                (
                    "ready.sh",
                    include_str!("../templates/redis/ready.sh"),
                    true,
                ),
                (
                    "README.md",
                    include_str!("../templates/redis/README.md"),
                    false,
                ),
            ],
            Family::None => &[
                ("db.toml", include_str!("../templates/none/db.toml"), false),
                ("start.sh", include_str!("../templates/none/start.sh"), true),
                ("setup.sh", include_str!("../templates/none/setup.sh"), true),
                ("kv.py", include_str!("../templates/none/kv.py"), true),
                (
                    "client.py",
                    include_str!("../templates/none/client.py"),
                    true,
                ),
                (
                    "faultline_client.py",
                    include_str!("../../../examples/clients/faultline_client.py"),
                    false,
                ),
                (
                    "README.md",
                    include_str!("../templates/none/README.md"),
                    false,
                ),
            ],
        }
    }
}

/// What `faultline init` was asked for.
#[derive(Clone, Debug)]
pub struct Options {
    /// The protocol family of the skeleton.
    pub family: Family,
    /// Extra Debian packages (`--package`), each with a marked place for its configuration.
    pub packages: Vec<String>,
}

/// Writes the skeleton into `dir` (created; it must not exist or be empty) and returns the
/// files written. Nothing is written when an argument is wrong.
pub fn write(dir: &Path, opts: &Options) -> Result<Vec<PathBuf>, String> {
    for p in &opts.packages {
        check_package_name(p).map_err(|e| format!("--package: {e}"))?;
    }
    check_target(dir)?;
    let name = db_name(dir);
    let shown = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| format!("{shown}: cannot create: {e}"))?;
    let mut written = Vec::new();
    for (file, template, executable) in opts.family.templates() {
        let text = render(template, &name, &shown, opts);
        let path = dir.join(file);
        std::fs::write(&path, text)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        if *executable {
            make_executable(&path)?;
        }
        written.push(path);
    }
    Ok(written)
}

/// Fills a template's placeholders.
fn render(template: &str, name: &str, dir: &str, opts: &Options) -> String {
    let packages: Vec<String> = (opts.family.base_packages().iter().copied())
        .chain(opts.packages.iter().map(String::as_str))
        .map(|p| format!("{p:?}"))
        .collect();
    template
        .replace("{{name}}", name)
        .replace("{{dir}}", dir)
        .replace("{{packages}}", &packages.join(", "))
        .replace("{{package_setup}}", &package_setup(&opts.packages))
}

/// The setup script's marked place for each extra package's configuration.
fn package_setup(packages: &[String]) -> String {
    packages
        .iter()
        .map(|p| {
            format!(
                "# {p}: write its configuration here (its files are under /etc and /usr/share/doc/{p}\n\
                 # on the node), before the daemons start; for example:\n\
                 #   cat > /etc/{p}/{p}.conf <<CONF ... CONF\n"
            )
        })
        .collect()
}

/// Refuses a target that already holds files: a skeleton never overwrites a user's work.
fn check_target(dir: &Path) -> Result<(), String> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => Err(format!(
            "{}: already exists and is not empty; give a new directory",
            dir.display()
        )),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(format!("{}: exists and is not a directory", dir.display()))
        }
        Err(e) => Err(format!("{}: cannot read: {e}", dir.display())),
    }
}

/// The definition's name: the directory's own name, reduced to what `name` allows (letters,
/// digits, `-`, `_`), or `mydb`.
fn db_name(dir: &Path) -> String {
    let base = dir
        .canonicalize()
        .ok()
        .or_else(|| std::env::current_dir().ok().map(|c| c.join(dir)))
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    if name.is_empty() {
        "mydb".into()
    } else {
        name
    }
}

/// A Debian package name: lower-case letters, digits, `+`, `-`, `.`; two characters at least,
/// starting with a letter or digit (Debian Policy 5.6.1).
fn check_package_name(p: &str) -> Result<(), String> {
    let ok = p.len() >= 2
        && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{p:?} is not a Debian package name (lower-case letters, digits, '+', '-', '.')"
        ))
    }
}

fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: cannot make executable: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILIES: [Family; 3] = [Family::Etcd, Family::Redis, Family::None];

    fn generate(family: Family, packages: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("my-db");
        let opts = Options {
            family,
            packages: packages.iter().map(|p| p.to_string()).collect(),
        };
        write(&dir, &opts).unwrap();
        (tmp, dir)
    }

    #[test]
    fn every_skeleton_is_a_valid_definition_of_its_family() {
        for family in FAMILIES {
            let (_tmp, dir) = generate(family, &[]);
            let def = faultline_db::definition::load_path(&dir.join("db.toml"))
                .unwrap_or_else(|e| panic!("{family:?}: {e}"));
            assert_eq!(def.name, "my-db");
            let text = std::fs::read_to_string(dir.join("db.toml")).unwrap();
            let family_line = match family {
                Family::Etcd => "family = \"etcd\"",
                Family::Redis => "family = \"redis\"",
                Family::None => "family = \"none\"",
            };
            assert!(text.contains(family_line), "{family:?}");
            for entry in std::fs::read_dir(&dir).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                assert!(
                    !text.contains("{{"),
                    "{family:?}: a placeholder left: {text}"
                );
            }
        }
    }

    #[test]
    fn scripts_are_executable_and_parse_as_sh() {
        use std::os::unix::fs::PermissionsExt;
        for family in FAMILIES {
            let (_tmp, dir) = generate(family, &["memcached"]);
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "sh") {
                    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                    assert_eq!(mode & 0o111, 0o111, "{}", path.display());
                    let ok = std::process::Command::new("sh")
                        .arg("-n")
                        .arg(&path)
                        .status();
                    assert!(ok.unwrap().success(), "sh -n {}", path.display());
                }
            }
        }
    }

    #[test]
    fn python_files_compile() {
        let (_tmp, dir) = generate(Family::None, &[]);
        for file in ["kv.py", "client.py", "faultline_client.py"] {
            let ok = std::process::Command::new("python3")
                .args(["-m", "py_compile"])
                .arg(dir.join(file))
                .status()
                .expect("python3 runs");
            assert!(ok.success(), "{file}");
        }
    }

    #[test]
    fn a_package_is_installed_and_given_a_place_for_its_configuration() {
        let (_tmp, dir) = generate(Family::Redis, &["memcached"]);
        let def = faultline_db::definition::load_path(&dir.join("db.toml")).unwrap();
        assert!(
            def.packages.iter().any(|p| p == "memcached"),
            "{:?}",
            def.packages
        );
        assert!(def.packages.iter().any(|p| p == "redis-server"));
        let setup = std::fs::read_to_string(dir.join("setup.sh")).unwrap();
        assert!(
            setup.contains("# memcached: write its configuration here"),
            "{setup}"
        );
    }

    #[test]
    fn never_overwrites_and_refuses_bad_packages_before_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("taken");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("mine.txt"), "work").unwrap();
        let opts = Options {
            family: Family::Etcd,
            packages: vec![],
        };
        let e = write(&dir, &opts).unwrap_err();
        assert!(e.contains("already exists and is not empty"), "{e}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

        let fresh = tmp.path().join("fresh");
        let bad = Options {
            family: Family::Etcd,
            packages: vec!["Bad Name".into()],
        };
        let e = write(&fresh, &bad).unwrap_err();
        assert!(e.starts_with("--package: \"Bad Name\""), "{e}");
        assert!(!fresh.exists(), "nothing written for a bad argument");
    }

    #[test]
    fn the_example_system_serves_read_write_and_cas_through_a_forwarding_node() {
        // kv.py on two loopback ports: the second forwards to the first, as on a cluster.
        let (_tmp, dir) = generate(Family::None, &[]);
        let (p1, p2) = (free_port(), free_port());
        let kv = dir.join("kv.py");
        let first = spawn_kv(&kv, p1, None);
        let second = spawn_kv(&kv, p2, Some(p1));
        let result = std::panic::catch_unwind(|| {
            wait_healthy(p1);
            wait_healthy(p2);
            assert_eq!(http(p2, "PUT", "/kv/a", r#"{"value": 3}"#), "{}");
            assert_eq!(http(p1, "GET", "/kv/a", ""), r#"{"value": 3}"#);
            assert_eq!(
                http(p2, "POST", "/cas/a", r#"{"old": 3, "new": 4}"#),
                r#"{"swapped": true}"#
            );
            assert_eq!(
                http(p2, "POST", "/cas/a", r#"{"old": 3, "new": 5}"#),
                r#"{"swapped": false}"#
            );
            assert_eq!(http(p2, "GET", "/kv/a", ""), r#"{"value": 4}"#);
        });
        for mut child in [first, second] {
            let _ = child.kill();
            let _ = child.wait();
        }
        result.unwrap();
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn spawn_kv(kv: &Path, port: u16, forward: Option<u16>) -> std::process::Child {
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(kv).args(["--port", &port.to_string()]);
        if let Some(f) = forward {
            cmd.args(["--forward", &format!("127.0.0.1:{f}")]);
        }
        cmd.spawn().expect("python3 runs")
    }

    fn wait_healthy(port: u16) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("kv.py on port {port} never listened");
    }

    /// One HTTP/1.0 request; the reply's body.
    fn http(port: u16, method: &str, path: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }
}
