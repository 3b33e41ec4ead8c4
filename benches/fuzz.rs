//! `make fuzz`: every reader of outside files fed mutated real files, on the stable toolchain.
//!
//! cargo-fuzz needs a nightly compiler (not installable here), so this is a small mutational
//! fuzzer of its own, with no dependency: each target starts from real files (`../shared/data`,
//! `data/`, the model) and the inputs kept in `tests/fuzz/<target>/`, mutates them (bit flips,
//! interesting bytes, the format's own tokens, repeated and deleted ranges, splices,
//! truncation), and keeps an input that makes the reader answer something it had not answered
//! before (a new error message, or a document of a new shape): a crude guide in place of
//! coverage. A target runs in a worker process that writes each input to a file before reading
//! it, under a 4 GiB address-space limit and a 10 s watchdog, so a panic, a stack overflow, an
//! allocation of gigabytes or a hang is caught, and the input that caused it is kept in
//! `tests/fuzz/crashes/`.
//!
//! `cargo bench --bench fuzz -- [--seconds N] [--jobs J] [TARGET...]`; `make fuzz` runs every
//! target for `FUZZ_SECONDS` (default 60) each.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use terreno::config::IngestConfig;

/// The targets: name, the extension the input is read with, and the seed files' extensions.
const TARGETS: &[(&str, &str)] = &[
    ("text", "txt"),
    ("vtt", "vtt"),
    ("srt", "srt"),
    ("docx", "docx"),
    ("eaf", "eaf"),
    ("csv", "csv"),
    ("tsv", "tsv"),
    ("parquet", "parquet"),
    ("codebook-toml", "toml"),
    ("codebook-csv", "csv"),
    ("qdc", "qdc"),
    ("manual-csv", "csv"),
    ("qdpx", "qdpx"),
    ("decisions", "toml"),
    ("model", "bin"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Tokens of each format, inserted whole by the mutator.
fn dictionary(target: &str) -> &'static [&'static [u8]] {
    match target {
        "docx" | "eaf" | "qdc" | "qdpx" => &[
            b"<",
            b">",
            b"</",
            b"/>",
            b"<w:p>",
            b"<w:t>",
            b"<TIER>",
            b"<Code ",
            b"<!--",
            b"-->",
            b"<![CDATA[",
            b"]]>",
            b"&amp;",
            b"&#",
            b"=\"",
            b"<?xml ",
            b"<!DOCTYPE x [",
            b"PK\x03\x04",
            b"startPosition=\"",
            b"endPosition=\"",
            b"\xef\xbb\xbf",
        ],
        "vtt" | "srt" => {
            &[b"-->", b"00:00:", b"99:59:", b",000", b".000", b"WEBVTT\n", b"\n\n", b": "]
        }
        "text" => {
            &[b": ", b"\t", b"\n", b"\r\n", b"\xef\xbb\xbf", b"[", b"]", b"\x00", b"\xff\xfe"]
        }
        "csv" | "tsv" | "codebook-csv" | "manual-csv" => {
            &[b"\"", b"\"\"", b",", b"\t", b"\n", b"\r\n", b"id", b"text", b"start", b"end"]
        }
        "codebook-toml" | "decisions" => &[
            b"[[code]]\n",
            b"[[decision]]\n",
            b"parent = \"",
            b"id = \"",
            b"\"\"\"",
            b"=",
            b"\n",
            b"action = \"merge\"\n",
            b"into = \"",
            b"candidate = \"C01\"\n",
        ],
        _ => &[b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f", b"\x00\x01\x00\x00", b"E5S1"],
    }
}

/// Real files a target starts from, at most 64 KiB of each (the model: three prefixes).
fn seeds(target: &str, ext: &str) -> Vec<Vec<u8>> {
    let shared = root().join("../shared/data");
    let mut files: Vec<PathBuf> = Vec::new();
    let walk = |dir: PathBuf, want: &str, files: &mut Vec<PathBuf>| {
        let mut found: Vec<PathBuf> = walk_files(&dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(want)))
            .collect();
        found.sort();
        files.extend(found.into_iter().take(6));
    };
    match target {
        "text" => walk(root().join("data/parlato"), "txt", &mut files),
        "eaf" => walk(shared.join("parlato/eaf"), "eaf", &mut files),
        "manual-csv" => walk(shared.join("pdpilot-interviews"), "tsv", &mut files),
        "codebook-toml" => files.push(root().join("data/sample-codebook.toml")),
        _ => walk(root().join("tests/fuzz/seeds").join(target), ext, &mut files),
    }
    let mut out: Vec<Vec<u8>> = files
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .map(|mut b| {
            if target != "model" && target != "docx" && target != "qdpx" && target != "parquet" {
                b.truncate(64 << 10);
            }
            b
        })
        .collect();
    if target == "model" {
        if let Ok(model) =
            std::fs::read(root().join("models/multilingual-e5-small/e5-small-q4.bin"))
        {
            out.extend(
                [4 << 10, 64 << 10, 1 << 20].map(|n: usize| model[..n.min(model.len())].to_vec()),
            );
        }
    }
    let kept = root().join("tests/fuzz").join(target);
    for f in walk_files(&kept) {
        if let Ok(b) = std::fs::read(f) {
            out.push(b);
        }
    }
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// xorshift64*: the fuzzer's own random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One to four mutations of `input` (another corpus entry for splicing).
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8], dict: &[&[u8]]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(9) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = [0u8, 0xff, 0x7f, 0x80, b'<', b'>', b'"', b'\n', b':', b'\t', b',']
                    [rng.below(11)];
            }
            2 => {
                let t = dict[rng.below(dict.len())];
                b.splice(at..at, t.iter().copied());
            }
            3 if !b.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                b.drain(at.min(end)..end);
            }
            4 if !b.is_empty() => {
                // A range repeated: nesting, long lines, many rows.
                let from = rng.below(b.len());
                let len = 1 + rng.below((b.len() - from).min(256));
                let piece: Vec<u8> = b[from..from + len].to_vec();
                let most = if rng.below(8) == 0 { 2000 } else { 8 };
                let times = 1 + rng.below(most);
                let at = rng.below(b.len() + 1);
                b.splice(at..at, piece.iter().cycle().take(len * times).copied());
            }
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                let len = 1 + rng.below((other.len() - from).min(1024));
                b.splice(at..at, other[from..from + len].iter().copied());
            }
            6 => b.truncate(at),
            7 => {
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, bytes);
            }
            _ if b.len() >= 4 => {
                // A little-endian number overwritten with an edge value.
                let i = rng.below(b.len() - 3);
                let v: u32 = [0, 1, u32::MAX, i32::MAX as u32, 1 << 16, 1 << 24][rng.below(6)];
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => {}
        }
        b.truncate(8 << 20);
    }
    b
}

