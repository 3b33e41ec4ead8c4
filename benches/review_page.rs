//! The review page on a large run, measured in the browser (`make bench-review`): how long
//! after opening the address the page is usable (the tree, the first open candidate, its
//! passages and the map drawn), and how long switching candidates, applying a filter and
//! searching take, from the click to the new content in the page. Headless Chromium through
//! ChromeDriver, as in the tests.
//!
//! `cargo bench --bench review_page -- RUN` (the run directory; `make bench-review` makes the
//! run of all 67 ParlaTO interviews first).

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::{json, Value};

fn main() {
    let run = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "target/bench-review".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver; make setup installs it)");
    let mut server = Command::new(env!("CARGO_BIN_EXE_terreno"))
        .args(["review", "--web", "--no-browser", "--analyst", "bench", &run])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    out.read_line(&mut url).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = url.trim().to_string();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let profile = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1400,1000"],
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        // Opening: the first visit, then four more (a warm browser, as in the morning's second
        // look); each from the navigation's start to the page marking itself ready.
        let mut opens = Vec::new();
        for _ in 0..5 {
            c.goto(&url).await.unwrap();
            let t0 = Instant::now();
            loop {
                let v = c.execute("return document.body.dataset.readyMs || null", vec![]).await.unwrap();
                if let Some(ms) = v.as_str().and_then(|s| s.parse::<f64>().ok()) {
                    opens.push(ms);
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(60), "the page never became ready");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let state = c.execute("return [document.querySelectorAll('#tree li[data-id^=C]').length, document.querySelectorAll('#members li').length]", vec![]).await.unwrap();
        let ids = strings(&c, "[...document.querySelectorAll('#tree li[data-id^=C]')].map(l => l.dataset.id)").await;
        // A click, then the time until the page shows the candidate and has painted it.
        const TIMED: &str = "const [how, arg, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
            const t0 = performance.now();
            document.body.dataset.shown = '';
            if (how === 'click') document.querySelector(`#tree li[data-id=\"${arg}\"]`).click();
            else if (how === 'filter') { const s = document.getElementById('f-document'); s.value = arg; s.dispatchEvent(new Event('change')); }
            else { const s = document.getElementById('search'); s.value = arg; s.dispatchEvent(new Event('input')); }
            const wait = () => document.body.dataset.shown ? requestAnimationFrame(() => done(performance.now() - t0)) : setTimeout(wait, 1);
            wait();";
        let timed = |how: &'static str, arg: String| {
            let c = c.clone();
            async move {
                c.execute_async(TIMED, vec![json!(how), json!(arg)]).await.unwrap().as_f64().unwrap()
            }
        };
        let step = (ids.len() / 25).max(1);
        let mut switches = Vec::new();
        for id in ids.iter().step_by(step) {
            switches.push(timed("click", id.clone()).await);
        }
        let documents = strings(&c, "[...document.querySelectorAll('#f-document option')].map(o => o.value).filter(v => v)").await;
        let mut filters = Vec::new();
        for d in documents.iter().step_by((documents.len() / 15).max(1)) {
            filters.push(timed("filter", d.clone()).await);
        }
        filters.push(timed("filter", String::new()).await);
        let mut searches = Vec::new();
        for q in ["casa", "lavoro", "quartiere", "famiglia", "scuola", "torino", "amici", "negozio"] {
            searches.push(timed("search", q.into()).await);
        }
        c.find(Locator::Css("body")).await.unwrap();
        c.close().await.unwrap();
        let passages: Value = serde_json::from_slice(
            &std::fs::read(std::path::Path::new(&run).join("manifest.json")).unwrap(),
        )
        .unwrap();
        println!(
            "review page of {run}: {} passages, {} candidates in the tree, {} passages listed",
            passages["counts"]["passages"], state[0], state[1]
        );
        println!("  {:<48} {:>7.1}", "first open, until usable (ms)", opens[0]);
        report("open again, until usable (ms)", &mut opens[1..]);
        report("switch candidate (ms)", &mut switches);
        report("apply a document filter (ms)", &mut filters);
        report("search, typing debounce of 150 ms included (ms)", &mut searches);
    });
    for child in [&mut server, &mut driver] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The strings a script's expression gives.
async fn strings(c: &fantoccini::Client, expression: &str) -> Vec<String> {
    let v = c.execute(&format!("return {expression}"), vec![]).await.unwrap();
    v.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

fn report(what: &str, xs: &mut [f64]) {
    xs.sort_by(f64::total_cmp);
    let median = xs[xs.len() / 2];
    println!(
        "  {what:<48} n={:<3} min {:>7.1}  median {:>7.1}  max {:>7.1}",
        xs.len(),
        xs[0],
        median,
        xs[xs.len() - 1]
    );
}
