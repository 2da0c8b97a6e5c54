//! Databases as data: a `db.toml` definition (format: `docs/db-definition.md`) read and
//! checked completely before anything starts, and the built-in definitions (`dbs/<name>/`)
//! compiled into the binary.
//!
//! Every mistake is one line, `FILE: FIELD: expected ..., found ...`.

use crate::sql::{SqlClient, SqlPrimary};
use crate::DbKind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use toml::{Table, Value};

/// Whether a definition may upload files from outside its directory (the process-wide
/// choice of `faultline test --allow-outside-files`).
static ALLOW_OUTSIDE_FILES: AtomicBool = AtomicBool::new(false);

/// Lets (or again forbids) definitions read in this process upload files whose real path
/// is outside the definition's directory. Only an explicit command-line flag should call it.
pub fn set_allow_outside_files(allow: bool) {
    ALLOW_OUTSIDE_FILES.store(allow, Ordering::SeqCst);
}

/// Reads the file at `path` (relative to `dir`, the definition's directory) after resolving
/// every symlink on the way: a real path outside `dir` is refused unless
/// [`set_allow_outside_files`] allowed it. The error is the reason, without file or field.
fn read_inside(dir: &Path, path: &Path) -> Result<Vec<u8>, String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let real = path.canonicalize().map_err(cannot)?;
    let home = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
    if !real.starts_with(&home) && !ALLOW_OUTSIDE_FILES.load(Ordering::SeqCst) {
        return Err(format!(
            "{} is {}, outside the definition's directory {}: a definition's files stay in \
             its directory (give --allow-outside-files to allow it)",
            path.display(),
            real.display(),
            home.display()
        ));
    }
    std::fs::read(&real).map_err(cannot)
}

/// The built-in definitions: name, then each file of `dbs/<name>/` (`db.toml` first).
pub const BUILTINS: &[(&str, &[(&str, &str)])] = &[
    (
        "etcd",
        &[
            ("db.toml", include_str!("../../../dbs/etcd/db.toml")),
            ("start.sh", include_str!("../../../dbs/etcd/start.sh")),
            ("members.sh", include_str!("../../../dbs/etcd/members.sh")),
            (
                "is-primary.sh",
                include_str!("../../../dbs/etcd/is-primary.sh"),
            ),
        ],
    ),
    (
        "redis",
        &[
            ("db.toml", include_str!("../../../dbs/redis/db.toml")),
            ("setup.sh", include_str!("../../../dbs/redis/setup.sh")),
            ("ready.sh", include_str!("../../../dbs/redis/ready.sh")),
        ],
    ),
    (
        "redis-fsync-always",
        &[
            (
                "db.toml",
                include_str!("../../../dbs/redis-fsync-always/db.toml"),
            ),
            ("setup.sh", include_str!("../../../dbs/redis/setup.sh")),
            ("ready.sh", include_str!("../../../dbs/redis/ready.sh")),
        ],
    ),
    (
        "etcd-no-fsync",
        &[
            (
                "db.toml",
                include_str!("../../../dbs/etcd-no-fsync/db.toml"),
            ),
            ("start.sh", include_str!("../../../dbs/etcd/start.sh")),
            ("members.sh", include_str!("../../../dbs/etcd/members.sh")),
            (
                "is-primary.sh",
                include_str!("../../../dbs/etcd/is-primary.sh"),
            ),
        ],
    ),
    (
        "postgres",
        &[
            ("db.toml", include_str!("../../../dbs/postgres/db.toml")),
            ("setup.sh", include_str!("../../../dbs/postgres/setup.sh")),
            ("start.sh", include_str!("../../../dbs/postgres/start.sh")),
            ("ready.sh", include_str!("../../../dbs/postgres/ready.sh")),
            (
                "promote.sh",
                include_str!("../../../dbs/postgres/promote.sh"),
            ),
            ("rejoin.sh", include_str!("../../../dbs/postgres/rejoin.sh")),
        ],
    ),
    (
        "mariadb",
        &[
            ("db.toml", include_str!("../../../dbs/mariadb/db.toml")),
            ("setup.sh", include_str!("../../../dbs/mariadb/setup.sh")),
            ("ready.sh", include_str!("../../../dbs/mariadb/ready.sh")),
        ],
    ),
    (
        "mariadb-galera",
        &[
            (
                "db.toml",
                include_str!("../../../dbs/mariadb-galera/db.toml"),
            ),
            // The files of dbs/mariadb's setup, in the mode "galera".
            ("setup.sh", include_str!("../../../dbs/mariadb/setup.sh")),
            (
                "start.sh",
                include_str!("../../../dbs/mariadb-galera/start.sh"),
            ),
            (
                "ready.sh",
                include_str!("../../../dbs/mariadb-galera/ready.sh"),
            ),
        ],
    ),
    // The same files with synchronous replication (its setup command says so).
    (
        "postgres-sync",
        &[
            (
                "db.toml",
                include_str!("../../../dbs/postgres-sync/db.toml"),
            ),
            ("setup.sh", include_str!("../../../dbs/postgres/setup.sh")),
            ("start.sh", include_str!("../../../dbs/postgres/start.sh")),
            ("ready.sh", include_str!("../../../dbs/postgres/ready.sh")),
            (
                "promote.sh",
                include_str!("../../../dbs/postgres/promote.sh"),
            ),
            ("rejoin.sh", include_str!("../../../dbs/postgres/rejoin.sh")),
        ],
    ),
];

