//! Sharded runs: `terreno run … --shard I/N` reads and embeds a share of the documents into
//! `RUN/shards/I/`; `terreno merge RUN` checks that the N shards are there, finished and of
//! one run (same configuration, model and inputs), then runs the whole pipeline into `RUN` with
//! the shards' vectors, so the result is the one an unsharded run writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::embed::{Embedder, Prefix};
use crate::error::{Error, Result};
use crate::pipeline::{self, RunOptions, Summary};
use crate::run::{Manifest, RunDir, RunState, ShardRecord, SHARDS};

/// A shard found under `RUN/shards/`.
#[derive(Debug, Clone)]
pub struct Shard {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Shard {
    /// Its record (every shard's manifest has one).
    pub fn record(&self) -> &ShardRecord {
        self.manifest.shard.as_ref().expect("read_shards keeps shards with a record")
    }
}

/// Where each shard of a run stands, for `terreno slurm status` and before a merge.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// N, when a shard says it.
    pub count: Option<usize>,
    /// The shards finished, by index.
    pub finished: BTreeSet<usize>,
    /// The shards started and not finished (running, or stopped), with their stages so far.
    pub unfinished: BTreeMap<usize, Vec<String>>,
    /// Passages embedded so far, over every shard.
    pub passages: usize,
}

/// Reads the shards' manifests (missing or unfinished ones included) without judging them.
pub fn progress(run: &Path) -> Result<Progress> {
    let mut p = Progress::default();
    let root = run.join(SHARDS);
    let Ok(entries) = std::fs::read_dir(&root) else { return Ok(p) };
    for e in entries {
        let e = e.map_err(|e| Error::io(&root, e))?;
        let Some(i) = e.file_name().to_str().and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        let dir = RunDir::new(e.path());
        if !dir.file(crate::run::MANIFEST).exists() {
            p.unfinished.insert(i, Vec::new());
            continue;
        }
        let m = dir.manifest()?;
        if let Some(r) = &m.shard {
            p.count = Some(r.count);
        }
        if m.state == RunState::Finished && m.shard.is_some() {
            p.finished.insert(i);
            p.passages += m.counts.passages;
        } else {
            p.unfinished.insert(i, m.stages.clone());
        }
    }
    Ok(p)
}

/// The N shards of `run`, in order, checked: each present, finished, with the same N, inputs,
/// documents, configuration and model, and every document in exactly one.
pub fn read_shards(run: &Path) -> Result<Vec<Shard>> {
    let root = run.join(SHARDS);
    let bad = |m: String| Error::Run { path: run.to_path_buf(), message: m };
    let p = progress(run)?;
    let Some(n) = p.count else {
        return Err(bad(format!(
            "no finished shard in {}: run `terreno run INPUT… --out {} --shard I/N` for each I \
             first",
            root.display(),
            run.display()
        )));
    };
    let missing: Vec<String> = (1..=n)
        .filter(|i| !p.finished.contains(i) && !p.unfinished.contains_key(i))
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!("shard {} missing: run it first", missing.join(", "))));
    }
    if let Some((i, stages)) = p.unfinished.iter().next() {
        return Err(bad(format!(
            "shard {i}/{n} did not finish (it got as far as {}): run its command again, it \
             resumes",
            stages.last().map_or("the start", String::as_str)
        )));
    }
    let extra: Vec<usize> = p.finished.iter().copied().filter(|&i| i > n).collect();
    if !extra.is_empty() {
        return Err(bad(format!("shards {extra:?} are beyond {n}: the folder mixes two runs")));
    }
    let shards: Vec<Shard> = (1..=n)
        .map(|i| {
            let dir = root.join(i.to_string());
            Ok(Shard { manifest: RunDir::new(&dir).manifest()?, dir })
        })
        .collect::<Result<_>>()?;
    let first = &shards[0];
    let json = |v: &crate::config::Config| serde_json::to_string(v).unwrap_or_default();
    for (i, s) in (1..).zip(&shards) {
        let (a, b) = (first.record(), s.record());
        let differs = |what: &str| {
            bad(format!(
                "shard {i}/{n} was run with other {what} than shard 1/{n}: run every shard with \
                 the same command"
            ))
        };
        // Shard i's folder holds shard i of n.
        if b.count != n || b.index != i {
            return Err(differs("--shard numbers"));
        }
        if a.inputs != b.inputs || a.documents != b.documents {
            return Err(differs("inputs"));
        }
        if json(&first.manifest.config) != json(&s.manifest.config) {
            return Err(differs("settings"));
        }
        let model = |m: &Manifest| m.model.as_ref().map(|m| (m.name.clone(), m.sha256.clone()));
        if model(&first.manifest) != model(&s.manifest) {
            return Err(differs("model"));
        }
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &shards {
        for input in &s.manifest.inputs {
            if let Some(j) = seen.insert(&input.document_id, s.record().index) {
                return Err(bad(format!(
                    "document {} is in shards {j} and {}",
                    input.document_id,
                    s.record().index
                )));
            }
        }
    }
    let lacking: Vec<&String> =
        first.record().documents.iter().filter(|d| !seen.contains_key(d.as_str())).collect();
    if !lacking.is_empty() {
        return Err(bad(format!(
            "{} documents are in no shard ({}…): were the shards run on other inputs?",
            lacking.len(),
            lacking[0]
        )));
    }
    Ok(shards)
}

