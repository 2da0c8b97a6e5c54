//! The node image: a Debian bookworm root filesystem made by debootstrap and imported with
//! `docker import`, so no container registry is ever needed.
//!
//! The image is tagged `faultline-node:<recipe hash>`; the hash covers everything that goes
//! into it (package list, clock shim, init script, sshd settings, build steps), so an
//! unchanged recipe is built once and reused.

use crate::proc::{run_tracked, which};
use crate::ClusterError;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The repository part of the node image's tag.
pub const IMAGE_REPO: &str = "faultline-node";
/// The Debian release of the image (the host's too, so the clock shim built here runs there).
pub const SUITE: &str = "bookworm";
/// The Debian mirror debootstrap uses unless `FAULTLINE_DEBIAN_MIRROR` says otherwise.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

const CLOCKSHIM_C: &str = include_str!("../../../image/clockshim.c");
const CLOCKVDSO_C: &str = include_str!("../../../image/clockvdso.c");
const NETQ_C: &str = include_str!("../../../image/netq.c");
/// How `image/clockvdso.c` (faultline-clock) is compiled: its injected functions are copied
/// into other processes as one block, so they may not call out (no stack protector, no
/// jump tables) and must not start with CET landing pads they would not need.
pub const CLOCK_TOOL_CFLAGS: &[&str] = &[
    "-O2",
    "-Wall",
    "-Wextra",
    "-fno-stack-protector",
    "-fcf-protection=none",
    "-fno-jump-tables",
];
/// How `image/netq.c` (faultline-netq) is compiled.
pub const NETQ_CFLAGS: &[&str] = &["-O2", "-Wall", "-Wextra"];
const NODE_INIT: &str = include_str!("../../../image/node-init.sh");
const SSHD_CONFIG: &str = include_str!("../../../image/sshd_config");
const PACKAGES: &str = include_str!("../../../image/packages.txt");
/// Bump when the build steps below change in a way the files above do not show.
const BUILD_STEPS_VERSION: &str = "4";
/// About how many progress lines debootstrap prints for this package set.
const DEBOOTSTRAP_LINES: u64 = 650;
const SHIM_STEPS: u64 = 10;
const IMPORT_STEPS: u64 = 40;

/// The Debian packages in the image.
pub fn packages() -> Vec<&'static str> {
    PACKAGES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The packages of `extra` (a database definition's) that the base image lacks, sorted,
/// without repeats: what makes an image variant.
pub fn extra_packages(extra: &[String]) -> Vec<String> {
    let base = packages();
    let mut extra: Vec<String> = extra
        .iter()
        .filter(|p| !base.contains(&p.as_str()))
        .cloned()
        .collect();
    extra.sort();
    extra.dedup();
    extra
}

/// A short hash of everything that determines the base image's contents.
pub fn recipe_hash() -> String {
    recipe_hash_for(&[])
}

/// A short hash of everything that determines the contents of the image with `extra`
/// packages: the base recipe's, when the base image has them all.
pub fn recipe_hash_for(extra: &[String]) -> String {
    let extra = extra_packages(extra);
    let mut h = Sha256::new();
    let extra_text = extra.join("\n");
    let mut parts = vec![
        BUILD_STEPS_VERSION,
        SUITE,
        PACKAGES,
        CLOCKSHIM_C,
        CLOCKVDSO_C,
        NETQ_C,
        NODE_INIT,
        SSHD_CONFIG,
    ];
    // The base recipe's hash stays what it was before variants existed.
    if !extra.is_empty() {
        parts.push(&extra_text);
    }
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The node image's tag for the current recipe, e.g. `faultline-node:3f2a9c01b7de`.
pub fn image_tag() -> String {
    image_tag_for(&[])
}

/// The tag of the node image with `extra` packages (a variant, or the base image when it
/// has them all).
pub fn image_tag_for(extra: &[String]) -> String {
    format!("{IMAGE_REPO}:{}", recipe_hash_for(extra))
}

/// Checks that the docker CLI exists and its daemon answers.
pub fn check_docker() -> Result<(), ClusterError> {
    if which("docker").is_none() {
        return Err(ClusterError::Missing(
            "docker not found: install it with `apt-get install -y docker.io`".into(),
        ));
    }
    let out = run_tracked(
        Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]),
        Duration::from_secs(20),
    )?;
    if out.status != 0 {
        let why = out.stderr_text();
        let why = why.lines().next().unwrap_or("no answer");
        return Err(ClusterError::Missing(format!(
            "the Docker daemon is not running ({why}): start it with `service docker start` or `dockerd &`"
        )));
    }
    Ok(())
}

