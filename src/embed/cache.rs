//! A cache of embeddings keyed by model, prefix and text, so that a re-run, a run that adds
//! three interviews to a study, or a run killed in the night and started again embeds only what
//! is new.
//!
//! One folder per model and prefix in the cache directory (`embeddings-<key>/`), holding
//! append-only *shards* (`*.vectors`): each process that embeds something new writes a shard of
//! its own, holds an OS lock on it while it runs, and appends every chunk of vectors as soon as
//! it is embedded (flushed to disk), so a run killed at any moment loses at most the chunk in
//! hand (seconds of work), and two runs sharing the cache at once both keep every vector. A
//! shard is a header (`TVEC`, version, dimension) and fixed-size records (16-byte key, the
//! vector as little-endian f32, a CRC-32 of both): on open, a record cut short at the end (a
//! writer killed mid-write, or one still writing) is ignored, a record whose checksum fails is
//! skipped with a warning, and a file that is not a shard is set aside (`.damaged`) with a
//! warning: a damaged cache is never fatal. When shards pile up (more than
//! [`COMPACT_AFTER`]), the ones no live process holds are merged into one.
//!
//! Measured against the alternatives (append-only shards were chosen): rewriting one Parquet
//! file per save (the earlier design) cost a full rewrite of the cache per save and lost
//! concurrent writers' vectors; an embedded store (SQLite, redb) would add a dependency whose
//! file locking serialises the two writers, for a workload that only ever appends.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::{Embedder, Prefix};
use crate::error::{Error, Result};

/// Shards in a folder beyond which the finished ones are merged into one.
pub const COMPACT_AFTER: usize = 16;

const MAGIC: &[u8; 4] = b"TVEC";
const VERSION: u32 = 1;
const HEADER: usize = 12;

/// Embeddings by text hash, for one model and one prefix.
pub struct Cache {
    /// The folder of shards; `None` for a cache in memory only.
    dir: Option<PathBuf>,
    vectors: HashMap<[u8; 16], Vec<f32>>,
    /// This process's shard, opened when there is something new to write.
    writer: Option<Shard>,
    /// What the analyst should know (damaged files set aside, a cache that cannot be written).
    pub warnings: Vec<String>,
}

/// A shard this process appends to, locked for as long as it is open.
struct Shard {
    path: PathBuf,
    file: std::fs::File,
    dim: usize,
}

/// The cache key of a text: the first 16 bytes of sha256 over model id, prefix and text.
pub fn key(model: &str, prefix: Prefix, text: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(model.as_bytes());
    h.update([0]);
    h.update(prefix.as_str().as_bytes());
    h.update(text.as_bytes());
    h.finalize()[..16].try_into().expect("16 bytes")
}

fn record_len(dim: usize) -> usize {
    16 + 4 * dim + 4
}

fn crc(key: &[u8], data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(key);
    h.update(data);
    h.finalize()
}

/// What reading one shard gave.
struct ShardRead {
    records: usize,
    damaged: usize,
    not_a_shard: bool,
}

/// Reads the records of one shard into `into`.
fn read_shard(path: &Path, into: &mut HashMap<[u8; 16], Vec<f32>>) -> Result<ShardRead> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    let mut out = ShardRead { records: 0, damaged: 0, not_a_shard: false };
    if bytes.len() < HEADER {
        // A shard whose header is not written yet is a writer that just started.
        out.not_a_shard = !MAGIC.starts_with(&bytes[..bytes.len().min(4)]);
        return Ok(out);
    }
    let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let dim = word(8) as usize;
    if &bytes[..4] != MAGIC || word(4) != VERSION || dim == 0 || dim > 1 << 16 {
        out.not_a_shard = true;
        return Ok(out);
    }
    let len = record_len(dim);
    // A record cut short at the end is a writer stopped (or still writing): not damage.
    for rec in bytes[HEADER..].chunks_exact(len) {
        let (k, rest) = rec.split_at(16);
        let (data, sum) = rest.split_at(4 * dim);
        if crc(k, data) != u32::from_le_bytes(sum.try_into().expect("4 bytes")) {
            out.damaged += 1;
            continue;
        }
        let v =
            data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4"))).collect();
        into.insert(k.try_into().expect("16 bytes"), v);
        out.records += 1;
    }
    Ok(out)
}

