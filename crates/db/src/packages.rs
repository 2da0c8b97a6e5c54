//! A definition's `packages` checked before anything is built: each must be a Debian
//! bookworm package with an installable version, as the control machine's `apt-cache`
//! knows it (the node image is bookworm too). A misspelled name is then one line naming the
//! file and the field, not a failed image build minutes later.

use std::process::Command;

/// The release the node image is built from; only a host of the same release can vouch
/// for a package name.
const SUITE: &str = "bookworm";

/// Why `package` cannot be installed, from `apt-cache policy`'s output for it; `None` when
/// it has an installable candidate.
pub fn problem(policy: &str, package: &str) -> Option<String> {
    match candidate(policy, package).as_deref() {
        Some("(none)") => Some(format!(
            "{package:?} has no installable version in Debian {SUITE} (a virtual package? name one that provides it)"
        )),
        Some(_) => None,
        None => Some(format!("no Debian {SUITE} package is called {package:?}")),
    }
}

/// The `Candidate:` `apt-cache policy` printed for `package`, if it printed a block for it.
fn candidate(policy: &str, package: &str) -> Option<String> {
    let mut lines = policy.lines();
    let header = format!("{package}:");
    lines.find(|l| *l == header || l.starts_with(&format!("{header}amd64:")))?;
    lines.take_while(|l| l.starts_with(' ')).find_map(|l| {
        l.trim()
            .strip_prefix("Candidate:")
            .map(|c| c.trim().to_string())
    })
}

/// Checks `packages` (those of the definition read from `origin`) with this machine's
/// `apt-cache`; `skip` are names known to be fine (the base image's). `Err` is one line
/// naming the file and the field. A machine that cannot tell (no `apt-cache`, another
/// release, no package lists: run `apt-get update`) checks nothing: `Ok(Some(why))`.
pub fn check(origin: &str, packages: &[String], skip: &[&str]) -> Result<Option<String>, String> {
    let wanted: Vec<String> = packages
        .iter()
        .filter(|p| !skip.contains(&p.as_str()))
        .cloned()
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    if !release
        .lines()
        .any(|l| l.trim() == format!("VERSION_CODENAME={SUITE}"))
    {
        return Ok(Some(format!(
            "this machine is not Debian {SUITE}: the packages of {origin} are checked only when the image is built"
        )));
    }
    // A package every Debian archive has: if apt-cache does not know it, its lists are empty.
    let probe = "base-files".to_string();
    let mut args = vec![probe.clone()];
    args.extend(wanted.iter().cloned());
    let out = match Command::new("apt-cache")
        .arg("policy")
        .arg("--")
        .args(&args)
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => {
            return Ok(Some(format!(
                "apt-cache cannot run here: the packages of {origin} are checked only when the image is built"
            )))
        }
    };
    if candidate(&out, &probe).is_none_or(|c| c == "(none)") {
        return Ok(Some(format!(
            "apt-cache knows no packages (run `apt-get update`): the packages of {origin} are checked only when the image is built"
        )));
    }
    for (i, p) in packages.iter().enumerate() {
        if let Some(why) = wanted.contains(p).then(|| problem(&out, p)).flatten() {
            return Err(format!("{origin}: packages[{i}]: {why}"));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "\
redis-server:
  Installed: (none)
  Candidate: 5:7.0.15-1~deb12u10
  Version table:
     5:7.0.15-1~deb12u10 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
mail-transport-agent:
  Installed: (none)
  Candidate: (none)
  Version table:
";

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_package_apt_does_not_know_or_cannot_install_has_a_problem() {
        assert_eq!(problem(POLICY, "redis-server"), None);
        assert_eq!(
            problem(POLICY, "redis-servre").as_deref(),
            Some("no Debian bookworm package is called \"redis-servre\"")
        );
        let e = problem(POLICY, "mail-transport-agent").unwrap();
        assert!(e.contains("has no installable version"), "{e}");
        // A prefix of a known name is not that name.
        assert!(problem(POLICY, "redis").is_some());
    }

    #[test]
    fn this_machines_apt_cache_refuses_a_misspelled_package() {
        // The test machine is bookworm with package lists (the README's test command runs
        // apt-get update first).
        let got = check(
            "kv/db.toml",
            &names(&["iptables", "redis-server", "redis-servre"]),
            &["iptables"],
        );
        assert_eq!(
            got,
            Err(
                "kv/db.toml: packages[2]: no Debian bookworm package is called \"redis-servre\""
                    .into()
            )
        );
        assert_eq!(
            check("kv/db.toml", &names(&["redis-server"]), &[]),
            Ok(None)
        );
        assert_eq!(
            check("kv/db.toml", &names(&["not-checked"]), &["not-checked"]),
            Ok(None)
        );
    }
}