/// Whether the docker engine holds an image with this tag.
pub fn image_exists(tag: &str) -> Result<bool, ClusterError> {
    let out = run_tracked(
        Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", tag]),
        Duration::from_secs(30),
    )?;
    Ok(out.status == 0)
}

/// Returns the node image's tag, building the image first if the engine lacks it.
pub fn ensure_image() -> Result<String, ClusterError> {
    check_docker()?;
    let tag = image_tag();
    if image_exists(&tag)? {
        return Ok(tag);
    }
    build_image(true, false)
}

/// Builds the node image and tags it with [`image_tag`] and `latest`; unless `force`, an
/// image that appeared while waiting for another build is taken as is.
///
/// Steps: debootstrap a minbase root filesystem with [`packages`] (a package cache under
/// the cache dir avoids downloading twice), compile the clock shim into it, add the init
/// script and sshd settings, remove the host keys, then `docker import`. Concurrent builds
/// wait for each other through a lock file. Needs root, debootstrap and gcc.
pub fn build_image(progress: bool, force: bool) -> Result<String, ClusterError> {
    build_image_for(&[], progress, force)
}

/// Builds the node image with `extra` Debian packages (see [`build_image`]), tagged with
/// [`image_tag_for`] (and `latest` only for the base image).
pub fn build_image_for(
    extra: &[String],
    progress: bool,
    force: bool,
) -> Result<String, ClusterError> {
    // A signal mid-build must stop debootstrap and remove its half-made root filesystem.
    crate::guard::install_handler();
    check_docker()?;
    for (tool, package) in [
        ("debootstrap", "debootstrap"),
        ("gcc", "gcc"),
        ("tar", "tar"),
    ] {
        if which(tool).is_none() {
            return Err(ClusterError::Missing(format!(
                "{tool} not found: install it with `apt-get install -y {package}`"
            )));
        }
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(ClusterError::Missing(
            "building the node image runs debootstrap, which needs root: run `faultline image build` as root".into(),
        ));
    }
    let cache = cache_dir();
    let debs = cache.join("debootstrap");
    std::fs::create_dir_all(&debs).map_err(|e| io_err(&debs, e))?;
    let _lock = BuildLock::acquire(&cache.join("build.lock"))?;
    let extra = extra_packages(extra);
    let tag = image_tag_for(&extra);
    // Someone else may have built it while we waited for the lock.
    if !force && image_exists(&tag)? {
        return Ok(tag);
    }

    let bar = if progress {
        ProgressBar::new(DEBOOTSTRAP_LINES + SHIM_STEPS + IMPORT_STEPS)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} building {prefix} [{elapsed_precise}] [{bar:30}] {percent:>3}% {wide_msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(tag.clone());
    bar.enable_steady_tick(Duration::from_millis(200));

    let work = WorkDir::create()?;
    let rootfs = work.path.join("rootfs");
    // Beside the cache, not in the scratch directory: an error names it, so it must stay.
    let log_path = cache.join(format!("debootstrap-{}.log", tag.replace([':', '/'], "-")));
    debootstrap(&rootfs, &debs, &log_path, &bar, &extra)?;
    let _ = std::fs::remove_file(&log_path);
    bar.set_position(DEBOOTSTRAP_LINES);
    bar.set_message("compiling the clock shim");
    customize(&rootfs, &work.path, &tag)?;
    bar.inc(SHIM_STEPS);
    bar.set_message("docker import");
    import(&rootfs, &tag)?;
    bar.inc(IMPORT_STEPS);
    bar.finish_with_message("done");
    Ok(tag)
}

/// Where faultline caches downloaded packages: `$FAULTLINE_CACHE_DIR` or /var/cache/faultline.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("FAULTLINE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/faultline"))
}

fn io_err(path: &Path, e: std::io::Error) -> ClusterError {
    ClusterError::Io(format!("{}: {e}", path.display()))
}