/// Where the definition's directory goes on every node: `$FAULTLINE_DIR`.
pub const NODE_DIR_BASE: &str = "/var/lib/faultline/db";

/// A database definition, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Definition {
    /// The database's name.
    pub name: String,
    /// Where it came from, as errors name it: a path, or `dbs/<name>/db.toml (built in)`.
    pub origin: String,
    /// The files beside `db.toml` (name, contents), uploaded to `$FAULTLINE_DIR`.
    pub dir_files: Vec<(String, Vec<u8>)>,
    /// Extra Debian packages for the node image.
    pub packages: Vec<String>,
    /// Files from the user's machine for every node.
    pub files: Vec<UploadFile>,
    /// Named ports (`FAULTLINE_PORT_<NAME>`).
    pub ports: BTreeMap<String, u16>,
    /// The supervised daemons; the first is the database that faults act on.
    pub daemons: Vec<DaemonDef>,
    /// Run once per node before the daemons start.
    pub setup: Option<String>,
    /// Wiped before setup and at teardown.
    pub data_dirs: Vec<String>,
    /// Exits 0 on a node once it serves.
    pub ready: String,
    /// How long every node has to become ready.
    pub ready_timeout: Duration,
    /// Extra log files to collect.
    pub logs: Vec<String>,
    /// Exits 0 on a node that considers itself primary (leader).
    pub is_primary: Option<String>,
    /// Prints the node's clock as the database sees it.
    pub clock: Option<String>,
    /// `[commands] leave` and `join`: remove a node from the cluster and add it back (the
    /// `membership` fault); both or neither.
    pub membership: Option<(String, String)>,
    /// `[storage] corrupt`: globs (relative to a data directory) of the files `corrupt-file`
    /// may damage; empty: any file under the data directories.
    pub corrupt: Vec<String>,
    /// The failover a partition of the primaries triggers, if the definition has one.
    pub failover: Option<FailoverCommands>,
    /// The built-in client.
    pub client: ClientFamily,
}

/// A definition's failover (`[commands] promote`, `position`, `rejoin`): when a partition
/// isolates the primaries, the nemesis promotes the reachable replica whose `position` is
/// highest, and at the heal runs `rejoin` on each old primary, then starts it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverCommands {
    /// Makes the node it runs on the primary.
    pub promote: String,
    /// Prints how far the node's copy of the data goes, a number (higher: more); `None`:
    /// the first reachable node in node order is promoted.
    pub position: Option<String>,
    /// Stops an old primary and makes its next start join the new primary as a replica.
    pub rejoin: Option<String>,
}

/// A file uploaded to every node.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadFile {
    /// Its path on this machine.
    pub source: PathBuf,
    /// Its contents, read when the definition was.
    pub contents: Vec<u8>,
    /// Its absolute path on the node.
    pub dest: String,
    /// Its permission bits.
    pub mode: u32,
}

/// One supervised daemon.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonDef {
    /// Names its PID file and log.
    pub name: String,
    /// A shell command running it in the foreground (run as `exec <start>`).
    pub start: String,
    /// Start it with the clock shim preloaded.
    pub clock_shim: bool,
}

/// The built-in client a definition names: a protocol family and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFamily {
    /// The etcd v3 API on `port` of each worker's node.
    Etcd {
        /// The client port.
        port: u16,
    },
    /// RESP on `port`; commands go where `primary` says.
    Redis {
        /// The server port.
        port: u16,
        /// Where commands go.
        primary: RedisPrimary,
    },
    /// The PostgreSQL wire protocol (`tokio-postgres`).
    Postgres(SqlClient),
    /// The MySQL wire protocol (`mysql_async`): MySQL, MariaDB and what speaks it.
    Mysql(SqlClient),
    /// No built-in client (`--client`).
    None,
}

/// Where a Redis-family client sends its commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisPrimary {
    /// The primary a Sentinel names, confirmed with ROLE.
    Sentinel {
        /// The Sentinels' port.
        port: u16,
        /// The name the Sentinels monitor the primary under.
        master: String,
    },
    /// The first node, which must say it is a primary.
    Fixed,
    /// The worker's own node, whatever its role.
    Any,
}

impl ClientFamily {
    /// The protocol family's name, for matching workloads; `None` for no client.
    pub fn kind(&self) -> Option<DbKind> {
        match self {
            ClientFamily::Etcd { .. } => Some(DbKind::Etcd),
            ClientFamily::Redis { .. } => Some(DbKind::Redis),
            ClientFamily::Postgres(_) => Some(DbKind::Postgres),
            ClientFamily::Mysql(_) => Some(DbKind::Mysql),
            ClientFamily::None => None,
        }
    }
}

/// The definition `spec` names: a path to a `db.toml` or its directory (when it exists, or
/// looks like a path), else a built-in name. Errors are one line.
pub fn load(spec: &str) -> Result<Definition, String> {
    if is_path(spec) {
        return load_path(Path::new(spec));
    }
    builtin(spec).ok_or_else(|| {
        let names: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
        format!(
            "unknown database {spec:?}: expected one of {}, or the path of a db.toml or of its directory (no such file or directory)",
            names.join(", ")
        )
    })?
}

