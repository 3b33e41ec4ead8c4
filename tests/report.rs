//! `report.html`, rendered by a real browser: headless Chromium (Debian's `chromium`, installed
//! by `make setup`) loads it, with nothing in it that runs or loads from elsewhere, and draws the map and the heat map. A
//! screenshot is kept in `target/test-artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!("headless Chromium is installed by `make setup` (Debian package chromium)");
}

/// Loads the page; returns the DOM after load and the browser's log.
fn render(page: &Path, screenshot: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let common = |c: &mut Command| {
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--enable-logging=stderr", "--v=0", "--window-size=1200,3000"]);
    };
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let mut dump = Command::new(chromium());
    common(&mut dump);
    let out = dump.arg("--dump-dom").arg(&url).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut shot = Command::new(chromium());
    common(&mut shot);
    let s = shot.arg(format!("--screenshot={}", screenshot.display())).arg(&url).output().unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    assert!(std::fs::metadata(screenshot).unwrap().len() > 10_000, "an empty screenshot");
    let log =
        format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&s.stderr));
    (String::from_utf8_lossy(&out.stdout).to_string(), log)
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Nothing the page loads comes from the network or another file, and nothing in it runs: no
/// script and no event-handler attribute (so there is no console to watch for errors; what the
/// browser must show is checked in the DOM it built).
fn self_contained(html: &str) {
    for bad in
        ["src=\"http", "href=\"http", "url(http", "@import", "<script", "<link", "javascript:"]
    {
        assert!(!html.contains(bad), "the report refers to {bad}");
    }
    let handler = regex::Regex::new(r#"(?i)<[^>]*\son[a-z]+\s*="#).unwrap();
    assert!(!handler.is_match(html), "an event handler: {:?}", handler.find(html));
}

#[test]
fn the_sample_report_renders_with_its_map_in_italian() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("sample");
    sample_run(&run, &[]);
    let page = run.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    self_contained(&html);
    assert!(html.contains("<html lang=\"it\"") && html.contains("Mappa dei passaggi"));
    let (dom, _log) = render(&page, &artifacts().join("report-sample.png"));
    self_contained(&dom);
    let n = passages(&run).height();
    // One dot per passage, and the candidates' ids on the map.
    assert_eq!(dom.matches("<circle").count(), n);
    let candidates: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("candidates.json")).unwrap()).unwrap();
    let k = candidates["candidates"].as_array().unwrap().len();
    assert!(k >= 4);
    for c in candidates["candidates"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        assert!(dom.contains(&format!("id=\"{id}\"")), "no section for {id}");
    }
    // The saturation curve: one bar per document.
    assert!(dom.contains("Saturazione"));
    // `terreno report` writes the same page again, in English when asked.
    terreno().args(["report", "--language", "en"]).arg(&run).assert().success();
    let en = std::fs::read_to_string(&page).unwrap();
    assert!(en.contains("<html lang=\"en\"") && en.contains("Map of the passages"));
}

#[test]
fn a_report_with_a_manual_coding_draws_the_heat_map() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("pdpilot");
    let pd = shared("pdpilot-interviews");
    let config =
        write(dir.path(), "en.toml", "[report]\nlanguage = \"en\"\n[compare]\nbootstrap = 100\n");
    terreno()
        .args(["run", "--quiet", "--role", "Dan=interviewer", "--k", "8", "--cache-dir"])
        .arg(test_cache())
        .arg("--config")
        .arg(&config)
        .arg("--manual")
        .arg(pd.join("coded_segments.tsv"))
        .arg("--out")
        .arg(&run)
        .arg(pd.join("transcripts"))
        .assert()
        .success();
    let page = run.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    self_contained(&html);
    let (dom, _log) = render(&page, &artifacts().join("report-pdpilot.png"));
    self_contained(&dom);
    assert!(dom.contains("Codes × clusters"), "no heat map");
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("comparison.json")).unwrap()).unwrap();
    let level = if c["leaf"]["codes"].as_u64().unwrap() <= 40 { &c["leaf"] } else { &c["top"] };
    let cells = level["table"].as_array().unwrap().len().min(40)
        * level["table_clusters"].as_array().unwrap().len();
    // Heat-map cells, plus the map's and the saturation chart's background rectangles.
    let rects = dom.matches("<rect").count();
    assert!(rects >= cells, "{rects} rectangles for {cells} cells");
    assert!(dom.contains("kappa") && dom.contains("AC1"));
    assert_eq!(dom.matches("<circle").count(), passages(&run).height());
}
