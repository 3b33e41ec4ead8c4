//! Cluster: passages grouped by meaning.
//!
//! By default ([`Method::Meaning`]) passages become candidate codes within categories, on units
//! of talk read in their context: see [`meaning`], which says what was measured. The one-level
//! methods remain: passages grouped by k-means (seeded; see [`kmeans`]) on the full unit
//! vectors, with the number of clusters chosen by the best silhouette over a range scaled to the
//! corpus. HDBSCAN (the `hdbscan` crate) is the alternative, on the vectors projected onto their
//! first principal components (`dims`; PCA by subspace iteration from a seeded start), with
//! parameters scaled to the corpus. Measured on SIB-200 (`make bench-cluster`): without UMAP,
//! HDBSCAN finds little density in sentence embeddings (most passages left unassigned, ARI near
//! 0), while k-means with the silhouette's k agrees with the human topics far better. UMAP is
//! not used: no maintained Rust implementation exists, and it would make runs depend on
//! threads.
//!
//! Passages HDBSCAN leaves unassigned are reported (cluster -1); with `attach_outliers` below
//! 1, each is attached to the cluster whose centroid is most similar when that cosine
//! similarity reaches the threshold. With `min_strength` above 0, members less similar than
//! that to their centroid are left unassigned. Between the two the analyst chooses how many
//! passages stay unassigned. `strength` is a passage's cosine similarity to its cluster's
//! centroid (0 for unassigned ones).

pub mod kmeans;
pub mod meaning;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The clustering algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Codes within categories, on units of talk with their context (see [`meaning`]).
    Meaning,
    /// Density-based: finds the number of clusters itself and leaves outliers unassigned.
    Hdbscan,
    /// k-means: every passage assigned; k given or chosen by the silhouette.
    Kmeans,
}

/// How passages are clustered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The algorithm.
    pub method: Method,
    /// Number of clusters: for `meaning` the codes (as `codes`), for `kmeans` the clusters (0:
    /// chosen by the best silhouette between n/100 and √n, within 4..60).
    pub k: usize,
    /// Principal components kept before clustering (0: cluster the full vectors).
    pub dims: usize,
    /// HDBSCAN's smallest cluster (0: scaled to the corpus, n/40 between 5 and 200).
    pub min_cluster_size: usize,
    /// HDBSCAN's `min_samples` (0: a third of the smallest cluster, at least 3).
    pub min_samples: usize,
    /// Attach an unassigned passage to the most similar cluster when the cosine similarity to
    /// its centroid reaches this value (1.0 or more: leave every outlier unassigned).
    pub attach_outliers: f32,
    /// Leave a passage unassigned when its cosine similarity to its cluster's centroid is
    /// below this (0: keep every assignment). The analyst's way to see only the clear members.
    pub min_strength: f32,
    /// `meaning`: categories (0: `1.4·m^¼` for `m` units of talk).
    pub categories: usize,
    /// `meaning`: codes (0: `2·√m`, at most 200).
    pub codes: usize,
    /// `meaning`: content words a unit of talk gathers at least (consecutive passages of one
    /// document are joined until they reach it). 16 by default; see [`meaning`] for what
    /// 8, 16 and 24 measured.
    pub unit_words: usize,
    /// `meaning`: the smallest code, in passages; smaller ones join their nearest code.
    pub min_code: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            method: Method::Meaning,
            k: 0,
            dims: 0,
            min_cluster_size: 0,
            min_samples: 0,
            attach_outliers: 0.80,
            min_strength: 0.0,
            categories: 0,
            codes: 0,
            unit_words: 16,
            min_code: 3,
        }
    }
}

