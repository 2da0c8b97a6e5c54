//! examples/ci/github-actions.yml does what docs/ci.md says (issue 22): its own `run:` steps,
//! taken from the file, run in order with a local shell as GitHub would run them
//! (`bash -eo pipefail`, `$GITHUB_PATH`, `$GITHUB_STEP_SUMMARY`, `if: always()`), with a short
//! time limit through the workflow's own `FAULTLINE_TIME_LIMIT`, and leave the store with each
//! run's junit.xml, the summary, and a job status that follows the verdict. The `uses:` steps
//! (checkout, cache, artifact upload, junit publishing) are GitHub's: only the paths they are
//! given are checked. Starts a Docker cluster: nextest's `docker` group.
//!
//! One substitution: `cargo` is a stub that checks it is asked for
//! `build --locked --profile ci -p faultline` in the workspace and does nothing else, with
//! `CARGO_TARGET_DIR` set to the target directory nextest built this binary's `faultline` in;
//! a nested build of the workspace inside a test would race the suite's own binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One step of the workflow's job.
#[derive(Debug, Default, Clone)]
struct Step {
    name: String,
    uses: Option<String>,
    run: Option<String>,
    /// `if: always()`: runs even after a failed step.
    always: bool,
    /// Its `with:` settings, as written.
    with: BTreeMap<String, String>,
}

/// The workflow's job-level `env:` and its steps, read line by line (the file keeps to one
/// job, two-space indents and `run: |` blocks).
fn parse_workflow(text: &str) -> (BTreeMap<String, String>, Vec<Step>) {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let unquote = |v: &str| v.trim().trim_matches('"').to_string();
    let mut env = BTreeMap::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut section = "";
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match (indent(line), line.trim()) {
            (4, "env:") => section = "env",
            (4, "steps:") => section = "steps",
            (n, _) if n <= 4 => section = "",
            (6, kv) if section == "env" => {
                let (k, v) = kv.split_once(':').expect("KEY: value");
                env.insert(k.to_string(), unquote(v));
            }
            (n, item) if section == "steps" && (n == 6 || n == 8) => {
                let kv = match item.strip_prefix("- ") {
                    Some(first) if n == 6 => {
                        steps.push(Step::default());
                        first
                    }
                    _ => item,
                };
                let step = steps.last_mut().expect("a step item");
                let (key, value) = kv.split_once(':').unwrap_or((kv, ""));
                match (key, value.trim()) {
                    ("name", v) => step.name = unquote(v),
                    ("uses", v) => step.uses = Some(v.to_string()),
                    ("if", v) => step.always = v == "always()",
                    ("run", "|") => {
                        let mut body = String::new();
                        while i < lines.len()
                            && (lines[i].trim().is_empty() || indent(lines[i]) > 8)
                        {
                            body.push_str(lines[i].get(10..).unwrap_or(""));
                            body.push('\n');
                            i += 1;
                        }
                        step.run = Some(body);
                    }
                    ("run", v) => step.run = Some(v.to_string()),
                    _ => {}
                }
            }
            (10, kv) if section == "steps" => {
                if let (Some(step), Some((k, v))) = (steps.last_mut(), kv.split_once(':')) {
                    step.with.insert(k.to_string(), v.trim().to_string());
                }
            }
            _ => {}
        }
    }
    (env, steps)
}

fn workflow() -> (BTreeMap<String, String>, Vec<Step>) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci/github-actions.yml");
    parse_workflow(&std::fs::read_to_string(file).unwrap())
}

/// What running the job's steps left: each step's name and exit status (None: skipped).
struct Job {
    statuses: Vec<(String, Option<i32>)>,
    workspace: PathBuf,
    summary: String,
    log: String,
}

