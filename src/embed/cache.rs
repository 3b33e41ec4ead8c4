//! A cache of embeddings keyed by model, prefix and text, so that a re-run, or a run that adds
//! three interviews to a study, embeds only what is new. One Parquet file per model and prefix
//! in the cache directory (`key`, `vector`), rewritten atomically when it grows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::{Embedder, Prefix};
use crate::error::Result;

/// Embeddings by text hash, for one model and one prefix.
pub struct Cache {
    path: Option<PathBuf>,
    vectors: HashMap<[u8; 16], Vec<f32>>,
    dirty: bool,
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

impl Cache {
    /// A cache that lives in memory only.
    pub fn in_memory() -> Cache {
        Cache { path: None, vectors: HashMap::new(), dirty: false }
    }

    /// Opens (or starts) the cache file for `embedder` and `prefix` in `dir`.
    pub fn open(dir: &Path, embedder: &dyn Embedder, prefix: Prefix) -> Result<Cache> {
        let model_key = crate::ingest::hex(&key(&embedder.id(), prefix, "")[..8]);
        let path = dir.join(format!("embeddings-{model_key}.parquet"));
        let mut vectors = HashMap::new();
        if path.exists() {
            let file = std::fs::File::open(&path).map_err(|e| crate::Error::io(&path, e))?;
            let df = ParquetReader::new(file).finish()?;
            let keys = df.column("key")?.binary()?.clone();
            let vecs = df.column("vector")?.list()?.clone();
            for (k, v) in keys.iter().zip(vecs.amortized_iter()) {
                if let (Some(k), Some(v)) = (k, v) {
                    if let (Ok(k), Ok(v)) = (<[u8; 16]>::try_from(k), v.as_ref().f32()) {
                        vectors.insert(k, v.into_no_null_iter().collect());
                    }
                }
            }
        }
        Ok(Cache { path: Some(path), vectors, dirty: false })
    }

    /// Number of cached vectors.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Embeds `texts` with `embedder`, taking what the cache has and embedding the rest in
    /// chunks of `chunk` (calling `progress` with how many were done); returns the vectors in
    /// input order and how many of them the cache did not have.
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
        let mut saved = std::time::Instant::now();
        for part in missing.chunks(chunk.max(1)) {
            let batch: Vec<&str> = part.iter().map(|&i| texts[i]).collect();
            let vecs = embedder.embed(&batch, prefix)?;
            for (&i, v) in part.iter().zip(vecs) {
                self.vectors.insert(keys[i], v);
            }
            self.dirty = true;
            progress(part.iter().map(|&i| copies[&keys[i]]).sum());
            // An overnight run that stops keeps what it embedded: save every few minutes.
            if saved.elapsed() > std::time::Duration::from_secs(120) {
                self.save()?;
                saved = std::time::Instant::now();
            }
        }
        let out = keys.iter().map(|k| self.vectors[k].clone()).collect();
        Ok((out, fresh))
    }

    /// Writes the cache file if it changed.
    pub fn save(&mut self) -> Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
        }
        let mut entries: Vec<(&[u8; 16], &Vec<f32>)> = self.vectors.iter().collect();
        entries.sort_by_key(|(k, _)| **k);
        let keys: Vec<&[u8]> = entries.iter().map(|(k, _)| &k[..]).collect();
        let mut df = DataFrame::new(
            entries.len(),
            vec![
                Column::new("key".into(), keys),
                vector_column("vector", entries.iter().map(|(_, v)| v.as_slice()))?,
            ],
        )?;
        crate::files::write_parquet(path, &mut df)?;
        self.dirty = false;
        Ok(())
    }
}

/// A `list[f32]` column from vectors.
pub fn vector_column<'a>(name: &str, vectors: impl Iterator<Item = &'a [f32]>) -> Result<Column> {
    let series: Vec<Series> = vectors.map(|v| Series::new("".into(), v)).collect();
    Ok(Column::new(name.into(), series))
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
        cache.save().unwrap();
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
}
