//! The run directory and its one owner, [`RunDir`]: every artifact's name, the document id ↔
//! source file mapping (kept in the manifest), a lock so two processes never write one
//! directory, and the run's state (which stages finished), so nothing reads a half-written run.
//! Every file is written atomically (a temporary file renamed into place), so a run that stops
//! half-way leaves every earlier artifact whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::Document;
use crate::segment::Passage;

/// `manifest.json`: what went in, with what settings, and what came out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// terreno's version.
    pub terreno_version: String,
    /// When the run finished (RFC 3339, UTC).
    pub created: String,
    /// The command line.
    pub command: Vec<String>,
    /// Every input file.
    pub inputs: Vec<InputRecord>,
    /// The effective configuration.
    pub config: Config,
    /// Counts of what was produced.
    pub counts: Counts,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
    /// Warnings, each naming its file.
    pub warnings: Vec<String>,
    /// Files left out with `--keep-going`, with the reason.
    pub skipped_files: Vec<String>,
    /// The embedding model, once passages are embedded.
    pub model: Option<ModelRecord>,
    /// What clustering found.
    pub clusters: Option<ClusterRecord>,
    /// Peak resident memory of the run so far, MiB (Linux).
    pub peak_rss_mib: Option<f64>,
    /// The stages finished so far, in order.
    pub stages: Vec<String>,
    /// Whether the run is still running (or was stopped) or finished.
    #[serde(default)]
    pub state: RunState,
    /// For one shard of a sharded run (`--shard I/N`): which, and of what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRecord>,
}

/// One shard of a run: a share of the documents, read and embedded, waiting for
/// `terreno merge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// I, from 1.
    pub index: usize,
    /// N.
    pub count: usize,
    /// The inputs of the whole run, as given (absolute).
    pub inputs: Vec<PathBuf>,
    /// Whether unreadable files were skipped (`--keep-going`).
    pub keep_going: bool,
    /// Every document of the whole run, in the run's order.
    pub documents: Vec<String>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Started and not finished: running now, or stopped (killed, failed) on the way.
    Running,
    /// Every stage finished. (Runs written before the state was recorded read as finished.)
    #[default]
    Finished,
}

/// What clustering found, in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// Clusters (candidate codes).
    pub clusters: usize,
    /// Categories they are grouped in.
    #[serde(default)]
    pub categories: usize,
    /// Passages set apart as not coded.
    #[serde(default)]
    pub not_coded: usize,
    /// Passages left unassigned.
    pub unassigned: usize,
    /// Passages HDBSCAN left unassigned before attaching.
    pub outliers_found: usize,
    /// Of those, attached to a cluster.
    pub outliers_attached: usize,
    /// HDBSCAN's smallest cluster, as used.
    pub min_cluster_size: usize,
    /// HDBSCAN's min_samples, as used.
    pub min_samples: usize,
}

/// The model of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Its name.
    pub name: String,
    /// sha256 of its weights file.
    pub sha256: String,
    /// Vector length.
    pub dim: usize,
}

/// One input file in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputRecord {
    /// Path as given.
    pub path: String,
    /// Document id in the run.
    pub document_id: String,
    /// Its canonical text in the run directory, relative to it (`sources/<id>.txt`).
    #[serde(default)]
    pub source: String,
    /// Format read.
    pub format: crate::ingest::Format,
    /// sha256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// What a run produced.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Documents read.
    pub documents: usize,
    /// Distinct (document, speaker) pairs over all turns.
    pub speakers: usize,
    /// Turns read (lines, cues, annotations, rows).
    pub turns: usize,
    /// Passages written.
    pub passages: usize,
    /// Words in the passages.
    pub words: usize,
    /// Back-channels left out.
    pub backchannels_dropped: usize,
    /// The language the transcripts were read in (`it`, `en`): stopwords, fillers, stems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Warnings.
    pub warnings: usize,
    /// Passages embedded in this run.
    pub embedded_new: usize,
    /// Passages whose vectors came from the cache.
    pub embedded_cached: usize,
    /// Texts the model embedded in this run (two per new passage: with the `passage: ` and
    /// the `query: ` prefix).
    #[serde(default)]
    pub embedded_texts: usize,
}

