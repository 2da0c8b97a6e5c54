//! `faultline test`: the main job. The phases (plan, cluster, run, collect, judge, report)
//! are `faultline_core`'s; this module parses the flags into its [`TestOptions`], calls the
//! phases in order and prints what they give, then exits with the worst verdict (0 valid,
//! 1 invalid, 2 unknown).

use faultline_core::options::OUTPUT;
use faultline_core::{series, Failure, Plan, RunOutcome, Test, TestOptions};
use std::process::ExitCode;

/// Arguments of `faultline test`: the test's options, and what the command line alone asks.
#[derive(clap::Args, Clone, Debug)]
pub struct TestArgs {
    /// The test's options (recorded in test.json, rendered as the reproduce command).
    #[command(flatten)]
    pub options: TestOptions,
    /// Judge every flag and the definition, print what the test would do, and start nothing.
    #[arg(long, help_heading = OUTPUT)]
    pub dry_run: bool,
    /// Run a recorded run again with exactly its flags (its test.json), warning when its
    /// definition or client program changed since; takes no other test flag.
    #[arg(long, value_name = "RUN_DIR", help_heading = OUTPUT)]
    pub reproduce: Option<std::path::PathBuf>,
}

/// The options of `--reproduce RUN_DIR` (its test.json's flags), with a warning per file of
/// its definition or client program that changed since; no other test flag may be given.
fn reproduce(run_dir: &std::path::Path, given: &TestOptions) -> Result<TestOptions, String> {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        options: TestOptions,
    }
    let defaults = <Defaults as clap::Parser>::try_parse_from(["test"])
        .map_err(|e| e.to_string())?
        .options;
    if *given != defaults {
        return Err(
            "--reproduce: give no other test flag (the run's test.json has them all)".into(),
        );
    }
    let config = faultline_core::config::read(&run_dir.join(faultline_report::CONFIG_FILE))
        .map_err(|e| format!("--reproduce: {e}"))?;
    for change in faultline_core::pin::changes(&config) {
        eprintln!(
            "faultline: warning: --reproduce {}: {change}",
            run_dir.display()
        );
    }
    Ok(config.flags)
}

/// A failure as one line (none after a signal: its handler said so), and its exit code.
fn fail(f: &Failure) -> ExitCode {
    if !f.message().is_empty() {
        tracing::error!("{}", f.message());
        eprintln!("faultline: {}", f.message());
    }
    ExitCode::from(f.exit_code())
}

/// Runs `faultline test`.
pub fn run(args: TestArgs) -> ExitCode {
    let options = match &args.reproduce {
        Some(dir) => match reproduce(dir, &args.options) {
            Ok(o) => o,
            Err(e) => return fail(&Failure::BadInput(e)),
        },
        None => args.options,
    };
    let mut plan = match Plan::new(options) {
        Ok(p) => p,
        Err(e) => return fail(&Failure::BadInput(e)),
    };
    if args.dry_run {
        print_plan(&plan);
        return ExitCode::SUCCESS;
    }
    plan.notify = crate::print::notices();
    plan.show_progress = true;
    let count = plan.options.test_count;
    let summary_file = plan.options.summary_markdown.clone();
    let test = match Test::start(plan) {
        Ok(t) => t,
        Err(f) => return fail(&f),
    };
    let mut outcomes = Vec::new();
    for i in 0..count {
        match test.run(i) {
            Ok(outcome) => {
                print_run(&outcome);
                outcomes.push(outcome);
            }
            // The test's drop heals and takes the cluster down.
            Err(f) => return fail(&f),
        }
    }
    if count > 1 {
        for line in series::table(&outcomes) {
            println!("{line}");
        }
    }
    for p in test.finish() {
        eprintln!("faultline: cleanup: {p}");
    }
    if let Some(file) = summary_file {
        if let Err(e) = write_summary(&file, &outcomes) {
            eprintln!("faultline: --summary-markdown {}: {e}", file.display());
            return ExitCode::from(faultline_core::EXIT_CRASH);
        }
    }
    ExitCode::from(series::worst(&outcomes).exit_code() as u8)
}

/// The Markdown summary of every run, then the series' tally when there were several.
fn write_summary(file: &std::path::Path, outcomes: &[RunOutcome]) -> std::io::Result<()> {
    let mut text = String::new();
    for o in outcomes {
        text += &faultline_report::markdown::summary(&o.results, &o.run_dir);
    }
    if outcomes.len() > 1 {
        text += &format!("\n**{}**\n", series::tally(outcomes));
    }
    std::fs::write(file, text)
}

/// What a dry run would do: the test as planned, and the command that runs it.
fn print_plan(plan: &Plan) {
    let o = &plan.options;
    println!("database   {} (--db {})", plan.db.name(), o.db);
    println!("nodes      {}", o.nodes);
    println!("workload   {} ({} workers)", o.workload, o.concurrency);
    println!("nemesis    {}", plan.nemesis_label());
    println!(
        "time limit {} s, {} run(s), first seed {}",
        o.time_limit, o.test_count, plan.seed
    );
    println!("store      {}", o.store.join(&plan.name).display());
    for note in &plan.notes {
        println!("note       {note}");
    }
    let flags = faultline_core::config::flags_for_run(o, plan.seed);
    println!(
        "command    {}",
        faultline_core::config::reproduce_command(&flags)
    );
}

/// One run's counts, checkers, findings in context, fault effects and verdict.
fn print_run(o: &RunOutcome) {
    let results = &o.results;
    if let Some(s) = &o.summary {
        println!(
            "{} ops ({} ok, {} fail, {} info), {} nemesis events in {:.1} s",
            s.invokes,
            s.ok,
            s.fail,
            s.info,
            s.nemesis_events,
            results.durations.get("run_s").copied().unwrap_or_default()
        );
    }
    crate::print::print_checker_lines(&results.checkers);
    if let Some(t) = o.first_anomaly_s() {
        println!("  first anomaly {t:.1} s after the workload started");
    }
    for c in &results.checkers {
        let finding = results
            .explanation
            .anomalies
            .iter()
            .find(|x| x.checker == c.checker);
        if let Some(x) = finding {
            println!("    in context: {}", x.finding);
        }
    }
    for k in &results.explanation.summary {
        println!("  {}", k.line);
    }
    if let Some(why) = &results.verdict_reason {
        println!("  {why}");
    }
    if let Some(note) = &results.client_misbehaviour {
        println!("  {note}");
    }
    println!(
        "{}: {}",
        results.verdict,
        o.run_dir.join(faultline_report::REPORT_FILE).display()
    );
}