/// Reads a cache file of the earlier design (one Parquet file, `key` and `vector`).
fn read_legacy(path: &Path, into: &mut HashMap<[u8; 16], Vec<f32>>) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let bad = |e: PolarsError| Error::input(path, None, format!("not a readable cache file: {e}"));
    let df = crate::files::guarded(path, || ParquetReader::new(file).finish().map_err(bad))?;
    let keys = df.column("key").and_then(|c| Ok(c.binary()?.clone())).map_err(bad)?;
    let vecs = df.column("vector").and_then(|c| Ok(c.list()?.clone())).map_err(bad)?;
    for (k, v) in keys.iter().zip(vecs.amortized_iter()) {
        if let (Some(k), Some(v)) = (k, v) {
            if let (Ok(k), Ok(v)) = (<[u8; 16]>::try_from(k), v.as_ref().f32()) {
                into.insert(k, v.into_no_null_iter().collect());
            }
        }
    }
    Ok(())
}

/// Moves a damaged file out of the way, keeping it for inspection.
fn set_aside(path: &Path) -> String {
    let mut to = path.as_os_str().to_os_string();
    to.push(".damaged");
    match std::fs::rename(path, &to) {
        Ok(()) => format!("set aside as {}", Path::new(&to).display()),
        Err(e) => format!("could not be set aside ({e})"),
    }
}

fn unique_name(dir: &Path, what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    dir.join(format!("{what}-{}-{nanos}.vectors", std::process::id()))
}

impl Cache {
    /// A cache that lives in memory only.
    pub fn in_memory() -> Cache {
        Cache { dir: None, vectors: HashMap::new(), writer: None, warnings: Vec::new() }
    }

    /// The folder of `embedder`'s vectors with `prefix` in the cache directory `dir`.
    pub fn folder(dir: &Path, embedder: &dyn Embedder, prefix: Prefix) -> PathBuf {
        let model_key = crate::ingest::hex(&key(&embedder.id(), prefix, "")[..8]);
        dir.join(format!("embeddings-{model_key}"))
    }

    /// Opens the cache of `embedder` and `prefix` in `dir`: every shard there (and a cache file
    /// of the earlier design), damaged ones set aside with a warning.
    pub fn open(dir: &Path, embedder: &dyn Embedder, prefix: Prefix) -> Result<Cache> {
        let folder = Self::folder(dir, embedder, prefix);
        let mut cache = Cache { dir: Some(folder.clone()), ..Cache::in_memory() };
        let legacy = folder.with_extension("parquet");
        if legacy.exists() {
            if let Err(e) = read_legacy(&legacy, &mut cache.vectors) {
                cache.warnings.push(format!("{e}; {}", set_aside(&legacy)));
            }
        }
        let shards = cache.shards();
        for path in &shards {
            match read_shard(path, &mut cache.vectors) {
                Ok(r) if r.not_a_shard => cache.warnings.push(format!(
                    "{}: not an embedding cache shard; {}",
                    path.display(),
                    set_aside(path)
                )),
                Ok(r) if r.damaged > 0 => cache.warnings.push(format!(
                    "{}: {} damaged vectors skipped (they will be embedded again)",
                    path.display(),
                    r.damaged
                )),
                Ok(_) => {}
                // Gone since listed (merged by another process): its vectors are elsewhere.
                Err(_) if !path.exists() => {}
                Err(e) => cache.warnings.push(format!("{e}; the cache file was skipped")),
            }
        }
        if shards.len() > COMPACT_AFTER {
            cache.compact(&shards);
        }
        Ok(cache)
    }