/// Whether `--db SPEC` is a path rather than a built-in name: an existing file or directory
/// always is (a directory `mydb` beside you wins over a built-in of that name), and so is
/// anything that looks like one (a `/`, a `.toml` ending, `.` or `..`), so a mistyped path
/// says it cannot be read rather than that no database has that name.
pub fn is_path(spec: &str) -> bool {
    Path::new(spec).exists()
        || spec.contains('/')
        || spec.ends_with(".toml")
        || spec == "."
        || spec == ".."
}

/// The built-in definition called `name`, if there is one.
pub fn builtin(name: &str) -> Option<Result<Definition, String>> {
    let (_, files) = BUILTINS.iter().find(|(n, _)| *n == name)?;
    let origin = format!("dbs/{name}/db.toml (built in)");
    let dir_files = files
        .iter()
        .filter(|(f, _)| *f != "db.toml")
        .map(|(f, c)| (f.to_string(), c.as_bytes().to_vec()))
        .collect();
    Some(parse(&origin, files[0].1, None, dir_files))
}

/// Reads the definition at `path` (a `db.toml`, or a directory holding one).
pub fn load_path(path: &Path) -> Result<Definition, String> {
    let file = if path.is_dir() {
        path.join("db.toml")
    } else {
        path.to_path_buf()
    };
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{origin}: cannot read: {e}"))?;
    let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let mut dir_files = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| format!("{origin}: cannot list {}: {e}", dir.display()))?;
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "db.toml"))
        .collect();
    names.sort();
    for p in names {
        let contents = read_inside(&dir, &p).map_err(|e| format!("{origin}: {e}"))?;
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        dir_files.push((name, contents));
    }
    parse(&origin, &text, Some(&dir), dir_files)
}

/// Reads a table's fields, each error naming the file and the field's full path.
struct Fields<'a> {
    origin: &'a str,
    path: String,
    table: &'a Table,
}

impl<'a> Fields<'a> {
    fn err(&self, key: &str, what: impl std::fmt::Display) -> String {
        format!("{}: {}{key}: {what}", self.origin, self.path)
    }

    fn found(v: &Value) -> String {
        match v {
            Value::String(s) => format!("{s:?}"),
            other => format!("a {}", other.type_str()),
        }
    }

    fn only(&self, keys: &[&str]) -> Result<(), String> {
        for k in self.table.keys() {
            if !keys.contains(&k.as_str()) {
                return Err(self.err(
                    k,
                    format!("unknown field; expected one of: {}", keys.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(v) => Err(self.err(
                key,
                format!("expected a non-empty string, found {}", Self::found(v)),
            )),
        }
    }

    fn required(&self, key: &str) -> Result<String, String> {
        self.string(key)?
            .ok_or_else(|| self.err(key, "missing; expected a non-empty string"))
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.table.get(key) {
            None => Ok(default),
            Some(Value::Boolean(b)) => Ok(*b),
            Some(v) => Err(self.err(
                key,
                format!("expected true or false, found {}", Self::found(v)),
            )),
        }
    }

    fn port(&self, key: &str) -> Result<Option<u16>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Integer(p)) if (1..=65535).contains(p) => Ok(Some(*p as u16)),
            Some(v) => Err(self.err(
                key,
                format!(
                    "expected a port number (1 to 65535), found {}",
                    Self::found_int(v)
                ),
            )),
        }
    }

    fn found_int(v: &Value) -> String {
        match v {
            Value::Integer(i) => i.to_string(),
            other => Self::found(other),
        }
    }

    fn seconds(&self, key: &str, default: f64) -> Result<Duration, String> {
        let s = match self.table.get(key) {
            None => default,
            Some(Value::Integer(i)) => *i as f64,
            Some(Value::Float(f)) => *f,
            Some(v) => {
                return Err(self.err(key, format!("expected seconds, found {}", Self::found(v))))
            }
        };
        if s.is_finite() && s > 0.0 && s <= 86_400.0 {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(self.err(
                key,
                format!("expected a positive number of seconds, found {s}"),
            ))
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        self.array(
            key,
            "a non-empty string",
            "an array of strings",
            |_, v| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
                _ => None,
            },
        )
    }

    /// The items of the array `key` (none when it is absent), each made by `item` or refused
    /// as not being `expected`; the whole refused as not being `expected_array`.
    fn array<T>(
        &self,
        key: &str,
        expected: &str,
        expected_array: &str,
        item: impl Fn(usize, &'a Value) -> Option<T>,
    ) -> Result<Vec<T>, String> {
        match self.table.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    item(i, v).ok_or_else(|| {
                        self.err(
                            &format!("{key}[{i}]"),
                            format!("expected {expected}, found {}", Self::found(v)),
                        )
                    })
                })
                .collect(),
            Some(v) => Err(self.err(
                key,
                format!("expected {expected_array}, found {}", Self::found(v)),
            )),
        }
    }

    fn table(&self, key: &str) -> Result<Option<Fields<'a>>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(Fields {
                origin: self.origin,
                path: format!("{}{key}.", self.path),
                table: t,
            })),
            Some(v) => Err(self.err(key, format!("expected a table, found {}", Self::found(v)))),
        }
    }

    fn tables(&self, key: &str) -> Result<Vec<Fields<'a>>, String> {
        let expected_array = format!("an array of tables ([[{key}]])");
        self.array(key, "a table", &expected_array, |i, v| match v {
            Value::Table(t) => Some(Fields {
                origin: self.origin,
                path: format!("{}{key}[{i}].", self.path),
                table: t,
            }),
            _ => None,
        })
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn absolute(f: &Fields, key: &str, p: &str) -> Result<(), String> {
    if p.starts_with('/') && !p.contains('\n') && !p.split('/').any(|c| c == "..") {
        Ok(())
    } else {
        Err(f.err(key, format!("expected an absolute path, found {p:?}")))
    }
}