/// The file name of a document's canonical text under `sources/`: its id (`/`-separated where
/// it names folders) with `.txt`, so `siteA/P1` is `sources/siteA/P1.txt`.
pub fn source_file_name(document_id: &str) -> String {
    format!("{document_id}.txt")
}

/// The core columns of `passages.parquet`, in order.
pub const PASSAGE_COLUMNS: &[&str] = &[
    "passage_id",
    "document_id",
    "source_path",
    "speaker",
    "role",
    "turn",
    "char_start",
    "char_end",
    "time_start",
    "time_end",
    "prompt",
    "text",
    "words",
    "analysis",
];

/// Builds `passages.parquet`: the core columns, then `source_id` and the other columns of table
/// inputs, then the documents' metadata. A column whose name is taken gets a `source_` prefix.
pub fn passages_frame(passages: &[Passage], docs: &[Document]) -> Result<DataFrame> {
    let by_id: BTreeMap<&str, &Document> = docs.iter().map(|d| (d.id.as_str(), d)).collect();
    let doc = |p: &Passage| by_id[p.document_id.as_str()];
    let s = |name: &str, v: Vec<String>| Column::new(name.into(), v);
    let mut cols = vec![
        s("passage_id", passages.iter().map(|p| p.id.clone()).collect()),
        s("document_id", passages.iter().map(|p| p.document_id.clone()).collect()),
        s("source_path", passages.iter().map(|p| doc(p).source.display().to_string()).collect()),
        s("speaker", passages.iter().map(|p| p.speaker.clone()).collect()),
        s("role", passages.iter().map(|p| p.role.as_str().to_string()).collect()),
        Column::new("turn".into(), passages.iter().map(|p| p.turn as u32).collect::<Vec<_>>()),
        Column::new(
            "char_start".into(),
            passages.iter().map(|p| p.char_start as u32).collect::<Vec<_>>(),
        ),
        Column::new(
            "char_end".into(),
            passages.iter().map(|p| p.char_end as u32).collect::<Vec<_>>(),
        ),
        Column::new("time_start".into(), passages.iter().map(|p| p.time_start).collect::<Vec<_>>()),
        Column::new("time_end".into(), passages.iter().map(|p| p.time_end).collect::<Vec<_>>()),
        Column::new("prompt".into(), passages.iter().map(|p| p.prompt.clone()).collect::<Vec<_>>()),
        s("text", passages.iter().map(|p| p.text.clone()).collect()),
        Column::new("words".into(), passages.iter().map(|p| p.words as u32).collect::<Vec<_>>()),
        s("analysis", passages.iter().map(|p| p.analysis.clone()).collect()),
    ];
    let mut taken: BTreeSet<String> = PASSAGE_COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut unique = |name: &str| {
        let mut n = name.to_string();
        while taken.contains(&n) {
            n = format!("source_{n}");
        }
        taken.insert(n.clone());
        n
    };
    if passages.iter().any(|p| p.row.is_some()) {
        let name = unique("source_id");
        cols.push(Column::new(
            name.into(),
            passages.iter().map(|p| p.row.as_ref().map(|r| r.id.clone())).collect::<Vec<_>>(),
        ));
        let mut extra_names: Vec<String> = Vec::new();
        for p in passages {
            for (k, _) in p.row.iter().flat_map(|r| &r.extra) {
                if !extra_names.contains(k) {
                    extra_names.push(k.clone());
                }
            }
        }
        for key in extra_names {
            let values: Vec<Option<String>> = passages
                .iter()
                .map(|p| {
                    p.row
                        .as_ref()
                        .and_then(|r| r.extra.iter().find(|(k, _)| *k == key))
                        .and_then(|(_, v)| v.clone())
                })
                .collect();
            cols.push(Column::new(unique(&key).into(), values));
        }
    }
    let meta_keys: BTreeSet<&String> = docs.iter().flat_map(|d| d.metadata.keys()).collect();
    for key in meta_keys {
        let values: Vec<Option<String>> =
            passages.iter().map(|p| doc(p).metadata.get(key).cloned()).collect();
        cols.push(Column::new(unique(key).into(), values));
    }
    Ok(DataFrame::new(passages.len(), cols)?)
}

