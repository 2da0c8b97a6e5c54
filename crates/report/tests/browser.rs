//! A real browser opens what people look at: report.html of a failing run, and the `serve`
//! index page. Needs chromium (`apt-get install -y chromium`); fails without it unless
//! FAULTLINE_SKIP_BROWSER=1. Screenshots land in target/report-screenshots/.

mod common;

use common::browser::{
    eval_json, eval_string, launch, open_tab, screenshot, wait_for_page, wait_rendered, wait_true,
};
use common::{synth_run, write_run_dir, HOSTILE};
use faultline_history::Verdict;
use faultline_report::StoreServer;
use std::collections::HashSet;
use std::time::Duration;

fn file_url(path: &std::path::Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

#[test]
fn report_of_a_failing_run_renders_and_highlights_an_anomaly() {
    let Some(browser) = launch() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = synth_run(4000, 5);
    write_run_dir(dir.path(), &run);
    let (tab, problems) = open_tab(&browser);
    tab.navigate_to(&file_url(&dir.path().join("report.html")))
        .unwrap();
    wait_rendered(&tab);

    // The timeline and every plot are drawn: canvases sized, with pixels on them.
    for id in [
        "timeline",
        "latency-raw",
        "latency-quantiles",
        "throughput",
        "clock-offsets",
    ] {
        let inked = eval_json(
            &tab,
            &format!(
                "(() => {{ const c = document.getElementById('{id}'); if (!c || c.width < 200 || c.height < 100) return -1;
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                   for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }})()"
            ),
        );
        assert!(
            inked.as_i64().unwrap() > 2000,
            "{id} is blank or missing: {inked}"
        );
    }
    assert_eq!(
        eval_json(&tab, "faultlineReport.operations")
            .as_u64()
            .unwrap() as usize,
        4000 + nemesis_ops(&run)
    );

    // The hostile value shows as text and ran nothing.
    assert_eq!(
        eval_string(&tab, "typeof window.__pwned", false),
        "undefined"
    );
    let shown = eval_json(&tab, "document.body.innerText");
    assert!(shown
        .as_str()
        .unwrap()
        .contains("</script><script>window.__pwned=1</script>"));
    assert!(HOSTILE.contains("__pwned"));
    screenshot(&tab, "report-failing-run.png");
    tab.evaluate(
        "document.getElementById('timeline-section').scrollIntoView()",
        false,
    )
    .unwrap();
    screenshot(&tab, "report-timeline.png");
    tab.evaluate("document.getElementById('plots').scrollIntoView()", false)
        .unwrap();
    screenshot(&tab, "report-plots.png");

    // Clicking the anomaly highlights exactly its operations, and draws them highlighted.
    tab.find_element("li.anomaly button.show")
        .unwrap()
        .click()
        .unwrap();
    wait_true(
        &tab,
        "document.getElementById('timeline').hasAttribute('data-highlight')",
        Duration::from_secs(10),
    );
    assert_eq!(
        eval_json(
            &tab,
            "document.querySelector('li.anomaly').classList.contains('active')"
        ),
        true
    );
    let highlighted = eval_json(
        &tab,
        "faultlineReport.highlighted().map(i => faultlineReport.events(i))",
    );
    let wanted: HashSet<i64> = run.anomaly_events.iter().map(|&e| e as i64).collect();
    let highlighted = highlighted.as_array().unwrap();
    assert!(!highlighted.is_empty());
    let mut covered = HashSet::new();
    for op in highlighted {
        let evs: Vec<i64> = op
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert!(
            evs.iter().any(|e| wanted.contains(e)),
            "highlighted an operation not in the anomaly: {evs:?}"
        );
        covered.extend(evs);
    }
    assert!(
        wanted.is_subset(&covered),
        "not all anomaly events highlighted"
    );
    // After the next frame, each highlighted bar has the highlight colour around it.
    let colours = eval_string(
        &tab,
        "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(JSON.stringify(
           faultlineReport.highlighted().map(i => { const b = faultlineReport.opRect(i);
             return faultlineReport.pixel(Math.max(b.x0 - 2, 0), (b.y0 + b.y1) / 2); }))))))",
        true,
    );
    let colours: Vec<Vec<u8>> = serde_json::from_str(&colours).unwrap();
    for c in &colours {
        assert_eq!(
            &c[..3],
            &[0, 80, 255],
            "highlighted bar is not drawn highlighted: {c:?}"
        );
    }
    // The view zoomed onto them and the page scrolled the timeline into sight.
    let view = eval_json(&tab, "[faultlineReport.view.t0, faultlineReport.view.t1]");
    let span = view[1].as_f64().unwrap() - view[0].as_f64().unwrap();
    let t_end = run.events.last().unwrap().time as f64 / 1000.0;
    assert!(
        span < t_end / 2.0,
        "the view did not zoom to the anomaly: {view}"
    );
    let in_sight = eval_json(
        &tab,
        "(() => { const r = document.getElementById('timeline').getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; })()",
    );
    assert_eq!(in_sight, true);
    screenshot(&tab, "report-anomaly-highlighted.png");

    // Zoom with the wheel and pan with a drag: no errors, the view changes.
    tab.evaluate(
        "(() => { const c = document.getElementById('timeline'); const r = c.getBoundingClientRect();
           c.dispatchEvent(new WheelEvent('wheel', {deltaY: 100, clientX: r.left + 300, clientY: r.top + 40, bubbles: true, cancelable: true})); })()",
        false,
    )
    .unwrap();
    wait_true(
        &tab,
        &format!("faultlineReport.view.t1 - faultlineReport.view.t0 > {span} * 1.2"),
        Duration::from_secs(5),
    );

    let problems = problems.0.lock().unwrap().clone();
    assert!(problems.is_empty(), "console errors: {problems:#?}");
}