/// The result: one cluster id (or -1) and strength per passage, in passage order.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// Cluster per passage, -1 for unassigned; ids are 0.. in order of decreasing size.
    pub labels: Vec<i32>,
    /// Cosine similarity to the cluster's centroid (0 for unassigned).
    pub strength: Vec<f32>,
    /// Passages HDBSCAN left unassigned before any were attached.
    pub outliers_found: usize,
    /// Of those, attached to a cluster.
    pub outliers_attached: usize,
    /// The parameters used (after scaling to the corpus).
    pub min_cluster_size: usize,
    /// HDBSCAN's `min_samples` used.
    pub min_samples: usize,
    /// The category of each cluster (with `meaning`; otherwise each cluster is its own).
    pub category_of: Vec<i32>,
    /// Passages set apart as not coded (too little to code even in context); their cluster is -1.
    pub not_coded: usize,
    /// Whether each passage is not coded (empty for the one-level methods).
    pub not_coded_mask: Vec<bool>,
}

impl Clustering {
    /// The category of each passage (-1 where its cluster is).
    pub fn categories(&self) -> Vec<i32> {
        self.labels
            .iter()
            .map(|&l| if l >= 0 { self.category_of[l as usize] } else { -1 })
            .collect()
    }

    /// Number of clusters.
    pub fn n_clusters(&self) -> usize {
        self.labels.iter().filter(|&&l| l >= 0).map(|&l| l as usize + 1).max().unwrap_or(0)
    }
}

/// Clusters unit vectors.
pub fn cluster(vectors: &[Vec<f32>], config: &ClusterConfig, seed: u64) -> Result<Clustering> {
    let n = vectors.len();
    if n == 0 {
        return Ok(Clustering {
            labels: vec![],
            strength: vec![],
            outliers_found: 0,
            outliers_attached: 0,
            min_cluster_size: 0,
            min_samples: 0,
            category_of: vec![],
            not_coded: 0,
            not_coded_mask: vec![],
        });
    }
    if config.method == Method::Meaning {
        // Vectors alone: each is an answer of its own.
        let info: Vec<meaning::PassageInfo> = (0..n)
            .map(|_| meaning::PassageInfo {
                document: "",
                speaker: "",
                content_words: 2,
                row: true,
            })
            .collect();
        return cluster_passages(vectors, &info, config, seed);
    }
    let reduced = if config.dims > 0 && config.dims < vectors[0].len() {
        pca(vectors, config.dims, seed)
    } else {
        vectors.to_vec()
    };
    let min_cluster_size =
        if config.min_cluster_size > 0 { config.min_cluster_size } else { (n / 40).clamp(5, 200) };
    let min_samples =
        if config.min_samples > 0 { config.min_samples } else { (min_cluster_size / 3).max(3) };
    let raw: Vec<i32> = if n < 2 * min_cluster_size.max(2) {
        vec![0; n]
    } else {
        match config.method {
            Method::Hdbscan => {
                let params = hdbscan::HdbscanHyperParams::builder()
                    .min_cluster_size(min_cluster_size)
                    .min_samples(min_samples)
                    .build();
                hdbscan::Hdbscan::new(&reduced, params)
                    .cluster()
                    .map_err(|e| Error::Config(format!("clustering failed: {e}")))?
            }
            Method::Kmeans if config.k > 0 => kmeans(&reduced, config.k.min(n), seed),
            Method::Kmeans | Method::Meaning => {
                // k is chosen on an evenly strided sample of at most 4,000 passages, then the
                // final clustering is fitted on all of them.
                let (lo, hi) = k_range(n);
                let step = n.div_ceil(SEARCH_SAMPLE);
                let sample: Vec<Vec<f32>> = reduced.iter().step_by(step).cloned().collect();
                let sample_full: Vec<Vec<f32>> = vectors.iter().step_by(step).cloned().collect();
                let mut best: Option<(f64, usize, Vec<i32>)> = None;
                for k in candidate_ks(lo, hi.min(sample.len() / 3).max(lo)) {
                    let labels = kmeans(&sample, k, seed);
                    let s = silhouette(&sample_full, &labels, 2000);
                    if best.as_ref().is_none_or(|(b, _, _)| s > *b) {
                        best = Some((s, k, labels));
                    }
                }
                match best {
                    Some((_, _, labels)) if step == 1 => labels,
                    Some((_, k, _)) => kmeans(&reduced, k, seed),
                    None => vec![0; n],
                }
            }
        }
    };
    let outliers_found = raw.iter().filter(|&&l| l < 0).count();
    // Renumber by decreasing size (ties by first passage), so ids do not depend on the
    // algorithm's internal order.
    let mut labels = renumber(&raw);
    let k = labels.iter().filter(|&&l| l >= 0).map(|&l| l as usize + 1).max().unwrap_or(0);
    let centroids = centroids(vectors, &labels, k);
    let mut outliers_attached = 0;
    for (i, l) in labels.iter_mut().enumerate() {
        if *l < 0 && config.attach_outliers < 1.0 {
            if let Some((c, sim)) = nearest(&vectors[i], &centroids) {
                if sim >= config.attach_outliers {
                    *l = c as i32;
                    outliers_attached += 1;
                }
            }
        }
    }
    let mut strength: Vec<f32> = labels
        .iter()
        .zip(vectors)
        .map(|(&l, v)| if l >= 0 { crate::embed::cosine(v, &centroids[l as usize]) } else { 0.0 })
        .collect();
    for (l, s) in labels.iter_mut().zip(strength.iter_mut()) {
        if *l >= 0 && *s < config.min_strength {
            *l = -1;
            *s = 0.0;
        }
    }
    let k = labels.iter().map(|&l| l + 1).max().unwrap_or(0).max(0);
    Ok(Clustering {
        labels,
        strength,
        outliers_found,
        outliers_attached,
        min_cluster_size,
        min_samples,
        category_of: (0..k).collect(),
        not_coded: 0,
        not_coded_mask: vec![],
    })
}