/// What reading an input gave, for telling new behaviour from old: the message without its
/// numbers, or the shape of what was read.
fn signature(outcome: Result<String, terreno::Error>) -> String {
    let s = match outcome {
        Ok(s) => format!("ok {s}"),
        Err(e) => {
            let m = e.to_string();
            let m = m.rsplit_once(": ").map_or(m.as_str(), |(_, tail)| tail).to_string();
            format!("err {m}")
        }
    };
    // Numbers and quoted text (names, values from the input) say nothing about behaviour.
    let mut out = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' | '`' | '«' | '»' => quoted = !quoted,
            // What follows is a list of the input's own names (columns, codes).
            '(' if !quoted => break,
            _ if quoted => {}
            c if c.is_ascii_digit() => out.push('#'),
            c => out.push(c),
        }
    }
    out.chars().take(60).collect()
}

fn bucket(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

/// The state a target needs besides its input.
struct Fixture {
    texts: terreno::manual::Texts,
    run: PathBuf,
}

impl Fixture {
    fn new(work: &Path) -> Fixture {
        let mut texts = BTreeMap::new();
        for f in walk_files(&root().join("data/parlato")) {
            if f.extension().is_some_and(|e| e == "txt") {
                let id = f.file_stem().unwrap().to_string_lossy().into_owned();
                texts.insert(id, std::fs::read_to_string(&f).unwrap());
            }
        }
        let run = work.join("run");
        let opts = terreno::pipeline::RunOptions {
            inputs: vec![root().join("data/parlato/PTA007.txt")],
            out: run.clone(),
            force: true,
            quiet: true,
            ..Default::default()
        };
        let tiny = terreno::embed::TinyEmbedder::default();
        terreno::pipeline::run(
            &Default::default(),
            &opts,
            Some(&tiny as &dyn terreno::embed::Embedder),
        )
        .expect("a run to review");
        Fixture { texts, run }
    }
}

/// Reads `input` (at `path`) with `target`'s reader.
fn read(target: &str, path: &Path, input: &[u8], fx: &Fixture) -> Result<String, terreno::Error> {
    let config = IngestConfig::default();
    match target {
        "text" | "vtt" | "srt" | "docx" | "eaf" | "csv" | "tsv" | "parquet" => {
            let d = terreno::ingest::read_file(path, &config)?;
            Ok(format!("{:?} {} turns", d.format, bucket(d.turns.len())))
        }
        "codebook-toml" | "codebook-csv" | "qdc" => {
            let b = terreno::codebook::Codebook::read(path)?;
            Ok(format!("{} codes", bucket(b.codes.len())))
        }
        "manual-csv" | "qdpx" => {
            let c = terreno::manual::load(path, &fx.texts)?;
            Ok(format!("{} placed {} not", bucket(c.segments.len()), bucket(c.unplaced.len())))
        }
        "decisions" => {
            let log = fx.run.join("decisions.jsonl");
            let _ = std::fs::remove_file(&log);
            let mut s = terreno::review::Session::open(&fx.run, "fuzz")?;
            let a = terreno::review::script::apply(&mut s, path)?;
            // The same bytes as a decisions log.
            let _ = std::fs::write(&log, input);
            let _ = terreno::review::read_decisions(&log);
            Ok(format!("{} recorded", bucket(a.recorded)))
        }
        "model" => {
            let m = terreno::embed::model_file::ModelFile::parse(path, input.to_vec())?;
            Ok(format!("{} layers", m.dims.layers))
        }
        other => panic!("no target {other}"),
    }
}

/// The worker: fuzzes one target for `seconds`, writing each input to `in_flight` first.
fn worker(target: &str, ext: &str, seconds: u64, in_flight: &Path, seed: u64) {
    // SAFETY: setrlimit only changes this process's limits.
    unsafe {
        let limit = libc::rlimit { rlim_cur: 4 << 30, rlim_max: 4 << 30 };
        libc::setrlimit(libc::RLIMIT_AS, &limit);
    }
    let work = in_flight.parent().unwrap().join(format!("work-{target}"));
    std::fs::create_dir_all(&work).unwrap();
    let fx = Fixture::new(&work);
    let path = work.join(format!("input.{ext}"));
    let dict = dictionary(target);
    let mut corpus = seeds(target, ext);
    let mut seen: HashSet<String> = HashSet::new();
    let keep_dir = root().join("tests/fuzz").join(target);
    let mut kept = walk_files(&keep_dir).len();
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let (mut execs, mut new) = (0u64, 0usize);
    // The watchdog: an input that takes over 10 s is a hang.
    let beat = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let beat = beat.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            let last = beat.load(std::sync::atomic::Ordering::Relaxed);
            let now = started.elapsed().as_secs();
            if last > 0 && now > last + 10 {
                eprintln!("hang: an input took over 10 s");
                std::process::abort();
            }
        });
    }
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    while started.elapsed().as_secs() < seconds {
        let i = rng.below(corpus.len());
        let j = rng.below(corpus.len());
        let input = if execs < corpus.len() as u64 {
            corpus[execs as usize].clone()
        } else {
            mutate(&mut rng, &corpus[i], &corpus[j], dict)
        };
        std::fs::write(in_flight, &input).unwrap();
        std::fs::write(&path, &input).unwrap();
        beat.store(started.elapsed().as_secs().max(1), std::sync::atomic::Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(|| read(target, &path, &input, &fx));
        beat.store(0, std::sync::atomic::Ordering::Relaxed);
        let outcome = match outcome {
            Ok(o) => o,
            Err(_) => std::process::abort(),
        };
        execs += 1;
        let sig = signature(outcome);
        if seen.insert(sig) {
            new += 1;
            if input.len() <= 2048 && kept < 20 && execs > corpus.len() as u64 {
                std::fs::create_dir_all(&keep_dir).unwrap();
                let name = format!("{:016x}.{ext}", fnv(&input));
                std::fs::write(keep_dir.join(name), &input).unwrap();
                kept += 1;
            }
            if corpus.len() < 4096 {
                corpus.push(input);
            } else {
                let at = rng.below(corpus.len());
                corpus[at] = input;
            }
        }
    }
    println!("{target:>14}: {execs} inputs in {seconds} s, {new} behaviours, no crash");
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &c| (h ^ c as u64).wrapping_mul(0x100000001b3))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--worker") {
        let seconds: u64 = args[3].parse().unwrap();
        let seed: u64 = args[5].parse().unwrap();
        worker(&args[1], &args[2], seconds, Path::new(&args[4]), seed);
        return;
    }
    let mut seconds = 60u64;
    let mut jobs = 2usize;
    let mut wanted: Vec<String> = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().and_then(|s| s.parse().ok()).unwrap_or(seconds),
            "--jobs" => jobs = it.next().and_then(|s| s.parse().ok()).unwrap_or(jobs),
            t => wanted.push(t.to_string()),
        }
    }
    let targets: Vec<(&str, &str)> = TARGETS
        .iter()
        .copied()
        .filter(|(t, _)| wanted.is_empty() || wanted.iter().any(|w| w == t))
        .collect();
    // The path this binary was started as: if cargo rebuilds it meanwhile, the workers start
    // the new file (`current_exe` would name the replaced, deleted one).
    let exe = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .unwrap_or_else(|| std::env::current_exe().expect("the fuzzer's own path"));
    let tmp = std::env::temp_dir().join(format!("terreno-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let crashes = root().join("tests/fuzz/crashes");
    let queue = std::sync::Mutex::new(targets.into_iter());
    let failed = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let Some((target, ext)) = queue.lock().unwrap().next() else { break };
                let started = Instant::now();
                let mut round = 0u64;
                // A worker that crashes is started again for the time left.
                while started.elapsed().as_secs() + 1 < seconds {
                    let left = seconds - started.elapsed().as_secs();
                    let in_flight = tmp.join(format!("{target}.in-flight"));
                    let out = std::process::Command::new(&exe)
                        .args(["--worker", target, ext, &left.to_string()])
                        .arg(&in_flight)
                        .arg((round + 1).wrapping_mul(0x9E3779B97F4A7C15).to_string())
                        .output()
                        .unwrap();
                    round += 1;
                    std::io::stdout().write_all(&out.stdout).unwrap();
                    if out.status.success() {
                        break;
                    }
                    let input = std::fs::read(&in_flight).unwrap_or_default();
                    std::fs::create_dir_all(&crashes).unwrap();
                    let saved = crashes.join(format!("{target}-{:016x}.{ext}", fnv(&input)));
                    std::fs::write(&saved, &input).unwrap();
                    let why = String::from_utf8_lossy(&out.stderr);
                    println!(
                        "{target:>14}: CRASH ({}), input kept in {}: {}",
                        out.status,
                        saved.display(),
                        why.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
                    );
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&tmp);
    let failed = failed.into_inner();
    if failed > 0 {
        println!("{failed} crashes");
        std::process::exit(1);
    }
}