/// The model, with the vectors the shards computed: a text a shard embedded is served from
/// the shard, any other (the names of codes and the phrases candidates are named from) by the
/// model.
struct ShardVectors<'a> {
    model: &'a dyn Embedder,
    vectors: [HashMap<String, Vec<f32>>; 2],
    /// Texts the model embedded here, per prefix.
    fresh: [AtomicUsize; 2],
}

fn slot(prefix: Prefix) -> usize {
    match prefix {
        Prefix::Passage => 0,
        Prefix::Query => 1,
    }
}

impl Embedder for ShardVectors<'_> {
    fn dim(&self) -> usize {
        self.model.dim()
    }
    fn id(&self) -> String {
        self.model.id()
    }
    fn name(&self) -> String {
        self.model.name()
    }
    fn sha256(&self) -> String {
        self.model.sha256()
    }
    fn embed(&self, texts: &[&str], prefix: Prefix) -> Result<Vec<Vec<f32>>> {
        let known = &self.vectors[slot(prefix)];
        let missing: Vec<&str> =
            texts.iter().copied().filter(|t| !known.contains_key(*t)).collect();
        let computed =
            if missing.is_empty() { Vec::new() } else { self.model.embed(&missing, prefix)? };
        self.fresh[slot(prefix)].fetch_add(missing.len(), Ordering::Relaxed);
        let computed: HashMap<&str, Vec<f32>> = missing.into_iter().zip(computed).collect();
        Ok(texts
            .iter()
            .map(|t| known.get(*t).or_else(|| computed.get(t)).cloned().unwrap_or_default())
            .collect())
    }
}

/// Reads a shard's passage texts and both vectors of each.
fn shard_vectors(s: &Shard, into: &mut [HashMap<String, Vec<f32>>; 2]) -> Result<()> {
    let dir = RunDir::new(&s.dir);
    let passages = dir.passages()?;
    let texts: Vec<String> =
        passages.column("text")?.str()?.iter().map(|t| t.unwrap_or_default().to_string()).collect();
    let emb = dir.table(crate::run::EMBEDDINGS)?;
    for (k, column) in ["vector", "query_vector"].iter().enumerate() {
        let list = emb.column(column)?.list()?.clone();
        for (text, v) in texts.iter().zip(list.amortized_iter()) {
            let v: Vec<f32> = v
                .map(|v| {
                    v.as_ref().f32().map(|s| s.into_no_null_iter().collect()).unwrap_or_default()
                })
                .unwrap_or_default();
            into[k].insert(text.clone(), v);
        }
    }
    Ok(())
}

/// The precision the shards of `run` embedded at.
pub fn precision(run: &Path) -> Result<crate::embed::Precision> {
    Ok(read_shards(run)?[0].manifest.config.embed.precision)
}

/// `terreno merge RUN`: the whole run from its shards, written into `RUN`.
pub fn merge(
    run: &Path,
    model: &dyn Embedder,
    quiet: bool,
    command: Vec<String>,
) -> Result<Summary> {
    let shards = read_shards(run)?;
    let mut vectors = [HashMap::new(), HashMap::new()];
    for s in &shards {
        shard_vectors(s, &mut vectors)?;
    }
    let embedder =
        ShardVectors { model, vectors, fresh: [AtomicUsize::new(0), AtomicUsize::new(0)] };
    let first = &shards[0];
    let opts = RunOptions {
        inputs: first.record().inputs.clone(),
        out: run.to_path_buf(),
        force: true,
        keep_going: first.record().keep_going,
        quiet,
        command,
        shard: None,
    };
    let summary = pipeline::run(&first.manifest.config, &opts, Some(&embedder))?;
    // Every passage came from a shard: the documents were checked to be the shards' own.
    let fresh = embedder.fresh[slot(Prefix::Passage)].load(Ordering::Relaxed);
    if fresh > 0 {
        return Err(Error::Run {
            path: run.to_path_buf(),
            message: format!(
                "{fresh} passages were not in the shards and were embedded now: have the inputs \
                 changed since the shards ran?"
            ),
        });
    }
    Ok(summary)
}