/// Clusters passages: with [`Method::Meaning`], codes within categories on units of talk with
/// their context (see [`meaning`]); otherwise as [`cluster`] does, each cluster a category of
/// its own.
pub fn cluster_passages(
    vectors: &[Vec<f32>],
    info: &[meaning::PassageInfo],
    config: &ClusterConfig,
    seed: u64,
) -> Result<Clustering> {
    if config.method != Method::Meaning {
        return cluster(vectors, config, seed);
    }
    let params = meaning::Params {
        categories: config.categories,
        codes: if config.k > 0 { config.k } else { config.codes },
        unit_words: config.unit_words,
        min_code: config.min_code,
    };
    let t = meaning::two_level(vectors, info, &params, seed)?;
    let mut labels = t.codes;
    let mut strength = t.strength;
    for (l, s) in labels.iter_mut().zip(strength.iter_mut()) {
        if *l >= 0 && *s < config.min_strength {
            *l = -1;
            *s = 0.0;
        }
    }
    Ok(Clustering {
        labels,
        strength,
        outliers_found: 0,
        outliers_attached: 0,
        min_cluster_size: config.min_code,
        min_samples: 0,
        category_of: t.category_of,
        not_coded: t.not_coded,
        not_coded_mask: t.not_coded_mask,
    })
}

/// Passages the choice of k looks at, at most.
const SEARCH_SAMPLE: usize = 4000;

/// The range of k tried when k is not given: n/100 to √n, within 4..60 (and below n/3). Open
/// codes are fine-grained, so the range starts where clusters hold about a hundred passages; the
/// silhouette alone prefers a handful of broad themes.
pub fn k_range(n: usize) -> (usize, usize) {
    let hi = ((n as f64).sqrt() as usize).clamp(2, 60).min((n / 3).max(2));
    let lo = (n / 100).clamp(4, 30).min(hi);
    (lo, hi)
}

/// Every k up to 15, then every fifth.
fn candidate_ks(lo: usize, hi: usize) -> Vec<usize> {
    (lo..=hi).filter(|&k| k <= 15 || k % 5 == 0 || k == hi).collect()
}

