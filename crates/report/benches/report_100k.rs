//! Size and speed of report.html for a 100,000-operation history.
//!
//! Run: `cargo bench -p faultline-report --bench report_100k`
//! (needs chromium for the browser figures: `apt-get install -y chromium`; without it they are
//! skipped with a message). It prints the page size, then criterion measures:
//! - `generate/results_and_html`: building results and rendering report.html in Rust;
//! - `chromium/load_to_first_paint_in_page`: headless Chromium opening the file, from
//!   navigation start to the first painted frame with the timeline and every plot drawn
//!   (performance.now() in the page);
//! - `chromium/load_wall_via_devtools`: the same, by the wall clock around the DevTools calls
//!   (navigate, wait for load, wait for `data-rendered`), polling overhead included;
//! - `chromium/redraw_full_view` and `chromium/redraw_zoomed_1_percent`: one redraw of the
//!   timeline and all plots, rasterised (what a zoom or pan step costs), over the whole run and
//!   over 1% of it.

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use faultline_report::{render_html, Results};
use std::time::{Duration, Instant};

const OPERATIONS: usize = 100_000;

fn bench(c: &mut Criterion) {
    let run = common::synth_run(OPERATIONS, 10);
    let results = Results::build(&run.events, &run.checkers, &run.config);
    let html = render_html(&run.events, &results, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    std::fs::write(&path, &html).unwrap();
    println!(
        "report.html for {OPERATIONS} operations ({} events): {:.2} MB",
        run.events.len(),
        html.len() as f64 / 1e6
    );

    let mut g = c.benchmark_group("generate");
    g.sample_size(10);
    g.bench_function("results_and_html", |b| {
        b.iter(|| {
            let r = Results::build(&run.events, &run.checkers, &run.config);
            render_html(&run.events, &r, &[]).len()
        })
    });
    g.finish();

    let Some(path_to_chromium) = common::browser::chromium_path() else {
        println!("chromium not found: browser figures skipped (apt-get install -y chromium)");
        return;
    };
    println!("chromium: {}", path_to_chromium.display());
    let Some(browser) = common::browser::launch() else {
        return;
    };
    let (tab, problems) = common::browser::open_tab(&browser);
    let url = format!("file://{}", path.display());
    let load = || {
        tab.navigate_to(&url)
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        common::browser::wait_rendered(&tab);
    };
    let start = Instant::now();
    load();
    let wall = start.elapsed().as_secs_f64() * 1e3;
    let page = common::browser::eval_json(
        &tab,
        "[performance.getEntriesByType('navigation')[0].domInteractive, window.faultlineDrawnMs, window.faultlineRenderedMs]",
    );
    println!(
        "first load: {wall:.0} ms wall; in page since navigation start: HTML parsed {:.0} ms, drawn {:.0} ms, painted {:.0} ms",
        page[0].as_f64().unwrap(),
        page[1].as_f64().unwrap(),
        page[2].as_f64().unwrap()
    );

    // In-page figures come from performance.now() (ms since navigation start), free of the
    // DevTools client's polling; the wall-clock figure includes it (about 100 ms a call).
    let in_page_ms = |expr: &str| -> Duration {
        let ms = common::browser::eval_json(&tab, expr).as_f64().unwrap();
        Duration::from_secs_f64(ms / 1e3)
    };
    // One redraw of the timeline and every plot, with the canvases flushed (a pixel read
    // forces the drawing to be rasterised) so the figure is what a zoom or pan step costs.
    let redraw = "(() => { const t = performance.now(); faultlineReport.redrawNow();
        for (const c of document.querySelectorAll('canvas')) c.getContext('2d').getImageData(0, 0, 1, 1);
        return performance.now() - t; })()";
    let mut g = c.benchmark_group("chromium");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(40));
    g.bench_function("load_to_first_paint_in_page", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    load();
                    in_page_ms("window.faultlineRenderedMs")
                })
                .sum()
        })
    });
    g.bench_function("load_wall_via_devtools", |b| b.iter(load));
    g.bench_function("redraw_full_view", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| in_page_ms(redraw)).sum())
    });
    tab.evaluate(
        "(() => { const v = faultlineReport.view, s = v.t1 - v.t0, m = v.t0 + s / 2;
                  v.t0 = m - s / 200; v.t1 = m + s / 200; })()",
        false,
    )
    .unwrap();
    g.bench_function("redraw_zoomed_1_percent", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| in_page_ms(redraw)).sum())
    });
    g.finish();
    let problems = problems.0.lock().unwrap().clone();
    assert!(problems.is_empty(), "console errors: {problems:#?}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