fn nemesis_ops(run: &common::Run) -> usize {
    run.events
        .iter()
        .filter(|e| {
            e.process == faultline_history::Process::Nemesis
                && e.kind == faultline_history::EventType::Invoke
        })
        .count()
}

#[test]
fn serve_index_lists_runs_newest_first_and_opens_reports() {
    let Some(browser) = launch() else { return };
    let store = tempfile::tempdir().unwrap();
    let failing = synth_run(500, 3);
    write_run_dir(
        &store.path().join("etcd-register/20240102T030405"),
        &failing,
    );
    let mut passing = synth_run(200, 2);
    passing.checkers.truncate(0);
    passing.checkers.push(faultline_history::CheckerResult {
        checker: "linearizability".into(),
        verdict: Verdict::Valid,
        reason: None,
        anomalies: vec![],
        stats: serde_json::Value::Null,
        first_anomaly_s: None,
    });
    write_run_dir(
        &store.path().join("etcd-register/20240101T000000"),
        &passing,
    );
    #[cfg(unix)]
    std::os::unix::fs::symlink("etcd-register/20240102T030405", store.path().join("latest"))
        .unwrap();

    let server = StoreServer::bind(store.path(), 0).unwrap();
    let port = server.port();
    std::thread::spawn(move || server.run());

    let (tab, problems) = open_tab(&browser);
    tab.navigate_to(&format!("http://127.0.0.1:{port}/"))
        .unwrap();
    tab.wait_for_element("table#runs").unwrap();
    let rows = eval_json(&tab, "Array.from(document.querySelectorAll('tr.run')).map(r => [r.className, r.cells[0].innerText])");
    assert_eq!(
        rows,
        serde_json::json!([
            ["run invalid", "20240102T030405"],
            ["run valid", "20240101T000000"]
        ])
    );
    let colour = eval_string(
        &tab,
        "getComputedStyle(document.querySelector('tr.run.invalid')).backgroundColor",
        false,
    );
    assert_eq!(colour, "rgb(251, 234, 234)");
    screenshot(&tab, "serve-index.png");

    // Follow the first run's report link: the report renders, served over HTTP.
    tab.find_element("tr.run.invalid a[href$='report.html']")
        .unwrap()
        .click()
        .unwrap();
    wait_rendered(&tab);
    assert!(tab
        .get_url()
        .ends_with("/etcd-register/20240102T030405/report.html"));
    // And its links to logs work through the server: follow the report's link to n1's log
    // as a user would. The page is plain text, so wait for it by its address and state:
    // headless_chrome's `wait_until_navigated` waits for an event Chromium does not send
    // for a text/plain document, which once passed for a server defect.
    tab.find_element("a[href$='logs/n1/db.log']")
        .unwrap()
        .click()
        .unwrap();
    let text = wait_for_page(&tab, "/etcd-register/20240102T030405/logs/n1/db.log");
    assert!(text.as_str().unwrap().starts_with("started"));

    let problems = problems.0.lock().unwrap().clone();
    assert!(problems.is_empty(), "console errors: {problems:#?}");
}