/// Renumbers cluster ids 0.. by decreasing size (ties: first passage first); -1 stays.
pub fn renumber(raw: &[i32]) -> Vec<i32> {
    let mut stats: std::collections::BTreeMap<i32, (usize, usize)> =
        std::collections::BTreeMap::new();
    for (i, &l) in raw.iter().enumerate() {
        if l >= 0 {
            let e = stats.entry(l).or_insert((0, i));
            e.0 += 1;
        }
    }
    let mut order: Vec<(i32, usize, usize)> =
        stats.into_iter().map(|(l, (n, first))| (l, n, first)).collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    let map: std::collections::BTreeMap<i32, i32> =
        order.iter().enumerate().map(|(new, (old, _, _))| (*old, new as i32)).collect();
    raw.iter().map(|l| map.get(l).copied().unwrap_or(-1)).collect()
}

/// Mean vector (normalised) of each cluster.
pub fn centroids(vectors: &[Vec<f32>], labels: &[i32], k: usize) -> Vec<Vec<f32>> {
    let dim = vectors.first().map_or(0, Vec::len);
    let mut sums = vec![vec![0f32; dim]; k];
    for (v, &l) in vectors.iter().zip(labels) {
        if l >= 0 {
            sums[l as usize].iter_mut().zip(v).for_each(|(s, x)| *s += x);
        }
    }
    sums.iter_mut().for_each(|s| crate::embed::normalize(s));
    sums
}

/// Each cluster's mean minus the corpus mean, normalised. e5 vectors share a large common
/// direction, so raw centroids of different clusters of one corpus have cosines of 0.95-0.98;
/// centred, they fall to about 0 while the same cluster found again on 70% of the passages keeps
/// about 0.96. Used to recognise a cluster across runs.
pub fn centred_centroids(vectors: &[Vec<f32>], labels: &[i32], k: usize) -> Vec<Vec<f32>> {
    let dim = vectors.first().map_or(0, Vec::len);
    let mut mean = vec![0f64; dim];
    for v in vectors {
        mean.iter_mut().zip(v).for_each(|(m, x)| *m += *x as f64);
    }
    let n = vectors.len().max(1) as f64;
    let mut sums = vec![vec![0f64; dim]; k];
    let mut counts = vec![0usize; k];
    for (v, &l) in vectors.iter().zip(labels) {
        if l >= 0 {
            sums[l as usize].iter_mut().zip(v).for_each(|(s, x)| *s += *x as f64);
            counts[l as usize] += 1;
        }
    }
    sums.iter()
        .zip(&counts)
        .map(|(s, &c)| {
            let mut v: Vec<f32> =
                s.iter().zip(&mean).map(|(x, m)| (x / c.max(1) as f64 - m / n) as f32).collect();
            crate::embed::normalize(&mut v);
            v
        })
        .collect()
}