    /// The shard files of the folder, sorted.
    fn shards(&self) -> Vec<PathBuf> {
        let Some(dir) = &self.dir else { return Vec::new() };
        let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "vectors"))
            .collect();
        out.sort();
        out
    }

    /// Merges the shards no live process holds into one (written whole, then renamed), then
    /// removes them. Best effort: the cache stays right whatever fails.
    fn compact(&mut self, shards: &[PathBuf]) {
        let Some(dir) = self.dir.clone() else { return };
        let mut held = Vec::new();
        let mut merged = HashMap::new();
        for path in shards {
            let Ok(file) = std::fs::OpenOptions::new().read(true).write(true).open(path) else {
                continue;
            };
            // A live writer holds its shard's lock; those are left alone.
            if file.try_lock().is_ok()
                && read_shard(path, &mut merged).is_ok_and(|r| !r.not_a_shard)
            {
                held.push((path.clone(), file));
            }
        }
        let Some(dim) = merged.values().next().map(Vec::len) else { return };
        if held.len() < 2 {
            return;
        }
        let to = unique_name(&dir, "merged");
        let tmp = to.with_extension("partial");
        let written = (|| -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            f.write_all(&header(dim))?;
            let mut keys: Vec<&[u8; 16]> = merged.keys().collect();
            keys.sort();
            for k in keys {
                f.write_all(&record(k, &merged[k]))?;
            }
            f.into_inner()?.sync_all()?;
            std::fs::rename(&tmp, &to)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        for (path, _lock) in held {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Number of cached vectors.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Opens this process's shard, locked; a cache that cannot be written is a warning (the run
    /// goes on, its vectors kept in memory only), found before anything is embedded.
    fn writer(&mut self, dim: usize) -> Option<&mut Shard> {
        if self.writer.is_none() {
            let dir = self.dir.clone()?;
            let path = unique_name(&dir, "run");
            let opened = (|| -> std::io::Result<Shard> {
                std::fs::create_dir_all(&dir)?;
                let mut file =
                    std::fs::File::options().create_new(true).append(true).open(&path)?;
                file.try_lock().map_err(std::io::Error::other)?;
                file.write_all(&header(dim))?;
                Ok(Shard { path: path.clone(), file, dim })
            })();
            match opened {
                Ok(shard) => self.writer = Some(shard),
                Err(e) => {
                    self.warnings.push(format!(
                        "{}: the embedding cache cannot be written ({e}); this run's vectors are \
                         not kept for the next one",
                        path.display()
                    ));
                    self.dir = None;
                    return None;
                }
            }
        }
        self.writer.as_mut()
    }

    /// Embeds `texts` with `embedder`, taking what the cache has and embedding the rest in
    /// chunks of `chunk` (calling `progress` with how many were done); every chunk is appended
    /// to the cache, on disk, as soon as it is embedded. Returns the vectors in input order and
    /// how many of them the cache did not have.
    pub fn embed(
        &mut self,
        embedder: &dyn Embedder,
        texts: &[&str],
        prefix: Prefix,
        chunk: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<(Vec<Vec<f32>>, usize)> {
        let id = embedder.id();
        let keys: Vec<[u8; 16]> = texts.iter().map(|t| key(&id, prefix, t)).collect();
        // Passages the cache could not serve (duplicates of a new text count too).
        let mut copies: HashMap<[u8; 16], usize> = HashMap::new();
        for k in keys.iter().filter(|k| !self.vectors.contains_key(*k)) {
            *copies.entry(*k).or_default() += 1;
        }
        let fresh: usize = copies.values().sum();
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            if !self.vectors.contains_key(k) && seen.insert(*k) {
                missing.push(i);
            }
        }
        progress(texts.len() - fresh);
        if !missing.is_empty() {
            self.writer(embedder.dim());
        }
        for part in missing.chunks(chunk.max(1)) {
            let batch: Vec<&str> = part.iter().map(|&i| texts[i]).collect();
            let vecs = embedder.embed(&batch, prefix)?;
            let mut bytes = Vec::new();
            for (&i, v) in part.iter().zip(vecs) {
                bytes.extend(record(&keys[i], &v));
                self.vectors.insert(keys[i], v);
            }
            self.append(&bytes)?;
            progress(part.iter().map(|&i| copies[&keys[i]]).sum());
        }
        let out = keys.iter().map(|k| self.vectors[k].clone()).collect();
        Ok((out, fresh))
    }

    /// Appends records to this process's shard and flushes them to disk.
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(w) = self.writer.as_mut() else { return Ok(()) };
        debug_assert_eq!(bytes.len() % record_len(w.dim), 0);
        w.file.write_all(bytes).and_then(|()| w.file.sync_data()).map_err(|e| Error::io(&w.path, e))
    }
}

fn header(dim: usize) -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend(VERSION.to_le_bytes());
    h.extend((dim as u32).to_le_bytes());
    h
}