fn debootstrap(
    rootfs: &Path,
    debs: &Path,
    log_path: &Path,
    bar: &ProgressBar,
    extra: &[String],
) -> Result<(), ClusterError> {
    let mut include: Vec<String> = packages().iter().map(|p| p.to_string()).collect();
    include.extend(extra.iter().cloned());
    let mirror =
        std::env::var("FAULTLINE_DEBIAN_MIRROR").unwrap_or_else(|_| DEFAULT_MIRROR.to_string());
    let mut log = std::fs::File::create(log_path).map_err(|e| io_err(log_path, e))?;
    let mut cmd = Command::new("debootstrap");
    cmd.arg("--variant=minbase")
        .arg(format!("--include={}", include.join(",")))
        .arg(format!("--cache-dir={}", debs.display()))
        .arg(SUITE)
        .arg(rootfs)
        .arg(&mirror)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = crate::proc::spawn_tracked(&mut cmd)?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let err_thread = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let stdout = child.stdout.take().expect("stdout is piped");
    // debootstrap says what failed on stdout ("E: Couldn't find these debs: ...").
    let mut last_error = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let _ = writeln!(log, "{line}");
        if line.starts_with("E: ") {
            last_error = Some(line.clone());
        }
        if let Some(msg) = line.strip_prefix("I: ") {
            if bar.position() + 1 < DEBOOTSTRAP_LINES {
                bar.inc(1);
            }
            bar.set_message(msg.to_string());
        }
    }
    let status = child.wait().map_err(|e| ClusterError::Io(e.to_string()))?;
    crate::proc::untrack(child.id());
    let stderr = err_thread.join().unwrap_or_default();
    let _ = log.write_all(stderr.as_bytes());
    if !status.success() {
        let last = last_error
            .as_deref()
            .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("no error output");
        return Err(ClusterError::Build(format!(
            "debootstrap {SUITE} from {mirror} failed: {last} (full log: {})",
            log_path.display()
        )));
    }
    Ok(())
}