/// Finding 2 (a stale read under a partition), drawn: the failing read and the write it
/// contradicts are highlighted over the shaded partition, the prefix is marked, the finding
/// names the node, and the raw JSON is folded away.
#[test]
fn the_counterexample_is_drawn() {
    let Some(browser) = launch() else { return };
    let events = faultline_explain::testing::stale_read().events;
    let ops = faultline_history::pair(&events, &[]).unwrap();
    let report = faultline_linearizability::check(
        &ops,
        faultline_linearizability::ModelSpec::CasRegister,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    let run = common::Run {
        events,
        checkers: vec![report.to_checker_result()],
        config: serde_json::json!({"name": "stale-read", "db": "etcd", "workload": "register"}),
        anomaly_events: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    write_run_dir(dir.path(), &run);
    let (tab, problems) = open_tab(&browser);
    tab.navigate_to(&file_url(&dir.path().join("report.html")))
        .unwrap();
    wait_rendered(&tab);
    let box_of = |sel: &str| {
        eval_json(
            &tab,
            &format!(
                "(() => {{ const all = document.querySelectorAll('{sel}'); const e = all[all.length - 1]; if (!e) return null;
                   const r = e.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; }})()"
            ),
        )
    };
    let x = |v: &serde_json::Value, i: usize| v[i].as_f64().unwrap_or(f64::NAN);
    let svg = box_of("figure.counterexample svg.cx");
    assert!(
        x(&svg, 1) - x(&svg, 0) > 600.0,
        "the drawing is shown: {svg}"
    );
    let failing = box_of("svg.cx .cx-op.failing rect");
    let write = box_of("svg.cx .cx-op.contradicting rect");
    let fault = box_of("svg.cx .cx-fault");
    assert!(!failing.is_null() && !write.is_null() && !fault.is_null());
    // The latest acknowledged write (the last one drawn) ends before the read begins, and both
    // sit on the shaded partition.
    assert!(x(&write, 1) <= x(&failing, 0) + 0.5, "{write} {failing}");
    for b in [&failing, &write] {
        assert!(
            x(b, 0) >= x(&fault, 0) && x(b, 1) <= x(&fault, 1),
            "{b} outside {fault}"
        );
    }
    // One row per process, each naming its node; the prefix is marked.
    let rows = eval_json(
        &tab,
        "[...document.querySelectorAll('svg.cx .cx-row')].map(t => t.textContent)",
    );
    let rows: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.contains(&"process 24 · n3"), "{rows:?}");
    assert!(
        !box_of("svg.cx .cx-prefix").is_null(),
        "the linearizable prefix is marked"
    );
    let finding = eval_string(
        &tab,
        "document.querySelector('p.finding').textContent",
        false,
    );
    assert!(
        finding.contains("served by n3")
            && finding.contains("cut off from n1, n4 and n5")
            && finding.contains("write 4 of key 7 by process 5 had been acknowledged by n1"),
        "{finding}"
    );
    assert_eq!(
        eval_json(&tab, "document.querySelector('details.raw').open"),
        serde_json::json!(false),
        "raw JSON is folded"
    );
    tab.evaluate(
        "document.querySelector('figure.counterexample').scrollIntoView()",
        false,
    )
    .unwrap();
    let png = screenshot(&tab, "report-counterexample.png");
    assert!(std::fs::metadata(png).unwrap().len() > 10_000);
    let problems = problems.0.lock().unwrap().clone();
    assert!(problems.is_empty(), "console errors: {problems:#?}");
}
