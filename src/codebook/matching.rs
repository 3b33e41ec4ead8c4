//! Constant comparison: candidates and passages against the codebook's codes.
//!
//! Each code is embedded as an e5 query from its path, definitions and examples. Passages (and
//! candidates' centroids) are first centred on the corpus mean: e5 vectors share a large common
//! direction that makes every passage look alike. On the PDPilot interviews (241 coded
//! segments, 91 codes) centring raised top-1 accuracy from 0.20 to 0.30 and top-5 from 0.54 to
//! 0.65. A passage's suggested codes come from its `query: ` embedding, as clustered, not its
//! `passage: ` one: code and passage are then two texts of one kind, compared for what they
//! are about, not a question and the text that answers it. On the same segments, top-1 72 →
//! 83 of 241 (int8: 72 → 79), top-5 157 → 158 (155 → 159); centring the codes as well did not
//! help (81 and 155). A candidate is still matched by its `passage: ` centroid: the
//! `codebook.fit` threshold was set on those similarities (query centroids ranked the
//! sample's codes as well or better, but scored its fits at about 0.1, under the threshold).
//! Similarities are small numbers: about 0 for unrelated, 0.1-0.3 for a fit.
//!
//! A candidate fits its best code when the similarity reaches `codebook.fit` (0.15), or when
//! it leads the next code by `codebook.lead` (0.04): clearly this code and no other, even where
//! every similarity is small. Measured against the development coding (`tests/data/`; each
//! theme mapped to the sample codebook's code for it, or to none; candidates with 5 coded
//! passages or more, half of them of one theme; `TERRENO_BENCH_QUICK=themes cargo bench
//! --bench cluster`), proposals of the theme's code among all proposals, `fit` alone → with
//! the lead: the six coded interviews alone 1 of 1 → 3 of 4; all 67 interviews, seed 7, 3 of
//! 6 → 11 of 15, seed 42, 5 of 10 → 10 of 19 (9 of 17 → 24 of 38 in all). By query centroids
//! the best code was right as often (13, 21, 23 of the candidates against 13, 21, 24) and the
//! proposals no better. On the PDPilot interviews against the team's own codebook (75 close
//! codes) the lead adds no proposal at seeds 7 and 42.

use serde::{Deserialize, Serialize};

/// A code a candidate or passage resembles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeMatch {
    /// The code's id.
    pub code: String,
    /// Its path, `Parent > Child`.
    pub name: String,
    /// Cosine similarity.
    pub similarity: f32,
}

/// What terreno proposes to do with a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proposal {
    /// A new code.
    #[default]
    New,
    /// It fits an existing code of the codebook (its best match is close enough).
    Existing,
    /// An earlier review made it a code (confirmed or assigned).
    Coded,
    /// An earlier review rejected it.
    Rejected,
}

impl Proposal {
    /// A word for the terminal and reports.
    pub fn describe(self) -> &'static str {
        match self {
            Proposal::New => "new code",
            Proposal::Existing => "fits an existing code",
            Proposal::Coded => "coded in an earlier review",
            Proposal::Rejected => "rejected in an earlier review",
        }
    }
}

/// The earlier review decision a candidate matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    /// The earlier run.
    pub run: String,
    /// The candidate there.
    pub candidate: String,
    /// Its label there (the analyst's name where renamed).
    pub label: String,
    /// `rejected`, `confirmed`, `assigned`, `renamed` or `open`.
    pub decision: String,
    /// The reason given, for a rejection.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Cosine similarity of the two centroids.
    pub similarity: f32,
    /// Earlier candidates merged into one with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<String>,
}

pub use crate::vectors::{centre, mean};

/// The `top` most similar of `targets` to `v`, best first, as (index, similarity); ties go to
/// the lower index.
pub fn rank(v: &[f32], targets: &[Vec<f32>], top: usize) -> Vec<(usize, f32)> {
    let mut sims: Vec<(usize, f32)> =
        targets.iter().enumerate().map(|(i, t)| (i, crate::embed::cosine(v, t))).collect();
    sims.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    sims.truncate(top);
    // Kept per passage in large runs: only the room it needs (a million passages' unused
    // capacity for every target was three gigabytes).
    sims.shrink_to_fit();
    sims
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_orders_by_similarity_and_breaks_ties_by_index() {
        let targets = vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![1.0, 0.0], vec![0.6, 0.8]];
        let r = rank(&[1.0, 0.0], &targets, 3);
        assert_eq!(r.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert!((r[2].1 - 0.6).abs() < 1e-6);
    }
}