/// Peak resident memory of this process in MiB, where the system tells it (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

/// The current time as RFC 3339 (UTC, seconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `manifest.json`.
pub const MANIFEST: &str = "manifest.json";
/// `passages.parquet`.
pub const PASSAGES: &str = "passages.parquet";
/// `embeddings.parquet`.
pub const EMBEDDINGS: &str = "embeddings.parquet";
/// `clusters.parquet`.
pub const CLUSTERS: &str = "clusters.parquet";
/// `candidates.json`.
pub const CANDIDATES: &str = "candidates.json";
/// `candidates.md`.
pub const CANDIDATES_MD: &str = "candidates.md";
/// `suggestions.parquet`.
pub const SUGGESTIONS: &str = "suggestions.parquet";
/// `other-codes.parquet`: candidate codes besides its own that a passage is close to.
pub const OTHER_CODES: &str = "other-codes.parquet";
/// `comparison.json`.
pub const COMPARISON: &str = "comparison.json";
/// `report.html`.
pub const REPORT: &str = "report.html";
/// The codebook a run starts from.
pub const CODEBOOK_V0: &str = "codebook-v0.toml";
/// The review's own decisions, appended.
pub const DECISIONS: &str = "decisions.jsonl";
/// Decisions carried from earlier runs.
pub const CARRIED: &str = "decisions-carried.jsonl";
/// The canonical texts.
pub const SOURCES: &str = "sources";
/// Where the review of a replaced run is kept.
pub const HISTORY: &str = "history";
/// The lock file.
pub const LOCK: &str = ".terreno.lock";
/// The shards of a sharded run, `shards/1/`, `shards/2/`, …, each a run directory of its own.
pub const SHARDS: &str = "shards";
/// The Slurm job scripts of a sharded run, and their logs.
pub const SLURM: &str = "slurm";

/// Every file a run writes, which a new run into the same directory replaces (besides the
/// `sources/` files its manifest lists). The review's files are never among them.
pub const RUN_ARTIFACTS: &[&str] = &[
    MANIFEST,
    PASSAGES,
    EMBEDDINGS,
    CLUSTERS,
    CANDIDATES,
    CANDIDATES_MD,
    SUGGESTIONS,
    OTHER_CODES,
    COMPARISON,
    REPORT,
    CODEBOOK_V0,
    CARRIED,
];

/// The tables with one row per passage, in passage order (the others have several per passage).
const PER_PASSAGE: &[&str] = &[PASSAGES, EMBEDDINGS, CLUSTERS];

/// A run directory: the only code that knows its layout.
#[derive(Debug, Clone)]
pub struct RunDir {
    dir: PathBuf,
}

