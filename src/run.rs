//! The run directory: its manifest, its tables and the canonical sources, all written
//! atomically (a temporary file renamed into place), so a run that stops half-way leaves every
//! earlier artifact whole.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
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
}

/// What clustering found, in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// Clusters (candidate codes).
    pub clusters: usize,
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
    /// Warnings.
    pub warnings: usize,
    /// Passages embedded in this run.
    pub embedded_new: usize,
    /// Passages whose vectors came from the cache.
    pub embedded_cached: usize,
}

/// Prepares the run directory: refuses a non-empty one unless `force`.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.next().is_some();
        if non_empty && !force {
            return Err(Error::Run {
                path: dir.to_path_buf(),
                message: "the run directory exists and is not empty; pass --force to overwrite \
                          it, or choose another --out"
                    .into(),
            });
        }
    }
    std::fs::create_dir_all(dir.join("sources")).map_err(|e| Error::io(dir, e))
}

/// Writes `path` atomically: into a temporary file beside it, then renamed over it.
pub fn write_atomic(path: &Path, f: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    let tmp = tmp_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f(&mut file)?;
        file.flush().map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Writes a JSON artifact atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |f| {
        serde_json::to_writer_pretty(&mut *f, value)?;
        f.write_all(b"\n").map_err(|e| Error::io(path, e))
    })
}

/// Writes a table as Parquet atomically.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    write_atomic(path, |f| {
        ParquetWriter::new(f).with_compression(ParquetCompression::Zstd(None)).finish(df)?;
        Ok(())
    })
}

/// The file name of a document's canonical text under `sources/`.
pub fn source_file_name(document_id: &str) -> String {
    format!("{}.txt", document_id.replace(['/', '\\'], "_"))
}

/// Writes every document's canonical text to `sources/`.
pub fn write_sources(dir: &Path, docs: &[Document]) -> Result<()> {
    for doc in docs {
        let path = dir.join("sources").join(source_file_name(&doc.id));
        write_atomic(&path, |f| f.write_all(doc.text.as_bytes()).map_err(|e| Error::io(&path, e)))?;
    }
    Ok(())
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