/// A `cargo` that only checks what it is asked: the build the workflow documents, in `src`.
fn cargo_stub(dir: &Path, src: &Path) -> PathBuf {
    let bin = dir.join("stub-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stub = bin.join("cargo");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\n[ \"$PWD\" = '{}' ] || {{ echo \"cargo stub: run in $PWD\" >&2; exit 1; }}\n\
             [ \"$*\" = 'build --locked --profile ci -p faultline' ] || {{ echo \"cargo stub: $*\" >&2; exit 1; }}\n",
            src.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Runs the `run:` steps in `workspace` with the workflow's env, `overrides` on top.
fn run_job(steps: &[Step], env: &BTreeMap<String, String>, workspace: &Path) -> Job {
    let files = workspace.join(".github-files");
    std::fs::create_dir_all(&files).unwrap();
    let (gh_path, summary) = (files.join("path"), files.join("step_summary"));
    for f in [&gh_path, &summary] {
        std::fs::write(f, "").unwrap();
    }
    // The job's PATH (the cargo stub first) is what `$GITHUB_PATH` extends: each step gets
    // it explicitly, so it must start from the job's, not from this process's.
    let mut path = env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
    let (mut statuses, mut log, mut failed) = (Vec::new(), String::new(), false);
    for step in steps {
        let Some(script) = &step.run else { continue };
        if failed && !step.always {
            statuses.push((step.name.clone(), None));
            continue;
        }
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(workspace)
            .envs(env)
            .env("PATH", &path)
            .env("GITHUB_PATH", &gh_path)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_OUTPUT", files.join("output"))
            .env("GITHUB_ENV", files.join("env"))
            .env("GITHUB_WORKSPACE", workspace)
            .output()
            .unwrap();
        let code = out.status.code();
        failed |= code != Some(0);
        log.push_str(&format!(
            "== {} ({code:?})\n{}{}\n",
            step.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        statuses.push((step.name.clone(), code));
        for dir in std::fs::read_to_string(&gh_path).unwrap().lines().rev() {
            if !path.split(':').any(|p| p == dir) {
                path = format!("{dir}:{path}");
            }
        }
    }
    Job {
        statuses,
        workspace: workspace.to_path_buf(),
        summary: std::fs::read_to_string(&summary).unwrap(),
        log,
    }
}

/// The environment the test runs the job with: the workflow's, with the workspace as
/// faultline's source and [`short_run`] on top.
fn job_env(dir: &Path) -> BTreeMap<String, String> {
    let (mut env, _) = workflow();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    env.insert("FAULTLINE_SRC".into(), src.display().to_string());
    env.extend(short_run(dir, &src));
    env
}

/// What a test changes in a CI job's environment: the ci profile nextest built (the cargo
/// stub, checking it is run in `build_dir`, first on PATH), a short run and a private state
/// root.
fn short_run(dir: &Path, build_dir: &Path) -> BTreeMap<String, String> {
    let exe = Path::new(env!("CARGO_BIN_EXE_faultline"));
    let target = exe.parent().unwrap().parent().unwrap();
    let stub = cargo_stub(dir, build_dir);
    [
        ("FAULTLINE_PROFILE", "ci".to_string()),
        ("FAULTLINE_TIME_LIMIT", "5".into()),
        ("FAULTLINE_TEST_COUNT", "2".into()),
        ("CARGO_TARGET_DIR", target.display().to_string()),
        (
            "FAULTLINE_STATE_DIR",
            dir.join("state").display().to_string(),
        ),
        (
            "PATH",
            format!("{}:{}", stub.display(), std::env::var("PATH").unwrap()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The step called `name`, as run.
fn status(job: &Job, name: &str) -> Option<i32> {
    job.statuses
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no step {name:?} ran: {:?}", job.statuses))
        .1
}

/// The run directories the job's store holds.
fn run_dirs(store: &Path) -> Vec<PathBuf> {
    let mut runs = Vec::new();
    for test in std::fs::read_dir(store).unwrap().flatten() {
        if test.file_name() == "latest" || !test.path().is_dir() {
            continue;
        }
        for run in std::fs::read_dir(test.path()).unwrap().flatten() {
            runs.push(run.path());
        }
    }
    runs
}

/// The workflow has the steps docs/ci.md describes, in that order, and the GitHub actions
/// are given the store and its junit.xml files.
#[test]
fn the_workflow_has_the_documented_steps() {
    let (env, steps) = workflow();
    for key in [
        "FAULTLINE_ARGS",
        "FAULTLINE_TIME_LIMIT",
        "FAULTLINE_TEST_COUNT",
        "FAULTLINE_STORE",
    ] {
        assert!(env.contains_key(key), "no {key} in the job's env: {env:?}");
    }
    let names: Vec<&str> = steps
        .iter()
        .filter(|s| s.run.is_some())
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Install what faultline needs",
            "Build faultline",
            "Build the node image",
            "Run the test",
            "Verdict"
        ]
    );
    let upload = steps.iter().find(|s| s.name == "Keep the store").unwrap();
    assert!(upload.always && upload.uses.as_deref() == Some("actions/upload-artifact@v4"));
    assert_eq!(upload.with["path"], "${{ env.FAULTLINE_STORE }}");
    let junit = steps
        .iter()
        .find(|s| s.name == "Publish junit.xml")
        .unwrap();
    assert!(junit.always);
    assert_eq!(
        junit.with["report_paths"],
        "${{ env.FAULTLINE_STORE }}/**/junit.xml"
    );
    let run = steps.iter().find(|s| s.name == "Run the test").unwrap();
    let script = run.run.as_deref().unwrap();
    for flag in ["--test-count", "--summary-markdown", "GITHUB_STEP_SUMMARY"] {
        assert!(script.contains(flag), "the run step lacks {flag}");
    }
}

/// The verdict step fails the job on every exit code but 0, with one line saying which.
#[test]
fn the_verdict_step_fails_the_job_unless_valid() {
    let (_, steps) = workflow();
    let verdict: Vec<Step> = steps.into_iter().filter(|s| s.name == "Verdict").collect();
    for (code, want, says) in [
        (Some(0), 0, "valid"),
        (Some(1), 1, "invalid"),
        (Some(2), 1, "unknown"),
        (Some(254), 1, "bad input"),
        (Some(255), 1, "the harness failed"),
        (None, 1, "the harness failed"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        if let Some(code) = code {
            std::fs::write(dir.path().join("faultline-exit-code"), format!("{code}\n")).unwrap();
        }
        let job = run_job(&verdict, &BTreeMap::new(), dir.path());
        assert_eq!(status(&job, "Verdict"), Some(want), "{}", job.log);
        assert!(job.log.contains(says), "{}", job.log);
    }
}

/// The whole job on a real cluster, short: the store with each run's junit.xml, the summary
/// on the step summary, and the job's status following the verdict.
#[test]
fn the_github_workflow_runs_and_leaves_the_store_junit_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let env = job_env(dir.path());
    let (_, steps) = workflow();
    let job = run_job(&steps, &env, &workspace);
    for step in [
        "Install what faultline needs",
        "Build faultline",
        "Build the node image",
        "Run the test",
    ] {
        assert_eq!(status(&job, step), Some(0), "{step}\n{}", job.log);
    }
    let code: i32 = std::fs::read_to_string(job.workspace.join("faultline-exit-code"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (0..=2).contains(&code),
        "faultline exited {code}\n{}",
        job.log
    );
    let want = if code == 0 { 0 } else { 1 };
    assert_eq!(status(&job, "Verdict"), Some(want), "{}", job.log);

    let runs = run_dirs(&job.workspace.join("store"));
    assert_eq!(runs.len(), 2, "--test-count 2: {runs:?}\n{}", job.log);
    let mut verdicts = Vec::new();
    for run in &runs {
        let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
        assert!(
            junit.contains("<testsuite") && junit.contains("<testcase"),
            "{junit}"
        );
        let results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap())
                .unwrap();
        verdicts.push(results["verdict"].as_str().unwrap().to_string());
        assert!(run.join("history.jsonl").is_file() && run.join("test.json").is_file());
    }
    let summary = std::fs::read_to_string(job.workspace.join("faultline-summary.md")).unwrap();
    assert!(!summary.trim().is_empty());
    assert!(
        job.summary.contains(summary.trim()),
        "the step summary is not the run's summary:\n{}",
        job.summary
    );
    let worst = match code {
        0 => "valid",
        1 => "invalid",
        _ => "unknown",
    };
    assert!(
        summary.contains(&format!("**{worst}**")),
        "the summary does not say {worst}:\n{summary}"
    );
    assert!(
        summary.contains("faultline test"),
        "no reproduce command:\n{summary}"
    );
    assert!(
        verdicts.iter().any(|v| v == worst),
        "{verdicts:?} vs exit {code}"
    );
}

/// examples/ci/gitlab-ci.yml as GitLab reads it: its variables and its one job's
/// `script`, `after_script` and artifacts.
struct GitlabJob {
    variables: BTreeMap<String, String>,
    script: Vec<String>,
    after_script: Vec<String>,
    artifacts: yaml_rust2::Yaml,
}

fn gitlab_job() -> GitlabJob {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci/gitlab-ci.yml");
    let text = std::fs::read_to_string(file).unwrap();
    let doc = yaml_rust2::YamlLoader::load_from_str(&text)
        .expect("gitlab-ci.yml is YAML")
        .remove(0);
    let strings = |y: &yaml_rust2::Yaml| -> Vec<String> {
        y.as_vec()
            .expect("a list")
            .iter()
            .map(|s| s.as_str().expect("a string").to_string())
            .collect()
    };
    let variables = doc["variables"]
        .as_hash()
        .expect("variables:")
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect();
    let job = &doc["faultline"];
    GitlabJob {
        variables,
        script: strings(&job["script"]),
        after_script: strings(&job["after_script"]),
        artifacts: job["artifacts"].clone(),
    }
}

/// Runs `commands` as GitLab's shell executor does: one bash, `set -eo pipefail`, in order.
fn run_gitlab_commands(
    commands: &[String],
    env: &BTreeMap<String, String>,
    dir: &Path,
) -> (Option<i32>, String) {
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
        .arg(commands.join("\n"))
        .current_dir(dir)
        .envs(env)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), log)
}

/// The GitLab job keeps the store and the summary whatever the verdict, and publishes each
/// run's junit.xml as its test report.
#[test]
fn the_gitlab_job_has_the_documented_variables_and_artifacts() {
    let job = gitlab_job();
    for key in [
        "FAULTLINE_ARGS",
        "FAULTLINE_TIME_LIMIT",
        "FAULTLINE_TEST_COUNT",
    ] {
        assert!(
            job.variables.contains_key(key),
            "no {key}: {:?}",
            job.variables
        );
    }
    let script = job.script.join("\n");
    for flag in ["--test-count", "--summary-markdown", "--store store"] {
        assert!(script.contains(flag), "the script lacks {flag}");
    }
    assert_eq!(job.artifacts["when"].as_str(), Some("always"));
    let paths: Vec<&str> = job.artifacts["paths"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert_eq!(paths, ["store/", "faultline-summary.md"]);
    assert_eq!(
        job.artifacts["reports"]["junit"].as_str(),
        Some("store/**/junit.xml")
    );
}

/// The GitLab job's own script on a real cluster, short: the store with each run's
/// junit.xml, the summary its artifacts name, `after_script` printing it, and the job's
/// status (the script's exit code) following the verdict.
#[test]
fn the_gitlab_job_runs_and_leaves_the_store_junit_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("checkout");
    std::fs::create_dir_all(&checkout).unwrap();
    let job = gitlab_job();
    // The job's own variables (its FAULTLINE_ARGS), made short; GitLab runs the job in the
    // checkout, where the stub stands in for the build.
    let mut env = job.variables.clone();
    env.extend(short_run(dir.path(), &checkout));
    let (code, log) = run_gitlab_commands(&job.script, &env, &checkout);
    let code = code.expect("the script ended by a signal");
    assert!((0..=2).contains(&code), "the script exited {code}\n{log}");
    let runs = run_dirs(&checkout.join("store"));
    assert_eq!(runs.len(), 2, "--test-count 2: {runs:?}\n{log}");
    for run in &runs {
        let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
        assert!(junit.contains("<testcase"), "{junit}");
    }
    let summary = std::fs::read_to_string(checkout.join("faultline-summary.md")).unwrap();
    let worst = ["valid", "invalid", "unknown"][code as usize];
    assert!(
        summary.contains(&format!("**{worst}**")),
        "exit {code}, summary:\n{summary}"
    );
    let (after, printed) = run_gitlab_commands(&job.after_script, &env, &checkout);
    assert_eq!(after, Some(0), "{printed}");
    assert!(printed.contains(summary.trim()), "{printed}");
}