/// Parses and checks a definition's text; `dir` resolves `[[files]]` sources (none for
/// built-ins, which may not name any).
pub fn parse(
    origin: &str,
    text: &str,
    dir: Option<&Path>,
    dir_files: Vec<(String, Vec<u8>)>,
) -> Result<Definition, String> {
    let table: Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().lines().next().unwrap_or("").to_string();
        match line {
            Some(l) => format!("{origin}: line {l}: {message}"),
            None => format!("{origin}: {message}"),
        }
    })?;
    let top = Fields {
        origin,
        path: String::new(),
        table: &table,
    };
    top.only(&[
        "name", "packages", "files", "ports", "daemons", "setup", "ready", "logs", "commands",
        "storage", "client",
    ])?;
    let name = top.required("name")?;
    if !is_name(&name) {
        return Err(top.err(
            "name",
            format!("expected letters, digits, - and _ only, found {name:?}"),
        ));
    }
    let packages = top.strings("packages")?;
    for (i, p) in packages.iter().enumerate() {
        let ok = p.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.')
        });
        if !ok {
            return Err(top.err(
                &format!("packages[{i}]"),
                format!("expected a Debian package name, found {p:?}"),
            ));
        }
    }
    let mut files = Vec::new();
    for f in top.tables("files")? {
        f.only(&["source", "dest", "mode"])?;
        let source = f.required("source")?;
        let dest = f.required("dest")?;
        absolute(&f, "dest", &dest)?;
        let mode = match f.string("mode")? {
            None => 0o644,
            Some(m) => u32::from_str_radix(&m, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| {
                    f.err(
                        "mode",
                        format!("expected an octal mode such as \"0755\", found {m:?}"),
                    )
                })?,
        };
        let Some(dir) = dir else {
            return Err(f.err("source", "a built-in definition cannot upload local files"));
        };
        let path = dir.join(&source);
        let contents = read_inside(dir, &path).map_err(|e| f.err("source", e))?;
        files.push(UploadFile {
            source: path,
            contents,
            dest,
            mode,
        });
    }
    let mut ports = BTreeMap::new();
    if let Some(p) = top.table("ports")? {
        for key in p.table.keys() {
            if !is_name(key) {
                return Err(p.err(key, "expected a port name of letters, digits, - and _"));
            }
            ports.insert(key.clone(), p.port(key)?.unwrap_or_default());
        }
    }
    let mut daemons = Vec::new();
    for d in top.tables("daemons")? {
        d.only(&["name", "start", "clock_shim"])?;
        let name = d.required("name")?;
        if !is_name(&name) {
            return Err(d.err(
                "name",
                format!("expected letters, digits, - and _ only, found {name:?}"),
            ));
        }
        if daemons.iter().any(|x: &DaemonDef| x.name == name) {
            return Err(d.err(
                "name",
                format!("expected a unique name, found {name:?} twice"),
            ));
        }
        daemons.push(DaemonDef {
            name,
            start: d.required("start")?,
            clock_shim: d.boolean("clock_shim", true)?,
        });
    }
    if daemons.is_empty() {
        return Err(top.err("daemons", "expected at least one [[daemons]] table"));
    }
    let (setup, data_dirs) = match top.table("setup")? {
        None => (None, Vec::new()),
        Some(s) => {
            s.only(&["command", "data_dirs"])?;
            let dirs = s.strings("data_dirs")?;
            for (i, d) in dirs.iter().enumerate() {
                absolute(&s, &format!("data_dirs[{i}]"), d)?;
                if d.trim_end_matches('/').is_empty() {
                    return Err(s.err(
                        &format!("data_dirs[{i}]"),
                        "expected a directory other than /",
                    ));
                }
            }
            (s.string("command")?, dirs)
        }
    };
    let ready = top
        .table("ready")?
        .ok_or_else(|| top.err("ready", "missing; expected a table with a command"))?;
    ready.only(&["command", "timeout_s"])?;
    let logs = top.strings("logs")?;
    for (i, l) in logs.iter().enumerate() {
        absolute(&top, &format!("logs[{i}]"), l)?;
    }
    let (is_primary, clock, membership, failover) = match top.table("commands")? {
        None => (None, None, None, None),
        Some(c) => {
            c.only(&[
                "is_primary",
                "clock",
                "leave",
                "join",
                "promote",
                "position",
                "rejoin",
            ])?;
            let membership = match (c.string("leave")?, c.string("join")?) {
                (Some(l), Some(j)) => Some((l, j)),
                (None, None) => None,
                (Some(_), None) => return Err(c.err("join", "missing; leave and join go together")),
                (None, Some(_)) => {
                    return Err(c.err("leave", "missing; leave and join go together"))
                }
            };
            (
                c.string("is_primary")?,
                c.string("clock")?,
                membership,
                failover(&c)?,
            )
        }
    };
    let corrupt = corrupt_patterns(&top, &data_dirs)?;
    let client = top
        .table("client")?
        .ok_or_else(|| top.err("client", "missing; expected a table with a family"))?;
    let client = parse_client(&client)?;
    Ok(Definition {
        name,
        origin: origin.to_string(),
        dir_files,
        packages,
        files,
        ports,
        daemons,
        setup,
        data_dirs,
        ready: ready.required("command")?,
        ready_timeout: ready.seconds("timeout_s", 60.0)?,
        logs,
        is_primary,
        clock,
        membership,
        corrupt,
        failover,
        client,
    })
}