fn record(key: &[u8; 16], v: &[f32]) -> Vec<u8> {
    let mut r = Vec::with_capacity(record_len(v.len()));
    r.extend_from_slice(key);
    for x in v {
        r.extend(x.to_le_bytes());
    }
    let sum = crc(key, &r[16..]);
    r.extend(sum.to_le_bytes());
    r
}

/// A `list[f32]` column from vectors.
pub fn vector_column<'a>(name: &str, vectors: impl Iterator<Item = &'a [f32]>) -> Result<Column> {
    // One buffer of values and one of offsets (a Series per vector took a few hundred bytes
    // more each, and a million of them gigabytes).
    let (rows, _) = vectors.size_hint();
    let mut builder =
        ListPrimitiveChunkedBuilder::<Float32Type>::new(name.into(), rows, 0, DataType::Float32);
    for v in vectors {
        builder.append_slice(v);
    }
    Ok(builder.finish().into_column())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::TinyEmbedder;
    use std::sync::atomic::Ordering;

    #[test]
    fn hits_on_a_second_run_and_misses_changed_text() {
        let dir = tempfile::tempdir().unwrap();
        let tiny = TinyEmbedder::default();
        let texts = ["uno due tre", "quattro cinque", "sei sette otto nove"];
        let mut cache = Cache::open(dir.path(), &tiny, Prefix::Passage).unwrap();
        let (first, new) = cache.embed(&tiny, &texts, Prefix::Passage, 2, |_| {}).unwrap();
        assert_eq!((new, tiny.calls.load(Ordering::Relaxed)), (3, 3));
        let mut again = Cache::open(dir.path(), &tiny, Prefix::Passage).unwrap();
        assert_eq!(again.len(), 3);
        let (second, new) = again.embed(&tiny, &texts, Prefix::Passage, 2, |_| {}).unwrap();
        assert_eq!((new, tiny.calls.load(Ordering::Relaxed)), (0, 3));
        assert_eq!(first, second);
        let changed = ["uno due tre", "quattro cinque sei", "sei sette otto nove"];
        let (_, new) = again.embed(&tiny, &changed, Prefix::Passage, 2, |_| {}).unwrap();
        assert_eq!((new, tiny.calls.load(Ordering::Relaxed)), (1, 4));
        // The query prefix is another key.
        let (_, new) = again.embed(&tiny, &texts[..1], Prefix::Query, 2, |_| {}).unwrap();
        assert_eq!(new, 1);
    }

    /// The one shard file of a cache folder.
    fn only_shard(dir: &Path) -> PathBuf {
        let shards: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "vectors"))
            .collect();
        assert_eq!(shards.len(), 1, "{shards:?}");
        shards[0].clone()
    }

    #[test]
    fn every_chunk_is_on_disk_at_once_and_damage_costs_only_the_damaged_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let tiny = TinyEmbedder::default();
        let texts: Vec<String> = (0..10).map(|i| format!("testo numero {i}")).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut cache = Cache::open(dir.path(), &tiny, Prefix::Passage).unwrap();
        let mut on_disk = Vec::new();
        let folder = Cache::folder(dir.path(), &tiny, Prefix::Passage);
        cache
            .embed(&tiny, &texts, Prefix::Passage, 3, |_| {
                // What another process would read at this moment.
                on_disk.push(Cache::open(dir.path(), &tiny, Prefix::Passage).unwrap().len());
            })
            .unwrap();
        assert_eq!(on_disk, [0, 3, 6, 9, 10]);
        let shard = only_shard(&folder);
        let len = record_len(tiny.dim());
        let mut bytes = std::fs::read(&shard).unwrap();
        assert_eq!(bytes.len(), HEADER + 10 * len);
        drop(cache);
        // A flipped bit in the 4th record, and half a record at the end (a writer killed).
        bytes[HEADER + 3 * len + 20] ^= 1;
        bytes.extend_from_slice(&record(&[7; 16], &vec![0.5; tiny.dim()])[..len / 2]);
        std::fs::write(&shard, &bytes).unwrap();
        let again = Cache::open(dir.path(), &tiny, Prefix::Passage).unwrap();
        assert_eq!(again.len(), 9);
        assert_eq!(again.warnings.len(), 1, "{:?}", again.warnings);
        assert!(again.warnings[0].contains("1 damaged vectors skipped"), "{:?}", again.warnings);
        // Not a shard at all: set aside, never fatal.
        std::fs::write(&shard, b"garbage that is no cache").unwrap();
        let third = Cache::open(dir.path(), &tiny, Prefix::Passage).unwrap();
        assert_eq!(third.len(), 0);
        assert!(third.warnings[0].contains("not an embedding cache shard; set aside"));
        assert!(!shard.exists() && shard.with_extension("vectors.damaged").exists());
    }

    #[test]
    fn a_truncated_cache_of_the_earlier_design_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let tiny = TinyEmbedder::default();
        let legacy = Cache::folder(dir.path(), &tiny, Prefix::Passage).with_extension("parquet");
        std::fs::write(&legacy, b"PAR1 and then nothing").unwrap();
        let cache = Cache::open(dir.path(), &tiny, Prefix::Passage).unwrap();
        assert_eq!(cache.len(), 0);
        let w = &cache.warnings[0];
        assert!(w.contains(&legacy.display().to_string()) && w.contains("set aside"), "{w}");
    }

    #[test]
    fn two_writers_at_once_keep_every_vector_and_finished_shards_are_merged() {
        let dir = tempfile::tempdir().unwrap();
        let tiny = TinyEmbedder::default();
        let all: Vec<String> = (0..40).map(|i| format!("frase {i}")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut a = Cache::open(dir.path(), &tiny, Prefix::Query).unwrap();
        let mut b = Cache::open(dir.path(), &tiny, Prefix::Query).unwrap();
        // Interleaved chunks of two runs sharing the cache.
        for i in 0..4 {
            a.embed(&tiny, &all[i * 5..i * 5 + 5], Prefix::Query, 2, |_| {}).unwrap();
            b.embed(&tiny, &all[20 + i * 5..25 + i * 5], Prefix::Query, 2, |_| {}).unwrap();
        }
        assert_eq!(Cache::open(dir.path(), &tiny, Prefix::Query).unwrap().len(), 40);
        drop((a, b));
        // Many finished runs: merged into one shard on open, nothing lost.
        for i in 0..COMPACT_AFTER {
            let mut c = Cache::open(dir.path(), &tiny, Prefix::Query).unwrap();
            c.embed(&tiny, &[format!("altra {i}").as_str()], Prefix::Query, 2, |_| {}).unwrap();
        }
        let folder = Cache::folder(dir.path(), &tiny, Prefix::Query);
        let merged = Cache::open(dir.path(), &tiny, Prefix::Query).unwrap();
        assert_eq!(merged.len(), 40 + COMPACT_AFTER);
        // The 17 shards were merged when the last run opened the cache; that run wrote its own.
        let names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("merged-")), "{names:?}");
    }

    #[test]
    fn a_cache_that_cannot_be_written_is_a_warning_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, "x").unwrap();
        let tiny = TinyEmbedder::default();
        let mut cache = Cache::open(&file, &tiny, Prefix::Passage).unwrap();
        let (v, new) = cache.embed(&tiny, &["uno", "due"], Prefix::Passage, 1, |_| {}).unwrap();
        assert_eq!((v.len(), new), (2, 2));
        assert!(cache.warnings[0].contains("the embedding cache cannot be written"));
    }
}