fn nearest(v: &[f32], centroids: &[Vec<f32>]) -> Option<(usize, f32)> {
    centroids
        .iter()
        .enumerate()
        .map(|(c, m)| (c, crate::embed::cosine(v, m)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}

/// Mean silhouette (cosine distance on the full vectors) over at most `sample` passages taken
/// at a fixed stride; unassigned passages and singleton clusters count 0.
pub fn silhouette(vectors: &[Vec<f32>], labels: &[i32], sample: usize) -> f64 {
    use rayon::prelude::*;
    let n = vectors.len();
    let k = labels.iter().map(|&l| l + 1).max().unwrap_or(0).max(0) as usize;
    if k < 2 || n < 3 {
        return 0.0;
    }
    let step = n.div_ceil(sample.max(1)).max(1);
    let idx: Vec<usize> = (0..n).step_by(step).collect();
    let scores: Vec<f64> = idx
        .par_iter()
        .map(|&i| {
            if labels[i] < 0 {
                return 0.0;
            }
            let mut sum = vec![0f64; k];
            let mut count = vec![0usize; k];
            for &j in &idx {
                if j != i && labels[j] >= 0 {
                    let d = 1.0 - crate::embed::cosine(&vectors[i], &vectors[j]) as f64;
                    sum[labels[j] as usize] += d;
                    count[labels[j] as usize] += 1;
                }
            }
            let own = labels[i] as usize;
            if count[own] == 0 {
                return 0.0;
            }
            let a = sum[own] / count[own] as f64;
            let b = (0..k)
                .filter(|&c| c != own && count[c] > 0)
                .map(|c| sum[c] / count[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() {
                return 0.0;
            }
            (b - a) / a.max(b)
        })
        .collect();
    scores.iter().sum::<f64>() / scores.len() as f64
}

/// A small deterministic generator (SplitMix64) for the seeded starts.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Projects the vectors onto their first `k` principal components. Subspace iteration on the
/// covariance matrix from a seeded random start, accumulated in f64 in a fixed order.
pub fn pca(vectors: &[Vec<f32>], k: usize, seed: u64) -> Vec<Vec<f32>> {
    let n = vectors.len();
    let d = vectors[0].len();
    let mut mean = vec![0f64; d];
    for v in vectors {
        mean.iter_mut().zip(v).for_each(|(m, x)| *m += *x as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0f64; d * d];
    for v in vectors {
        let c: Vec<f64> = v.iter().zip(&mean).map(|(x, m)| *x as f64 - m).collect();
        for i in 0..d {
            let ci = c[i];
            let row = &mut cov[i * d..(i + 1) * d];
            for (r, cj) in row.iter_mut().zip(&c) {
                *r += ci * cj;
            }
        }
    }
    let mut rng = SplitMix(seed ^ 0x5eed);
    let mut q: Vec<Vec<f64>> =
        (0..k).map(|_| (0..d).map(|_| rng.uniform() - 0.5).collect()).collect();
    orthonormalize(&mut q);
    for _ in 0..60 {
        let mut z: Vec<Vec<f64>> = q
            .iter()
            .map(|qi| {
                (0..d)
                    .map(|r| cov[r * d..(r + 1) * d].iter().zip(qi).map(|(a, b)| a * b).sum())
                    .collect()
            })
            .collect();
        orthonormalize(&mut z);
        q = z;
    }
    // Fix each component's sign so the largest coordinate is positive.
    for qi in &mut q {
        let big = qi.iter().cloned().fold(0f64, |a, b| if b.abs() > a.abs() { b } else { a });
        if big < 0.0 {
            qi.iter_mut().for_each(|x| *x = -*x);
        }
    }
    vectors
        .iter()
        .map(|v| {
            q.iter()
                .map(|qi| {
                    qi.iter().zip(v).zip(&mean).map(|((a, x), m)| a * (*x as f64 - m)).sum::<f64>()
                        as f32
                })
                .collect()
        })
        .collect()
}

fn orthonormalize(q: &mut [Vec<f64>]) {
    for i in 0..q.len() {
        for j in 0..i {
            let dot: f64 = q[i].iter().zip(&q[j]).map(|(a, b)| a * b).sum();
            let qj = q[j].clone();
            q[i].iter_mut().zip(&qj).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = q[i].iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
        q[i].iter_mut().for_each(|a| *a /= norm);
    }
}

fn kmeans(points: &[Vec<f32>], k: usize, seed: u64) -> Vec<i32> {
    kmeans_runs(points, k, seed, 3)
}

/// Points k-means is fitted on at most: a larger set is fitted on an even sample of this many
/// (every n/FIT_SAMPLE-th point) and then every point is assigned to its nearest centre, so time
/// and memory grow linearly with the corpus.
pub const FIT_SAMPLE: usize = 60_000;

/// k-means (seeded k-means++ starts, see [`kmeans`]), the best of `runs` starts by inertia;
/// fitted on at most [`FIT_SAMPLE`] points.
pub(crate) fn kmeans_runs<P: AsRef<[f32]> + Sync>(
    points: &[P],
    k: usize,
    seed: u64,
    runs: usize,
) -> Vec<i32> {
    on_sample(points, |sample| kmeans::fit(sample, k, seed, runs))
}

/// k-means by the vote of `runs` seeded runs (see [`kmeans::fit_voted`]); fitted on at most
/// [`FIT_SAMPLE`] points.
pub(crate) fn kmeans_voted<P: AsRef<[f32]> + Sync>(
    points: &[P],
    k: usize,
    seed: u64,
    runs: usize,
) -> Vec<i32> {
    on_sample(points, |sample| kmeans::fit_voted(sample, k, seed, runs))
}

/// Deterministic annealing into at most `k` clusters (see [`kmeans::annealed`]), fitted on at
/// most [`FIT_SAMPLE`] points.
pub(crate) fn annealed<P: AsRef<[f32]> + Sync>(points: &[P], k: usize) -> Vec<i32> {
    on_sample(points, |sample| kmeans::annealed(sample, k))
}

/// `fit` on the points, or on an even sample of [`FIT_SAMPLE`] of them with every point then
/// assigned to its nearest centre.
fn on_sample<P: AsRef<[f32]> + Sync>(
    points: &[P],
    fit: impl Fn(&[&[f32]]) -> kmeans::Fit,
) -> Vec<i32> {
    let step = points.len().div_ceil(FIT_SAMPLE).max(1);
    let sample: Vec<&[f32]> = points.iter().step_by(step).map(AsRef::as_ref).collect();
    let fitted = fit(&sample);
    if step == 1 {
        fitted.labels
    } else {
        kmeans::nearest(points, &fitted.centres)
    }
}

/// Points a map draws at most: beyond them, every k-th passage is drawn (k the smallest that
/// keeps them under this), so the report and the review page stay light at any size.
pub const MAP_POINTS: usize = 20_000;

/// The step between passages a map of `n` draws (1: every one).
pub fn map_step(n: usize) -> usize {
    n.div_ceil(MAP_POINTS).max(1)
}

/// The 2-D map: passages projected on the two main directions of the cluster centroids.
pub fn projection(vectors: &[Vec<f32>], labels: &[i32]) -> Vec<(f32, f32)> {
    let k = labels.iter().filter(|&&l| l >= 0).map(|&l| l as usize + 1).max().unwrap_or(0);
    let centroids = crate::cluster::centred_centroids(vectors, labels, k);
    let mean = crate::codebook::matching::mean(vectors);
    let dirs = principal_axes(&centroids, 2);
    vectors
        .iter()
        .map(|v| {
            let c: Vec<f32> = v.iter().zip(&mean).map(|(a, m)| a - m).collect();
            let p = |d: &Vec<f32>| d.iter().zip(&c).map(|(a, b)| a * b).sum::<f32>();
            (dirs.first().map_or(0.0, p), dirs.get(1).map_or(0.0, p))
        })
        .collect()
}

/// The first `n` principal directions of some vectors (power iteration with deflation).
fn principal_axes(points: &[Vec<f32>], n: usize) -> Vec<Vec<f32>> {
    let dim = points.first().map_or(0, Vec::len);
    if points.len() < 2 || dim == 0 {
        return Vec::new();
    }
    let mean = crate::codebook::matching::mean(points);
    let centred: Vec<Vec<f32>> =
        points.iter().map(|p| p.iter().zip(&mean).map(|(a, b)| a - b).collect()).collect();
    let mut axes: Vec<Vec<f32>> = Vec::new();
    for a in 0..n {
        let mut v: Vec<f32> =
            (0..dim).map(|i| (((i * 7919 + a * 104729) % 1000) as f32 / 1000.0) - 0.5).collect();
        for _ in 0..100 {
            let mut next = vec![0f32; dim];
            for p in &centred {
                let dot: f32 = p.iter().zip(&v).map(|(x, y)| x * y).sum();
                next.iter_mut().zip(p).for_each(|(n, x)| *n += dot * x);
            }
            for prev in &axes {
                let dot: f32 = next.iter().zip(prev).map(|(x, y)| x * y).sum();
                next.iter_mut().zip(prev).for_each(|(n, p)| *n -= dot * p);
            }
            crate::embed::normalize(&mut next);
            v = next;
        }
        axes.push(v);
    }
    axes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_set_is_fitted_on_a_sample_and_every_point_assigned() {
        // Three blobs, more points than k-means is fitted on.
        let n = FIT_SAMPLE + 7_001;
        let mut rng = SplitMix(11);
        let points: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                let mut v = vec![0f32; 4];
                v[i % 3] = 1.0;
                v.iter_mut().for_each(|x| *x += 0.05 * (rng.uniform() as f32 - 0.5));
                v
            })
            .collect();
        let labels = kmeans_runs(&points, 3, 5, 2);
        assert_eq!(labels.len(), n);
        for blob in 0..3 {
            let first = labels[blob];
            assert!((blob..n).step_by(3).all(|i| labels[i] == first), "blob {blob} split");
        }
        assert_eq!(labels.iter().collect::<std::collections::BTreeSet<_>>().len(), 3);
        assert_eq!(labels, kmeans_runs(&points, 3, 5, 2));
    }

    #[test]
    fn a_map_draws_every_passage_up_to_its_limit_then_a_regular_share() {
        assert_eq!(map_step(19_782), 1);
        assert_eq!(map_step(MAP_POINTS), 1);
        assert_eq!(map_step(MAP_POINTS + 1), 2);
        assert_eq!(map_step(1_000_000), 50);
        assert!(1_000_000usize.div_ceil(map_step(1_000_000)) <= MAP_POINTS);
    }

    fn blobs() -> Vec<Vec<f32>> {
        let mut rng = SplitMix(7);
        let centres = [[1.0f32, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]];
        let mut out = Vec::new();
        for i in 0..90 {
            let c = centres[i % 3];
            let mut v: Vec<f32> =
                c.iter().map(|x| x + (rng.uniform() as f32 - 0.5) * 0.2).collect();
            crate::embed::normalize(&mut v);
            out.push(v);
        }
        out
    }

    #[test]
    fn three_blobs_three_clusters_both_ways() {
        let v = blobs();
        for method in [Method::Hdbscan, Method::Kmeans] {
            let cfg = ClusterConfig { method, k: 3, dims: 0, ..ClusterConfig::default() };
            let c = cluster(&v, &cfg, 1).unwrap();
            assert_eq!(c.n_clusters(), 3, "{method:?}");
            for i in 0..87 {
                assert_eq!(c.labels[i], c.labels[i + 3], "{method:?} {i}");
            }
            assert!(c.strength.iter().all(|&s| s > 0.8));
        }
    }

    #[test]
    fn min_strength_leaves_weak_members_unassigned() {
        let v = blobs();
        let all = cluster(&v, &ClusterConfig { k: 3, ..ClusterConfig::default() }, 1).unwrap();
        let weakest = all.strength.iter().cloned().fold(f32::INFINITY, f32::min);
        let cfg = ClusterConfig { k: 3, min_strength: weakest + 1e-4, ..ClusterConfig::default() };
        let some = cluster(&v, &cfg, 1).unwrap();
        let unassigned = some.labels.iter().filter(|&&l| l < 0).count();
        assert!((1..90).contains(&unassigned));
        assert!(some.labels.iter().zip(&some.strength).all(|(&l, &s)| (l < 0) == (s == 0.0)));
    }

    #[test]
    fn pca_finds_the_spread_direction() {
        let v: Vec<Vec<f32>> = (0..50).map(|i| vec![i as f32, 0.5 * i as f32, 1.0]).collect();
        let p = pca(&v, 1, 3);
        assert!(p.windows(2).all(|w| w[1][0] > w[0][0]));
        assert_eq!(p, pca(&v, 1, 3));
    }
}