/// `[storage] corrupt`: relative globs, without `..`, and only with data directories.
fn corrupt_patterns(top: &Fields, data_dirs: &[String]) -> Result<Vec<String>, String> {
    let Some(s) = top.table("storage")? else {
        return Ok(Vec::new());
    };
    s.only(&["corrupt"])?;
    let patterns = s.strings("corrupt")?;
    for (i, p) in patterns.iter().enumerate() {
        let field = format!("corrupt[{i}]");
        if p.is_empty() || p.starts_with('/') || p.split('/').any(|seg| seg == "..") {
            return Err(s.err(
                &field,
                format!("expected a glob relative to a data directory (no leading /, no ..), found {p:?}"),
            ));
        }
    }
    if !patterns.is_empty() && data_dirs.is_empty() {
        return Err(s.err(
            "corrupt",
            "needs setup.data_dirs: the patterns are relative to them",
        ));
    }
    Ok(patterns)
}

/// `[commands]`' failover: `promote` makes it; `position` and `rejoin` need it, and a
/// failover needs `is_primary` to find the primaries it isolates.
fn failover(c: &Fields) -> Result<Option<FailoverCommands>, String> {
    let (position, rejoin) = (c.string("position")?, c.string("rejoin")?);
    let Some(promote) = c.string("promote")? else {
        if position.is_some() || rejoin.is_some() {
            return Err(c.err(
                "promote",
                "missing; position and rejoin are part of a failover",
            ));
        }
        return Ok(None);
    };
    if c.string("is_primary")?.is_none() {
        return Err(c.err(
            "is_primary",
            "missing; a failover (promote) must find the primaries",
        ));
    }
    Ok(Some(FailoverCommands {
        promote,
        position,
        rejoin,
    }))
}

fn parse_client(c: &Fields) -> Result<ClientFamily, String> {
    let family = c.required("family")?;
    let port = |c: &Fields| {
        c.port("port")?
            .ok_or_else(|| c.err("port", "missing; expected the client port"))
    };
    match family.as_str() {
        "etcd" => {
            c.only(&["family", "port"])?;
            Ok(ClientFamily::Etcd { port: port(c)? })
        }
        "redis" => {
            c.only(&["family", "port", "primary", "sentinel_port", "master_name"])?;
            let mode = c.string("primary")?.unwrap_or_else(|| "sentinel".into());
            let primary = match mode.as_str() {
                "sentinel" => RedisPrimary::Sentinel {
                    port: c.port("sentinel_port")?.unwrap_or(26379),
                    master: c
                        .string("master_name")?
                        .unwrap_or_else(|| "faultline".into()),
                },
                "fixed" | "any" => {
                    for k in ["sentinel_port", "master_name"] {
                        if c.table.contains_key(k) {
                            return Err(
                                c.err(k, format!("only for primary = \"sentinel\", not {mode:?}"))
                            );
                        }
                    }
                    if mode == "fixed" {
                        RedisPrimary::Fixed
                    } else {
                        RedisPrimary::Any
                    }
                }
                other => {
                    return Err(c.err(
                        "primary",
                        format!("expected \"sentinel\", \"fixed\" or \"any\", found {other:?}"),
                    ))
                }
            };
            Ok(ClientFamily::Redis {
                port: port(c)?,
                primary,
            })
        }
        "postgres" => Ok(ClientFamily::Postgres(parse_sql_client(c, "postgres")?)),
        "mysql" => Ok(ClientFamily::Mysql(parse_sql_client(c, "root")?)),
        "none" => {
            c.only(&["family"])?;
            Ok(ClientFamily::None)
        }
        other => Err(c.err(
            "family",
            format!(
                "expected \"etcd\", \"redis\", \"postgres\", \"mysql\" or \"none\", found {other:?}"
            ),
        )),
    }
}

/// A SQL family's `[client]`: port, user (default `default_user`), password, database
/// (default: the user's name) and primary (`any`, `fixed` or `query` with `primary_query`).
fn parse_sql_client(c: &Fields, default_user: &str) -> Result<SqlClient, String> {
    c.only(&[
        "family",
        "port",
        "user",
        "password",
        "database",
        "primary",
        "primary_query",
    ])?;
    let port = c
        .port("port")?
        .ok_or_else(|| c.err("port", "missing; expected the client port"))?;
    let user = c.string("user")?.unwrap_or_else(|| default_user.into());
    let database = c.string("database")?.unwrap_or_else(|| user.clone());
    let mode = c.string("primary")?.unwrap_or_else(|| "any".into());
    let query = c.string("primary_query")?;
    let primary = match (mode.as_str(), query) {
        ("any", None) => SqlPrimary::Any,
        ("fixed", None) => SqlPrimary::Fixed,
        ("query", Some(q)) => SqlPrimary::Query(q),
        ("query", None) => {
            return Err(c.err(
                "primary_query",
                "missing; expected the SQL that returns true on the primary",
            ))
        }
        ("any" | "fixed", Some(_)) => {
            return Err(c.err(
                "primary_query",
                format!("only for primary = \"query\", not {mode:?}"),
            ))
        }
        (other, _) => {
            return Err(c.err(
                "primary",
                format!("expected \"any\", \"fixed\" or \"query\", found {other:?}"),
            ))
        }
    };
    Ok(SqlClient {
        port,
        user,
        password: c.string("password")?,
        database,
        primary,
    })
}