/// Holds a run directory for one process; released when dropped (and by the system when the
/// process dies, however it dies).
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunDir {
    /// The run directory at `dir` (nothing is read yet).
    pub fn new(dir: impl Into<PathBuf>) -> RunDir {
        RunDir { dir: dir.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The path of an artifact.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Run { path: self.dir.clone(), message: message.into() }
    }

    /// Takes the directory for this process: a second process gets an error that names the
    /// process holding it.
    pub fn lock(&self) -> Result<RunLock> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let (path, mut file) = self.lock_file()?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                // The file names the last process that held the directory whole; if that one
                // is gone, the holders now are reviewers (they share it and write no name).
                let pid = holder.strip_prefix("PID ").and_then(|r| r.split(' ').next());
                let gone = pid.is_some_and(|p| {
                    cfg!(target_os = "linux") && !Path::new("/proc").join(p).exists()
                });
                let who = if holder.is_empty() || gone {
                    "a review (`terreno review`); finish it first".to_string()
                } else {
                    format!("{holder}; wait for it to finish, or choose another --out")
                };
                return Err(self.error(format!("this run directory is in use by {who}")));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        use std::io::{Seek, Write};
        let who = format!("PID {} (since {})\n", std::process::id(), now());
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(who.as_bytes()))
            .map_err(|e| Error::io(&path, e))?;
        Ok(RunLock { _file: file })
    }

    /// The lock file, opened (created if missing, never truncated).
    fn lock_file(&self) -> Result<(PathBuf, std::fs::File)> {
        let path = self.file(LOCK);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok((path, file))
    }

    /// Takes the directory shared with other readers that may share it (reviewers): a process
    /// holding it whole (`terreno run`) refuses them, and they refuse it.
    pub fn lock_shared(&self) -> Result<RunLock> {
        let (path, file) = self.lock_file()?;
        match file.try_lock_shared() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                Err(self.error(format!(
                    "this run directory is in use by {}; wait for it to finish",
                    holder.trim()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }

    /// Refuses, before anything is read or written, a directory that is, contains or is inside
    /// one of `inputs`, and a non-empty directory that is not a terreno run.
    pub fn check(&self, inputs: &[PathBuf]) -> Result<()> {
        let out = absolute(&self.dir);
        for input in inputs {
            let input = absolute(input);
            if out.starts_with(&input) || input.starts_with(&out) {
                return Err(self.error(format!(
                    "the run directory {} the input {}: the next run would read its files as \
                     transcripts, or a new run would write over the study's own files; choose \
                     an --out outside the inputs",
                    if out == input {
                        "is"
                    } else if out.starts_with(&input) {
                        "is inside"
                    } else {
                        "contains"
                    },
                    input.display()
                )));
            }
        }
        if self.dir.is_dir() && !self.file(MANIFEST).exists() {
            let others: Vec<String> = self
                .entries()?
                .into_iter()
                .filter(|n| ![LOCK, SHARDS, SLURM].contains(&n.as_str()) && !n.ends_with(".tmp"))
                .collect();
            if !others.is_empty() {
                return Err(self.error(format!(
                    "the directory is not empty ({}) and is not a terreno run; choose a new or \
                     empty --out",
                    others.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Makes the directory ready for a new run (the caller holds its lock):
    ///
    /// - refuses a directory that is, contains or is inside one of `inputs`;
    /// - refuses a non-empty directory that is not a terreno run, and a finished run unless
    ///   `force` (an unfinished one is resumed);
    /// - removes exactly the files the earlier run wrote ([`RUN_ARTIFACTS`] and the sources
    ///   its manifest lists), never another file;
    /// - moves the earlier run's review (decisions, codebook versions) to
    ///   `history/<when that run started>/`, so no decision is ever lost. A re-run that carries
    ///   this directory's review has read it before.
    pub fn prepare(&self, force: bool, inputs: &[PathBuf]) -> Result<()> {
        self.check(inputs)?;
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        if self.file(MANIFEST).exists() {
            let earlier = self.manifest()?;
            if earlier.state == RunState::Finished && !force {
                return Err(self.error(
                    "the run directory holds a finished run; pass --force to replace it (its \
                     review is kept under history/), or choose another --out",
                ));
            }
            self.keep_review(&earlier)?;
            self.remove_artifacts(&earlier)?;
        }
        std::fs::create_dir_all(self.file(SOURCES)).map_err(|e| Error::io(&self.dir, e))
    }

    fn entries(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let e = e.map_err(|e| Error::io(&self.dir, e))?;
            out.push(e.file_name().to_string_lossy().into_owned());
        }
        out.sort();
        Ok(out)
    }

    /// Moves the review of the run being replaced under `history/`.
    fn keep_review(&self, earlier: &Manifest) -> Result<()> {
        let mut files: Vec<PathBuf> = self.versions()?.into_iter().map(|(_, p)| p).collect();
        files.retain(|p| !p.ends_with(CODEBOOK_V0));
        let diffs: Vec<PathBuf> = files.iter().map(|p| p.with_extension("diff")).collect();
        files.extend(diffs);
        files.push(self.file(DECISIONS));
        files.push(self.file(CARRIED));
        files.push(self.file(CODEBOOK_V0));
        files.retain(|p| p.exists());
        let reviewed = files.iter().any(|p| !p.ends_with(CODEBOOK_V0) && !p.ends_with(CARRIED));
        if !reviewed {
            return Ok(());
        }
        let stamp = earlier.created.replace(':', "-");
        let mut dest = self.file(HISTORY).join(&stamp);
        let mut n = 1;
        while dest.exists() {
            n += 1;
            dest = self.file(HISTORY).join(format!("{stamp}-{n}"));
        }
        std::fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
        for f in files {
            let to = dest.join(f.file_name().unwrap_or_default());
            if f.ends_with(CODEBOOK_V0) || f.ends_with(CARRIED) {
                // Still a run artifact (removed next); the history keeps a copy.
                std::fs::copy(&f, &to).map_err(|e| Error::io(&to, e))?;
            } else {
                std::fs::rename(&f, &to).map_err(|e| Error::io(&to, e))?;
            }
        }
        Ok(())
    }

    fn remove_artifacts(&self, earlier: &Manifest) -> Result<()> {
        let remove = |p: &Path| -> Result<()> {
            match std::fs::remove_file(p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io(p, e)),
            }
        };
        for name in RUN_ARTIFACTS {
            remove(&self.file(name))?;
        }
        for input in &earlier.inputs {
            let rel = if input.source.is_empty() {
                format!("{SOURCES}/{}", source_file_name(&input.document_id))
            } else {
                input.source.clone()
            };
            // Only a path inside sources/ that the manifest names.
            if rel.starts_with(&format!("{SOURCES}/")) && !rel.split('/').any(|c| c == "..") {
                let path = self.file(&rel);
                remove(&path)?;
                let mut dir = path.parent().map(Path::to_path_buf);
                while let Some(d) = dir.filter(|d| d.starts_with(self.file(SOURCES))) {
                    if std::fs::remove_dir(&d).is_err() {
                        break;
                    }
                    dir = d.parent().map(Path::to_path_buf);
                }
            }
        }
        for name in self.entries()? {
            if name.ends_with(".tmp") {
                remove(&self.file(&name))?;
            }
        }
        Ok(())
    }

    /// The path of a document's canonical text, relative to the run directory.
    pub fn source_rel(document_id: &str) -> String {
        format!("{SOURCES}/{}", source_file_name(document_id))
    }

    /// Writes every document's canonical text under `sources/`.
    pub fn write_sources(&self, docs: &[Document]) -> Result<()> {
        for doc in docs {
            crate::files::write_text(&self.file(&Self::source_rel(&doc.id)), &doc.text)?;
        }
        Ok(())
    }

    /// Writes a JSON artifact.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        crate::files::write_json(&self.file(name), value)
    }

    /// Writes a Parquet artifact.
    pub fn write_parquet(&self, name: &str, df: &mut DataFrame) -> Result<()> {
        crate::files::write_parquet(&self.file(name), df)
    }

    /// Writes a text artifact.
    pub fn write_text(&self, name: &str, text: &str) -> Result<()> {
        crate::files::write_text(&self.file(name), text)
    }

    /// The manifest, whatever the run's state.
    pub fn manifest(&self) -> Result<Manifest> {
        let path = self.file(MANIFEST);
        if !path.exists() {
            return Err(self.error("no manifest.json: this is not a terreno run directory"));
        }
        crate::files::read_json(&path)
    }

    /// The manifest of a finished run; an error that says so, for a run that did not finish.
    pub fn finished(&self) -> Result<Manifest> {
        let m = self.manifest()?;
        if m.state != RunState::Finished {
            return Err(self.error(format!(
                "this run did not finish (it stopped after: {}); run the same `terreno run` \
                 command again to finish it",
                if m.stages.is_empty() { "nothing".into() } else { m.stages.join(", ") }
            )));
        }
        Ok(m)
    }

    /// Reads a Parquet artifact of a finished run and checks that its rows are the run's
    /// passages, in order.
    pub fn table(&self, name: &str) -> Result<DataFrame> {
        let manifest = self.finished()?;
        let path = self.file(name);
        if !path.exists() {
            return Err(self.error(format!(
                "no {name} (the run stopped before it, or was run with --no-embed)"
            )));
        }
        let df = crate::files::read_parquet(&path)?;
        if PER_PASSAGE.contains(&name) && df.height() != manifest.counts.passages {
            return Err(self.error(format!(
                "{name} has {} rows but the run has {} passages: the directory mixes two runs; \
                 run it again",
                df.height(),
                manifest.counts.passages
            )));
        }
        Ok(df)
    }

    /// The passages, with `passage_id` checked against the other tables when they are read.
    pub fn passages(&self) -> Result<DataFrame> {
        self.table(PASSAGES)
    }

    /// The passage vectors and cluster labels, in passage order; the ids of the three tables
    /// must agree.
    pub fn vectors(&self) -> Result<(Vec<Vec<f32>>, Vec<i32>)> {
        let ids = string_column(&self.passages()?, "passage_id", &self.file(PASSAGES))?;
        let emb = self.table(EMBEDDINGS)?;
        let clusters = self.table(CLUSTERS)?;
        for (name, df) in [(EMBEDDINGS, &emb), (CLUSTERS, &clusters)] {
            if string_column(df, "passage_id", &self.file(name))? != ids {
                return Err(self.error(format!(
                    "the passages of {name} are not those of {PASSAGES}: the directory mixes \
                     two runs; run it again"
                )));
            }
        }
        let labels: Vec<i32> = clusters.column("cluster")?.i32()?.into_no_null_iter().collect();
        let vectors: Vec<Vec<f32>> = emb
            .column("vector")?
            .list()?
            .amortized_iter()
            .map(|v| {
                v.map(|v| {
                    v.as_ref().f32().map(|s| s.into_no_null_iter().collect()).unwrap_or_default()
                })
                .unwrap_or_default()
            })
            .collect();
        Ok((vectors, labels))
    }

    /// The documents' canonical texts, by document id, as the manifest maps them.
    pub fn texts(&self) -> Result<BTreeMap<String, String>> {
        let manifest = self.finished()?;
        let mut out = BTreeMap::new();
        for input in &manifest.inputs {
            let rel = if input.source.is_empty() {
                Self::source_rel(&input.document_id)
            } else {
                input.source.clone()
            };
            let path = self.file(&rel);
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            out.insert(input.document_id.clone(), text);
        }
        Ok(out)
    }

    /// The codebook versions `codebook-vN.toml`, by N.
    pub fn versions(&self) -> Result<Vec<(u32, PathBuf)>> {
        let mut out = Vec::new();
        if !self.dir.exists() {
            return Ok(out);
        }
        for name in self.entries()? {
            if let Some(n) = name
                .strip_prefix("codebook-v")
                .and_then(|r| r.strip_suffix(".toml"))
                .and_then(|n| n.parse::<u32>().ok())
            {
                out.push((n, self.file(&name)));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether an analyst reviewed this run, or it carries an earlier review.
    pub fn has_review(&self) -> bool {
        self.file(DECISIONS).exists()
            || self.file(CARRIED).exists()
            || self.versions().unwrap_or_default().iter().any(|(n, _)| *n > 0)
    }
}

fn string_column(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<String>> {
    let col =
        df.column(name).map_err(|_| Error::input(path, None, format!("no `{name}` column")))?;
    Ok(col.str()?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
}

/// `path` made absolute and, as far as it exists, canonical (symbolic links resolved).
fn absolute(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = abs.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(n), Some(p)) => {
                rest.push(n);
                existing = p.to_path_buf();
            }
            _ => return abs,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for n in rest.into_iter().rev() {
        out.push(n);
    }
    out
}