fn customize(rootfs: &Path, work: &Path, tag: &str) -> Result<(), ClusterError> {
    let write = |rel: &str, contents: &str, mode: u32| -> Result<(), ClusterError> {
        use std::os::unix::fs::PermissionsExt;
        let path = rootfs.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        std::fs::write(&path, contents).map_err(|e| io_err(&path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_err(&path, e))
    };
    let src = work.join("clockshim.c");
    std::fs::write(&src, CLOCKSHIM_C).map_err(|e| io_err(&src, e))?;
    let shim = rootfs.join(faultline_control::faults::CLOCK_SHIM.trim_start_matches('/'));
    std::fs::create_dir_all(shim.parent().expect("shim path has a parent"))
        .map_err(|e| io_err(&shim, e))?;
    let out = run_tracked(
        Command::new("gcc")
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(&shim)
            .arg(&src),
        Duration::from_secs(120),
    )?;
    if out.status != 0 {
        return Err(ClusterError::Build(format!(
            "gcc could not compile the clock shim: {}",
            out.stderr_text()
        )));
    }
    for (name, source, flags, dest) in [
        (
            "clockvdso.c",
            CLOCKVDSO_C,
            CLOCK_TOOL_CFLAGS,
            faultline_control::faults::CLOCK_TOOL,
        ),
        (
            "netq.c",
            NETQ_C,
            NETQ_CFLAGS,
            faultline_control::faults::NETQ_TOOL,
        ),
    ] {
        let src = work.join(name);
        std::fs::write(&src, source).map_err(|e| io_err(&src, e))?;
        let out_path = rootfs.join(dest.trim_start_matches('/'));
        let out = run_tracked(
            Command::new("gcc")
                .args(flags)
                .arg("-o")
                .arg(&out_path)
                .arg(&src),
            Duration::from_secs(120),
        )?;
        if out.status != 0 {
            return Err(ClusterError::Build(format!(
                "gcc could not compile image/{name}: {}",
                out.stderr_text()
            )));
        }
    }
    write("usr/local/sbin/faultline-node-init", NODE_INIT, 0o755)?;
    write("etc/ssh/sshd_config.d/faultline.conf", SSHD_CONFIG, 0o644)?;
    write("etc/faultline-image", &format!("{tag}\n"), 0o644)?;
    write("var/lib/faultline/clock-offset", "0\n", 0o644)?;
    for dir in ["var/lib/faultline/run", "var/log/faultline", "run/sshd"] {
        let d = rootfs.join(dir);
        std::fs::create_dir_all(&d).map_err(|e| io_err(&d, e))?;
    }
    // Each container makes its own host key at start; none may ship in the image.
    let ssh_dir = rootfs.join("etc/ssh");
    for entry in std::fs::read_dir(&ssh_dir).map_err(|e| io_err(&ssh_dir, e))? {
        let entry = entry.map_err(|e| io_err(&ssh_dir, e))?;
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            std::fs::remove_file(entry.path()).map_err(|e| io_err(&entry.path(), e))?;
        }
    }
    // Downloaded packages and package lists are dead weight in the image.
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let d = rootfs.join(dir);
        if let Ok(entries) = std::fs::read_dir(&d) {
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
    Ok(())
}

fn import(rootfs: &Path, tag: &str) -> Result<(), ClusterError> {
    let mut tar = Command::new("tar");
    tar.arg("-C")
        .arg(rootfs)
        .args([
            "--numeric-owner",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            "--exclude=./dev/*",
            "-cf",
            "-",
            ".",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut tar_child = crate::proc::spawn_tracked(&mut tar)?;
    let tar_out = tar_child.stdout.take().expect("stdout is piped");
    let mut import = Command::new("docker");
    import
        .args([
            "import",
            "--change",
            r#"ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/sbin/faultline-node-init"]"#,
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            &format!("LABEL faultline.recipe={}", recipe_hash()),
            "-",
            tag,
        ])
        .stdin(Stdio::from(tar_out))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let import_child = crate::proc::spawn_tracked(&mut import)?;
    let import_pid = import_child.id();
    let out = import_child
        .wait_with_output()
        .map_err(|e| ClusterError::Io(format!("docker import: {e}")))?;
    crate::proc::untrack(import_pid);
    let tar_status = tar_child
        .wait()
        .map_err(|e| ClusterError::Io(format!("tar: {e}")))?;
    crate::proc::untrack(tar_child.id());
    if !tar_status.success() {
        return Err(ClusterError::Build(format!(
            "tar of the root filesystem failed ({tar_status})"
        )));
    }
    if !out.status.success() {
        return Err(ClusterError::Build(format!(
            "docker import failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if *tag != image_tag() {
        return Ok(()); // a variant: `latest` stays the base image
    }
    let latest = format!("{IMAGE_REPO}:latest");
    let out = run_tracked(
        Command::new("docker").args(["tag", tag, &latest]),
        Duration::from_secs(30),
    )?;
    if out.status != 0 {
        return Err(ClusterError::Build(format!(
            "docker tag {tag} {latest} failed: {}",
            out.stderr_text()
        )));
    }
    Ok(())
}

/// A scratch directory for one build, removed afterwards (also by the signal handler).
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create() -> Result<Self, ClusterError> {
        let base = std::env::temp_dir();
        let path = base.join(format!(
            "faultline-image-{}-{}",
            std::process::id(),
            crate::random_suffix()
        ));
        std::fs::create_dir_all(&path).map_err(|e| io_err(&path, e))?;
        crate::proc::track_scratch(&path);
        Ok(WorkDir { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        crate::proc::remove_scratch(&self.path);
    }
}

/// An exclusive lock on a file, held until dropped (flock).
struct BuildLock {
    _file: std::fs::File,
}

impl BuildLock {
    fn acquire(path: &Path) -> Result<Self, ClusterError> {
        use std::os::unix::io::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        // SAFETY: flock on a file descriptor we own; it is released when the file closes.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if r != 0 {
            return Err(io_err(path, std::io::Error::last_os_error()));
        }
        Ok(BuildLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_the_base_image_has_use_it_and_others_make_a_variant_tagged_by_them() {
        let v = |ps: &[&str]| ps.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(image_tag_for(&[]), image_tag());
        assert_eq!(
            image_tag_for(&v(&["redis-server", "etcd-server"])),
            image_tag()
        );
        let variant = image_tag_for(&v(&["postgresql", "redis-server"]));
        assert_ne!(variant, image_tag());
        assert!(variant.starts_with("faultline-node:"));
        // Order, repeats and base packages do not change the recipe.
        assert_eq!(variant, image_tag_for(&v(&["postgresql", "postgresql"])));
        assert_ne!(variant, image_tag_for(&v(&["postgresql", "nginx"])));
        assert_eq!(extra_packages(&v(&["b", "a", "tini", "a"])), v(&["a", "b"]));
    }

    #[test]
    fn image_holds_the_packages_the_tests_need() {
        let p = packages();
        for needed in [
            "openssh-server",
            "iptables",
            "iproute2",
            "procps",
            "libfaketime",
            "etcd-server",
            "etcd-client",
            "redis-server",
            "redis-sentinel",
            "tini",
        ] {
            assert!(
                p.contains(&needed),
                "{needed} missing from image/packages.txt"
            );
        }
    }

    #[test]
    fn tag_is_stable_and_names_the_recipe() {
        assert_eq!(image_tag(), image_tag());
        let hash = recipe_hash();
        assert_eq!(hash.len(), 12);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(image_tag(), format!("faultline-node:{hash}"));
    }
}