impl Definition {
    /// `$FAULTLINE_DIR` on every node.
    pub fn node_dir(&self) -> String {
        format!("{NODE_DIR_BASE}/{}", self.name)
    }

    /// The environment of every command on `node` (name, address) of `nodes`, as
    /// `(variable, value)` pairs in a fixed order.
    pub fn environment(&self, node: (&str, &str), nodes: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = vec![
            ("FAULTLINE_DB".to_string(), self.name.clone()),
            ("FAULTLINE_DIR".into(), self.node_dir()),
            ("FAULTLINE_NODE".into(), node.0.to_string()),
            ("FAULTLINE_ADDRESS".into(), node.1.to_string()),
            (
                "FAULTLINE_NODES".into(),
                nodes.iter().map(|n| n.0).collect::<Vec<_>>().join(" "),
            ),
            (
                "FAULTLINE_NODE_ADDRESSES".into(),
                nodes
                    .iter()
                    .map(|(n, a)| format!("{n}={a}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("FAULTLINE_NODE_COUNT".into(), nodes.len().to_string()),
            (
                "FAULTLINE_FIRST_NODE".into(),
                nodes.first().map(|n| n.0).unwrap_or_default().to_string(),
            ),
            (
                "FAULTLINE_FIRST_ADDRESS".into(),
                nodes.first().map(|n| n.1).unwrap_or_default().to_string(),
            ),
        ];
        for (name, port) in &self.ports {
            env.push((
                format!(
                    "FAULTLINE_PORT_{}",
                    name.to_ascii_uppercase().replace('-', "_")
                ),
                port.to_string(),
            ));
        }
        env
    }

    /// Whether clock faults through the shim reach the database (its first daemon runs
    /// under the shim).
    pub fn clock_shim(&self) -> bool {
        self.daemons[0].clock_shim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "kv"
packages = ["redis-server"]
[ports]
client = 7000
peer-port = 7001
[[daemons]]
name = "kv"
start = "kv --port $FAULTLINE_PORT_CLIENT"
[ready]
command = "true"
[client]
family = "redis"
port = 7000
primary = "any"
"#;

    fn err(text: &str) -> String {
        parse("db.toml", text, Some(Path::new(".")), vec![]).unwrap_err()
    }

    #[test]
    fn the_built_in_definitions_parse() {
        for (name, _) in BUILTINS {
            let d = builtin(name).unwrap().unwrap();
            assert_eq!(d.name, *name);
            // Multi-primary definitions (clients on any node) have no primary to name.
            let any = |c: &ClientFamily| match c {
                ClientFamily::Mysql(c) | ClientFamily::Postgres(c) => c.primary == SqlPrimary::Any,
                _ => false,
            };
            assert!(d.is_primary.is_some() || any(&d.client), "{name}");
        }
        let etcd = load("etcd").unwrap();
        assert_eq!(etcd.client, ClientFamily::Etcd { port: 2379 });
        assert!(!etcd.clock_shim(), "etcd is a static Go binary");
        let redis = load("redis").unwrap();
        assert_eq!(redis.daemons.len(), 2);
        assert!(redis.clock_shim() && redis.clock.is_some());
        assert!(load("mysql").unwrap_err().starts_with(
            "unknown database \"mysql\": expected one of etcd, redis, redis-fsync-always"
        ));
    }

    #[test]
    fn a_failover_reads_from_commands_and_needs_promote_and_is_primary() {
        let pg = load("postgres").unwrap().failover.unwrap();
        assert_eq!(pg.promote, "sh $FAULTLINE_DIR/promote.sh");
        assert!(pg.position.unwrap().contains("pg_last_wal_receive_lsn()"));
        assert_eq!(pg.rejoin.as_deref(), Some("sh $FAULTLINE_DIR/rejoin.sh"));
        assert!(load("mariadb").unwrap().failover.is_none());
        let with = |commands: &str| format!("{GOOD}[commands]\n{commands}");
        let d = parse(
            "db.toml",
            &with("is_primary = \"true\"\npromote = \"p\"\n"),
            Some(Path::new(".")),
            vec![],
        );
        let f = d.unwrap().failover.unwrap();
        assert_eq!(
            (f.promote.as_str(), f.position, f.rejoin),
            ("p", None, None)
        );
        assert_eq!(
            err(&with("is_primary = \"true\"\nrejoin = \"r\"\n")),
            "db.toml: commands.promote: missing; position and rejoin are part of a failover"
        );
        assert_eq!(
            err(&with("promote = \"p\"\n")),
            "db.toml: commands.is_primary: missing; a failover (promote) must find the primaries"
        );
    }

    #[test]
    fn an_existing_directory_named_without_a_slash_is_a_path_not_a_builtin_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("etcd");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("db.toml"), GOOD).unwrap();
        let cwd = std::env::current_dir().unwrap();
        std::env::set_current_dir(tmp.path()).unwrap();
        let mine = load("etcd");
        std::env::set_current_dir(cwd).unwrap();
        let mine = mine.unwrap();
        assert_eq!(mine.name, "kv", "the directory wins over the built-in etcd");
        assert!(is_path("etcd/") && !is_path("no-such-db-here"));
    }

    #[test]
    fn a_good_definition_reads_with_its_defaults() {
        let d = parse("db.toml", GOOD, Some(Path::new(".")), vec![]).unwrap();
        assert_eq!(d.ready_timeout, Duration::from_secs(60));
        assert!(d.daemons[0].clock_shim);
        assert_eq!(
            d.client,
            ClientFamily::Redis {
                port: 7000,
                primary: RedisPrimary::Any
            }
        );
        let env = d.environment(
            ("n2", "10.0.0.3"),
            &[("n1", "10.0.0.2"), ("n2", "10.0.0.3")],
        );
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("FAULTLINE_NODE_ADDRESSES"),
            Some("n1=10.0.0.2 n2=10.0.0.3")
        );
        assert_eq!(get("FAULTLINE_FIRST_ADDRESS"), Some("10.0.0.2"));
        assert_eq!(get("FAULTLINE_PORT_PEER_PORT"), Some("7001"));
        assert_eq!(get("FAULTLINE_DIR"), Some("/var/lib/faultline/db/kv"));
    }

    #[test]
    fn mistakes_are_one_line_naming_file_and_field() {
        let cases = [
            (GOOD.replace("family = \"redis\"", "family = \"mongodb\""),
             "db.toml: client.family: expected \"etcd\", \"redis\", \"postgres\", \"mysql\" or \"none\", found \"mongodb\""),
            (GOOD.replace("port = 7000\nprimary", "port = 70000\nprimary"),
             "db.toml: client.port: expected a port number (1 to 65535), found 70000"),
            (GOOD.replace("[[daemons]]\nname = \"kv\"\nstart = \"kv --port $FAULTLINE_PORT_CLIENT\"\n", ""),
             "db.toml: daemons: expected at least one [[daemons]] table"),
            (GOOD.replace("start =", "strat ="),
             "db.toml: daemons[0].strat: unknown field; expected one of: name, start, clock_shim"),
            (GOOD.replace("[ready]\ncommand = \"true\"\n", ""),
             "db.toml: ready: missing; expected a table with a command"),
            (GOOD.replace("primary = \"any\"", "primary = \"any\"\nmaster_name = \"m\""),
             "db.toml: client.master_name: only for primary = \"sentinel\", not \"any\""),
            (GOOD.replace("name = \"kv\"\npackages", "name = \"k v\"\npackages"),
             "db.toml: name: expected letters, digits, - and _ only, found \"k v\""),
            (GOOD.replace("[\"redis-server\"]", "[\"Redis Server\"]"),
             "db.toml: packages[0]: expected a Debian package name, found \"Redis Server\""),
            (format!("{GOOD}[[files]]\nsource = \"no/such/file\"\ndest = \"/usr/bin/kv\"\n"),
             "db.toml: files[0].source: cannot read ./no/such/file: No such file or directory (os error 2)"),
            (format!("{GOOD}[[files]]\nsource = \"x\"\ndest = \"bin/kv\"\n"),
             "db.toml: files[0].dest: expected an absolute path, found \"bin/kv\""),
            (GOOD.replace("command = \"true\"", "command = \"true\"\ntimeout_s = -1"),
             "db.toml: ready.timeout_s: expected a positive number of seconds, found -1"),
            ("name = \"x\"\n[[daemons]\n".to_string(), "db.toml: line 2: "),
            (format!("{GOOD}[commands]\nleave = \"x\"\n"),
             "db.toml: commands.join: missing; leave and join go together"),
            (format!("{GOOD}[storage]\ncorrupt = [\"*.aof\"]\n"),
             "db.toml: storage.corrupt: needs setup.data_dirs: the patterns are relative to them"),
            (format!("{GOOD}[setup]\ndata_dirs = [\"/d\"]\n[storage]\ncorrupt = [\"../x\"]\n"),
             "db.toml: storage.corrupt[0]: expected a glob relative to a data directory (no leading /, no ..), found \"../x\""),
            (format!("{GOOD}[storage]\ncorupt = []\n"),
             "db.toml: storage.corupt: unknown field; expected one of: corrupt"),
        ];
        for (text, expected) in cases {
            let e = err(&text);
            assert!(e.starts_with(expected), "{e}\n  expected: {expected}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn membership_commands_and_corrupt_patterns_are_read() {
        let text = format!(
            "{GOOD}[setup]\ndata_dirs = [\"/d\"]\n[storage]\ncorrupt = [\"snap/*\", \"**.wal\"]\n[commands]\nleave = \"sh leave.sh\"\njoin = \"sh join.sh\"\n"
        );
        let d = parse("db.toml", &text, Some(Path::new(".")), vec![]).unwrap();
        assert_eq!(d.corrupt, ["snap/*", "**.wal"]);
        assert_eq!(
            d.membership,
            Some(("sh leave.sh".to_string(), "sh join.sh".to_string()))
        );
        let plain = parse("db.toml", GOOD, Some(Path::new(".")), vec![]).unwrap();
        assert!(plain.membership.is_none() && plain.corrupt.is_empty());
    }

    #[test]
    fn sql_clients_read_with_their_defaults_and_mistakes_are_named() {
        let sql = |client: &str| {
            let text = GOOD.replace(
                "family = \"redis\"\nport = 7000\nprimary = \"any\"\n",
                client,
            );
            parse("db.toml", &text, Some(Path::new(".")), vec![]).map(|d| d.client)
        };
        assert_eq!(
            sql("family = \"postgres\"\nport = 5432\n"),
            Ok(ClientFamily::Postgres(SqlClient {
                port: 5432,
                user: "postgres".into(),
                password: None,
                database: "postgres".into(),
                primary: SqlPrimary::Any,
            }))
        );
        let my = "family = \"mysql\"\nport = 3306\nuser = \"app\"\npassword = \"pw\"\n\
                  primary = \"query\"\nprimary_query = \"SELECT @@read_only = 0\"\n";
        assert_eq!(
            sql(my),
            Ok(ClientFamily::Mysql(SqlClient {
                port: 3306,
                user: "app".into(),
                password: Some("pw".into()),
                database: "app".into(),
                primary: SqlPrimary::Query("SELECT @@read_only = 0".into()),
            }))
        );
        let cases = [
            ("family = \"postgres\"\nport = 1\nprimary = \"query\"\n",
             "db.toml: client.primary_query: missing; expected the SQL that returns true on the primary"),
            ("family = \"postgres\"\nport = 1\nprimary_query = \"SELECT true\"\n",
             "db.toml: client.primary_query: only for primary = \"query\", not \"any\""),
            ("family = \"mysql\"\nport = 1\nprimary = \"leader\"\n",
             "db.toml: client.primary: expected \"any\", \"fixed\" or \"query\", found \"leader\""),
            ("family = \"mysql\"\n", "db.toml: client.port: missing; expected the client port"),
            ("family = \"postgres\"\nport = 1\nmaster_name = \"x\"\n",
             "db.toml: client.master_name: unknown field"),
        ];
        for (client, expected) in cases {
            let e = sql(client).unwrap_err();
            assert!(e.starts_with(expected), "{e}\n  expected: {expected}");
        }
    }

    #[test]
    fn files_are_read_with_their_modes_and_dir_files_listed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server"), b"#!/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("setup.sh"), b"echo hi\n").unwrap();
        let text = format!(
            "{GOOD}[[files]]\nsource = \"server\"\ndest = \"/usr/local/bin/kv\"\nmode = \"0755\"\n"
        );
        std::fs::write(dir.path().join("db.toml"), text).unwrap();
        let d = load_path(dir.path()).unwrap();
        assert_eq!(d.files[0].mode, 0o755);
        assert_eq!(d.files[0].contents, b"#!/bin/sh\n");
        let names: Vec<&str> = d.dir_files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["server", "setup.sh"]);
        let missing = load_path(&dir.path().join("nope.toml")).unwrap_err();
        assert!(missing.contains("nope.toml: cannot read"), "{missing}");
    }

    #[test]
    fn a_definition_never_reads_outside_its_directory_unless_allowed() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, b"root:x:0:0\n").unwrap();
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("defs").join("kv");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ok"), b"inside").unwrap();
        let up = "../".repeat(dir.components().count());
        let relative = format!(
            "{up}{}",
            secret.display().to_string().trim_start_matches('/')
        );
        let source = |s: &str| format!("{GOOD}[[files]]\nsource = {s:?}\ndest = \"/etc/kv\"\n");
        let write = |text: String| std::fs::write(dir.join("db.toml"), text).unwrap();
        let outside_rule = "outside the definition's directory";
        for s in [secret.display().to_string(), relative] {
            write(source(&s));
            let e = load_path(&dir).unwrap_err();
            assert!(
                e.contains("db.toml: files[0].source: ") && e.contains(outside_rule),
                "{e}"
            );
            assert!(
                e.contains("--allow-outside-files") && !e.contains('\n'),
                "{e}"
            );
        }
        // A symlink as a source, and one beside db.toml (uploaded to $FAULTLINE_DIR).
        std::os::unix::fs::symlink(&secret, dir.join("link")).unwrap();
        write(source("link"));
        let e = load_path(&dir).unwrap_err();
        assert!(e.contains(outside_rule), "{e}");
        write(source("ok"));
        let e = load_path(&dir).unwrap_err();
        assert!(e.contains("link is ") && e.contains(outside_rule), "{e}");
        // A symlink that stays inside is fine.
        std::fs::remove_file(dir.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.join("ok"), dir.join("link")).unwrap();
        write(source("link"));
        assert_eq!(load_path(&dir).unwrap().files[0].contents, b"inside");
        // Allowed explicitly, the outside file is read.
        std::fs::remove_file(dir.join("link")).unwrap();
        std::os::unix::fs::symlink(&secret, dir.join("link")).unwrap();
        write(source(&secret.display().to_string()));
        set_allow_outside_files(true);
        let d = load_path(&dir);
        set_allow_outside_files(false);
        let d = d.unwrap();
        assert_eq!(d.files[0].contents, b"root:x:0:0\n");
    }

    proptest::proptest! {
        #[test]
        fn random_text_never_panics_and_errors_are_one_line(text in "\\PC{0,300}") {
            if let Err(e) = parse("db.toml", &text, None, vec![]) {
                proptest::prop_assert!(!e.contains('\n'));
                proptest::prop_assert!(e.starts_with("db.toml: "));
            }
        }
    }
}
