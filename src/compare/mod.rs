//! Compare: the run's clusters against the coding the team did by hand.
//!
//! Coded segments are laid onto passages by character overlap (a passage carries a code when
//! the overlap covers half of the passage or half of the segment; it can carry several). The
//! comparison runs over the passages that carry at least one manual code, at the top level of
//! the code hierarchy or at the leaves:
//! - the partition view: each passage's main code (largest overlap) against its cluster, with
//!   unassigned passages counted as a group of their own and left out;
//! - per code: the cluster that best matches it (precision, recall, F1), then a one-to-one
//!   mapping of clusters to codes (Hungarian assignment on the contingency table), and the
//!   agreement of "has the code" with "is in the mapped cluster": percent, Cohen's kappa,
//!   Krippendorff's alpha and Gwet's AC1 with bootstrap intervals, per code and overall;
//! - the contingency table of codes × clusters.

pub mod metrics;
pub mod reliability;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::manual::{at_level, CodedSegment, Level, ManualCoding, Unplaced};
use metrics::Agreement;
use reliability::WithIntervals;

/// A passage as the comparison sees it.
#[derive(Debug, Clone)]
pub struct PassageSpan {
    /// `doc:n`.
    pub id: String,
    /// Its document.
    pub document: String,
    /// Code-point start.
    pub start: usize,
    /// End, exclusive.
    pub end: usize,
    /// Its cluster (-1 unassigned).
    pub cluster: i32,
}

/// Partition metrics plus purity.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Partition {
    /// ARI, NMI, homogeneity, completeness, V-measure.
    #[serde(flatten)]
    pub agreement: Agreement,
    /// Share of passages in their cluster's most common code.
    pub purity: f64,
    /// Passages compared.
    pub passages: usize,
}

/// One code's agreement with the clusters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeAgreement {
    /// The code (at the level compared).
    pub code: String,
    /// Passages carrying it.
    pub passages: usize,
    /// The cluster with the best F1 for it.
    pub best_cluster: Option<String>,
    /// Share of that cluster's compared passages that carry the code.
    pub precision: f64,
    /// Share of the code's passages in that cluster.
    pub recall: f64,
    /// Harmonic mean.
    pub f1: f64,
    /// The cluster the one-to-one mapping gives it.
    pub mapped_cluster: Option<String>,
    /// "Has the code" against "is in the mapped cluster".
    pub reliability: WithIntervals,
}

/// The comparison at one level of the code hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelComparison {
    /// Top or leaf.
    pub level: Level,
    /// Distinct codes.
    pub codes: usize,
    /// Partition view, unassigned passages as a group of their own.
    pub partition_unassigned_as_group: Partition,
    /// Partition view, unassigned passages left out.
    pub partition_unassigned_left_out: Partition,
    /// Per code, most passages first.
    pub per_code: Vec<CodeAgreement>,
    /// Main code against the mapped code of the passage's cluster.
    pub overall: WithIntervals,
    /// Row labels of the contingency table (codes).
    pub table_codes: Vec<String>,
    /// Column labels (candidate ids, then `unassigned`).
    pub table_clusters: Vec<String>,
    /// Passages with the code (row) in the cluster (column); a passage counts once per code.
    pub table: Vec<Vec<usize>>,
}

/// `comparison.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// The manual coding's file.
    pub manual: String,
    /// Segments in it.
    pub segments: usize,
    /// Placed on the transcripts.
    pub placed: usize,
    /// Of those, by fuzzy matching.
    pub placed_fuzzy: usize,
    /// Not placed, with why.
    pub unplaced: Vec<Unplaced>,
    /// What the analyst should know about how the segments were placed.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Passages of the run.
    pub passages: usize,
    /// Passages carrying at least one manual code: the items compared.
    pub passages_coded: usize,
    /// Bootstrap resamples behind the intervals.
    pub bootstrap_rounds: usize,
    /// At the top-level codes.
    pub top: LevelComparison,
    /// At the codes as applied.
    pub leaf: LevelComparison,
}

/// Codes of each passage with their overlap in code points, largest first.
pub fn passage_codes(
    passages: &[PassageSpan],
    segments: &[CodedSegment],
) -> Vec<Vec<(String, usize)>> {
    let mut by_doc: BTreeMap<&str, Vec<&CodedSegment>> = BTreeMap::new();
    for s in segments {
        by_doc.entry(s.document.as_str()).or_default().push(s);
    }
    passages
        .iter()
        .map(|p| {
            let mut codes: BTreeMap<String, usize> = BTreeMap::new();
            for s in by_doc.get(p.document.as_str()).into_iter().flatten() {
                let overlap = p.end.min(s.end).saturating_sub(p.start.max(s.start));
                let enough = overlap * 2 >= p.end.saturating_sub(p.start)
                    || overlap * 2 >= s.end.saturating_sub(s.start);
                if overlap > 0 && enough {
                    let e = codes.entry(s.code.clone()).or_default();
                    *e = (*e).max(overlap);
                }
            }
            let mut v: Vec<(String, usize)> = codes.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        })
        .collect()
}

fn purity(truth: &[usize], pred: &[i32]) -> f64 {
    let mut cells: BTreeMap<i32, BTreeMap<usize, usize>> = BTreeMap::new();
    for (&t, &p) in truth.iter().zip(pred) {
        *cells.entry(p).or_default().entry(t).or_default() += 1;
    }
    let hit: usize = cells.values().map(|m| m.values().copied().max().unwrap_or(0)).sum();
    hit as f64 / truth.len().max(1) as f64
}

fn partition(truth: &[usize], pred: &[i32]) -> Partition {
    Partition {
        agreement: metrics::agreement(truth, pred),
        purity: purity(truth, pred),
        passages: truth.len(),
    }
}

/// Compares at one level.
fn at(
    level: Level,
    passages: &[PassageSpan],
    codes_of: &[Vec<(String, usize)>],
    cluster_names: &BTreeMap<i32, String>,
    rounds: usize,
    seed: u64,
) -> LevelComparison {
    // Items: passages with a code; codes at this level, the largest overlap first.
    let mut items: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, codes) in codes_of.iter().enumerate() {
        let mut lv: Vec<String> = Vec::new();
        for (c, _) in codes {
            let c = at_level(c, level).to_string();
            if !lv.contains(&c) {
                lv.push(c);
            }
        }
        if !lv.is_empty() {
            items.push((i, lv));
        }
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, cs) in &items {
        for c in cs {
            *counts.entry(c.as_str()).or_default() += 1;
        }
    }
    let mut codes: Vec<&str> = counts.keys().copied().collect();
    codes.sort_by(|a, b| counts[b].cmp(&counts[a]).then(a.cmp(b)));
    let code_ix: BTreeMap<&str, usize> = codes.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let clusters: Vec<i32> = {
        let mut s: BTreeSet<i32> = items.iter().map(|(i, _)| passages[*i].cluster).collect();
        s.extend(cluster_names.keys().copied());
        let mut v: Vec<i32> = s.into_iter().filter(|&c| c >= 0).collect();
        v.sort();
        if items.iter().any(|(i, _)| passages[*i].cluster < 0) {
            v.push(-1);
        }
        v
    };
    let col_ix: BTreeMap<i32, usize> = clusters.iter().enumerate().map(|(j, c)| (*c, j)).collect();
    let name = |c: i32| {
        if c < 0 {
            "unassigned".to_string()
        } else {
            cluster_names.get(&c).cloned().unwrap_or_else(|| format!("cluster {c}"))
        }
    };
    let mut table = vec![vec![0usize; clusters.len()]; codes.len()];
    let mut cluster_size = vec![0usize; clusters.len()];
    for (i, cs) in &items {
        let j = col_ix[&passages[*i].cluster];
        cluster_size[j] += 1;
        for c in cs {
            table[code_ix[c.as_str()]][j] += 1;
        }
    }

    // Partition view: main code against cluster.
    let truth: Vec<usize> = items.iter().map(|(_, cs)| code_ix[cs[0].as_str()]).collect();
    let pred: Vec<i32> = items.iter().map(|(i, _)| passages[*i].cluster).collect();
    let kept: Vec<usize> = (0..items.len()).filter(|&k| pred[k] >= 0).collect();
    let with_group = partition(&truth, &pred);
    let left_out = partition(
        &kept.iter().map(|&k| truth[k]).collect::<Vec<_>>(),
        &kept.iter().map(|&k| pred[k]).collect::<Vec<_>>(),
    );

    // The one-to-one mapping of clusters to codes, and the agreement it gives, on a sample of
    // the items (indices, repeats allowed): fitted on the sample itself, so the bootstrap
    // refits it in every round, as the intervals must (the mapping is part of the estimate).
    let assigned: Vec<usize> = (0..clusters.len()).filter(|&j| clusters[j] >= 0).collect();
    let item_col: Vec<usize> = items.iter().map(|(i, _)| col_ix[&passages[*i].cluster]).collect();
    let item_codes: Vec<Vec<usize>> =
        items.iter().map(|(_, cs)| cs.iter().map(|c| code_ix[c.as_str()]).collect()).collect();
    let fit = |sample: &[usize]| {
        let mut t = vec![vec![0usize; clusters.len()]; codes.len()];
        for &k in sample {
            for &c in &item_codes[k] {
                t[c][item_col[k]] += 1;
            }
        }
        mapping(&t, &assigned)
    };
    let score = |sample: &[usize], mapped: &BTreeMap<usize, usize>| {
        let (mut coded, mut hit, mut in_col) =
            (vec![0; codes.len()], vec![0; codes.len()], vec![0; clusters.len()]);
        for &k in sample {
            in_col[item_col[k]] += 1;
            for &c in &item_codes[k] {
                coded[c] += 1;
                hit[c] += (mapped.get(&c) == Some(&item_col[k])) as usize;
            }
        }
        let per: Vec<reliability::Reliability> = (0..codes.len())
            .map(|c| {
                let auto = mapped.get(&c).map_or(0, |&j| in_col[j]);
                reliability::binary(sample.len(), coded[c], auto, hit[c])
            })
            .collect();
        // Overall: main code against the code mapped to the passage's cluster (or "none").
        let code_of_col: BTreeMap<usize, usize> = mapped.iter().map(|(c, j)| (*j, *c)).collect();
        let truth: Vec<usize> = sample.iter().map(|&k| item_codes[k][0]).collect();
        let auto: Vec<usize> = sample
            .iter()
            .map(|&k| code_of_col.get(&item_col[k]).copied().unwrap_or(codes.len()))
            .collect();
        (per, reliability::reliability(&truth, &auto))
    };
    let all: Vec<usize> = (0..items.len()).collect();
    let mapped = fit(&all);
    let (per_value, overall_value) = score(&all, &mapped);
    // Passages of one interview are not independent: whole documents are resampled.
    let mut by_doc: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (k, (i, _)) in items.iter().enumerate() {
        by_doc.entry(passages[*i].document.as_str()).or_default().push(k);
    }
    let groups: Vec<Vec<usize>> = by_doc.into_values().collect();
    let mut per_samples = vec![reliability::Samples::default(); codes.len()];
    let mut overall_samples = reliability::Samples::default();
    let mut rng = reliability::rng(seed);
    if groups.len() > 1 {
        for _ in 0..rounds {
            let sample = reliability::resample_groups(&groups, &mut rng);
            let (per, overall) = score(&sample, &fit(&sample));
            for (acc, r) in per_samples.iter_mut().zip(per) {
                acc.push(r);
            }
            overall_samples.push(overall);
        }
    }

    let per_code = codes
        .iter()
        .enumerate()
        .zip(per_samples)
        .map(|((ci, code), samples)| {
            let n_code = counts[code];
            let best = (0..clusters.len())
                .filter(|&j| clusters[j] >= 0 && table[ci][j] > 0)
                .map(|j| {
                    let p = table[ci][j] as f64 / cluster_size[j] as f64;
                    let r = table[ci][j] as f64 / n_code as f64;
                    (j, p, r, 2.0 * p * r / (p + r))
                })
                .max_by(|a, b| a.3.total_cmp(&b.3).then(b.0.cmp(&a.0)));
            let col = mapped.get(&ci).copied();
            CodeAgreement {
                code: code.to_string(),
                passages: n_code,
                best_cluster: best.map(|b| name(clusters[b.0])),
                precision: best.map_or(0.0, |b| b.1),
                recall: best.map_or(0.0, |b| b.2),
                f1: best.map_or(0.0, |b| b.3),
                mapped_cluster: col.map(|j| name(clusters[j])),
                reliability: samples.intervals(per_value[ci], items.len()),
            }
        })
        .collect();
    LevelComparison {
        level,
        codes: codes.len(),
        partition_unassigned_as_group: with_group,
        partition_unassigned_left_out: left_out,
        per_code,
        overall: overall_samples.intervals(overall_value, items.len()),
        table_codes: codes.iter().map(|c| c.to_string()).collect(),
        table_clusters: clusters.iter().map(|&c| name(c)).collect(),
        table,
    }
}

/// The one-to-one mapping of clusters (columns of `table` in `assigned`) to codes (rows)
/// that maximises the passages they share (Kuhn–Munkres); code → column, pairs sharing none
/// left out.
fn mapping(table: &[Vec<usize>], assigned: &[usize]) -> BTreeMap<usize, usize> {
    let mut mapped = BTreeMap::new();
    if table.is_empty() || assigned.is_empty() {
        return mapped;
    }
    let transpose = table.len() > assigned.len();
    let (rows, cols) =
        if transpose { (assigned.len(), table.len()) } else { (table.len(), assigned.len()) };
    let weights = pathfinding::matrix::Matrix::from_fn(rows, cols, |(r, c)| {
        let (code, col) = if transpose { (c, assigned[r]) } else { (r, assigned[c]) };
        table[code][col] as i64
    });
    let (_, assignment) = pathfinding::kuhn_munkres::kuhn_munkres(&weights);
    for (r, c) in assignment.into_iter().enumerate() {
        let (code, col) = if transpose { (c, assigned[r]) } else { (r, assigned[c]) };
        if table[code][col] > 0 {
            mapped.insert(code, col);
        }
    }
    mapped
}

/// The names of a run's clusters (candidate codes) and of their categories.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Each cluster's candidate id.
    pub codes: BTreeMap<i32, String>,
    /// Each cluster's category (empty: the run has one level).
    pub category_of: BTreeMap<i32, i32>,
    /// Each category's id.
    pub categories: BTreeMap<i32, String>,
}

/// Compares a run with a manual coding at both levels: the top-level codes with the
/// categories (with the clusters where the run has one level), the codes as applied with the
/// clusters.
pub fn compare(
    passages: &[PassageSpan],
    coding: &ManualCoding,
    names: &Names,
    rounds: usize,
    seed: u64,
) -> Comparison {
    let codes_of = passage_codes(passages, &coding.segments);
    let (top_passages, top_names) = if names.category_of.is_empty() {
        (passages.to_vec(), names.codes.clone())
    } else {
        let p: Vec<PassageSpan> = passages
            .iter()
            .map(|p| PassageSpan {
                cluster: names.category_of.get(&p.cluster).copied().unwrap_or(-1),
                ..p.clone()
            })
            .collect();
        (p, names.categories.clone())
    };
    let cluster_names = &names.codes;
    Comparison {
        manual: coding.source.display().to_string(),
        segments: coding.total,
        placed: coding.total - coding.unplaced.len(),
        placed_fuzzy: coding.fuzzy,
        unplaced: coding.unplaced.clone(),
        warnings: coding.warnings.clone(),
        passages: passages.len(),
        passages_coded: codes_of.iter().filter(|c| !c.is_empty()).count(),
        bootstrap_rounds: rounds,
        top: at(Level::Top, &top_passages, &codes_of, &top_names, rounds, seed),
        leaf: at(Level::Leaf, passages, &codes_of, cluster_names, rounds, seed),
    }
}

/// The comparison as a terminal table.
pub fn text(c: &Comparison, levels: &[Level]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "manual coding {}: {} of {} segments placed ({} by fuzzy matching); {} of {} passages carry a code",
        c.manual, c.placed, c.segments, c.placed_fuzzy, c.passages_coded, c.passages
    );
    for w in &c.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    for u in c.unplaced.iter().take(10) {
        let _ = writeln!(
            s,
            "  not placed: {} {} [{}] {}: “{}”",
            u.at, u.document, u.code, u.reason, u.excerpt
        );
    }
    if c.unplaced.len() > 10 {
        let _ = writeln!(s, "  … and {} more in comparison.json", c.unplaced.len() - 10);
    }
    for level in levels {
        let l = if *level == Level::Top { &c.top } else { &c.leaf };
        let _ = writeln!(
            s,
            "\n{} codes ({}), {} passages:",
            if *level == Level::Top { "top-level" } else { "leaf" },
            l.codes,
            l.partition_unassigned_as_group.passages
        );
        let _ = writeln!(
            s,
            "  {:<28} {:>6} {:>6} {:>6} {:>6} {:>6}",
            "partition", "ARI", "NMI", "V", "hom.", "purity"
        );
        for (name, p) in [
            ("unassigned as a group", &l.partition_unassigned_as_group),
            ("unassigned left out", &l.partition_unassigned_left_out),
        ] {
            let a = &p.agreement;
            let _ = writeln!(
                s,
                "  {:<28} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3}",
                name, a.ari, a.nmi, a.v_measure, a.homogeneity, p.purity
            );
        }
        let o = &l.overall;
        let _ = writeln!(
            s,
            "  overall (main code vs mapped cluster): agreement {:.2}, kappa {:.2} [{:.2}, {:.2}], alpha {:.2} [{:.2}, {:.2}], AC1 {:.2} [{:.2}, {:.2}]",
            o.value.percent, o.value.kappa, o.kappa_ci.low, o.kappa_ci.high, o.value.alpha, o.alpha_ci.low,
            o.alpha_ci.high, o.value.ac1, o.ac1_ci.low, o.ac1_ci.high
        );
        let _ = writeln!(
            s,
            "  {:<44} {:>5} {:>8} {:>5} {:>5} {:>5} {:>8} {:>6} {:>6}",
            "code", "n", "best", "P", "R", "F1", "mapped", "kappa", "AC1"
        );
        for k in l.per_code.iter().take(if *level == Level::Top { 50 } else { 25 }) {
            let code: String = k.code.chars().take(44).collect();
            let _ = writeln!(
                s,
                "  {:<44} {:>5} {:>8} {:>5.2} {:>5.2} {:>5.2} {:>8} {:>6.2} {:>6.2}",
                code,
                k.passages,
                k.best_cluster.as_deref().unwrap_or("-"),
                k.precision,
                k.recall,
                k.f1,
                k.mapped_cluster.as_deref().unwrap_or("-"),
                k.reliability.value.kappa,
                k.reliability.value.ac1
            );
        }
        if l.per_code.len() > 25 && *level == Level::Leaf {
            let _ = writeln!(s, "  … {} more codes in comparison.json", l.per_code.len() - 25);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, start: usize, end: usize, cluster: i32) -> PassageSpan {
        PassageSpan { id: id.into(), document: "D".into(), start, end, cluster }
    }

    fn seg(start: usize, end: usize, code: &str) -> CodedSegment {
        CodedSegment { document: "D".into(), start, end, code: code.into() }
    }

    #[test]
    fn overlap_gives_a_passage_its_codes() {
        let ps = [span("D:1", 0, 100, 0), span("D:2", 100, 200, 1), span("D:3", 200, 300, 1)];
        // Covers all of passage 1 and a sliver of 2; a short segment inside 3; two codes on 3.
        let segs = [seg(0, 110, "A > x"), seg(220, 240, "B > y"), seg(150, 300, "A > z")];
        let codes = passage_codes(&ps, &segs);
        assert_eq!(codes[0], [("A > x".to_string(), 100)]);
        assert_eq!(codes[1], [("A > z".to_string(), 50)]);
        assert_eq!(codes[2], [("A > z".to_string(), 100), ("B > y".to_string(), 20)]);
    }

    #[test]
    fn mapping_and_levels() {
        let ps: Vec<PassageSpan> = (0..6)
            .map(|i| span(&format!("D:{i}"), i * 10, i * 10 + 10, [0, 0, 1, 1, 2, -1][i]))
            .collect();
        let segs: Vec<CodedSegment> =
            [(0, "A > x"), (1, "A > x"), (2, "A > y"), (3, "B"), (4, "B"), (5, "B")]
                .iter()
                .map(|(i, c)| seg(i * 10, i * 10 + 10, c))
                .collect();
        let coding = ManualCoding { total: 6, segments: segs, ..Default::default() };
        let codes: BTreeMap<i32, String> = (0..3).map(|c| (c, format!("C{:02}", c + 1))).collect();
        let names = Names { codes, ..Names::default() };
        let c = compare(&ps, &coding, &names, 50, 1);
        assert_eq!(c.passages_coded, 6);
        assert_eq!(c.top.codes, 2);
        assert_eq!(c.leaf.codes, 3);
        let a = c.top.per_code.iter().find(|k| k.code == "A").unwrap();
        assert_eq!(a.best_cluster.as_deref(), Some("C01"));
        assert_eq!((a.precision, a.recall), (1.0, 2.0 / 3.0));
        assert_eq!(c.top.table_clusters, ["C01", "C02", "C03", "unassigned"]);
        assert_eq!(
            c.top.table[c.top.table_codes.iter().position(|x| x == "B").unwrap()],
            [0, 1, 1, 1]
        );
        let x = c.leaf.per_code.iter().find(|k| k.code == "A > x").unwrap();
        assert_eq!(x.mapped_cluster.as_deref(), Some("C01"));
        assert_eq!(x.reliability.value.kappa, 1.0);
        // Left out, the unassigned passage no longer counts.
        assert_eq!(c.top.partition_unassigned_left_out.passages, 5);
    }

    #[test]
    fn intervals_resample_whole_documents() {
        // 8 interviews of 10 passages; within each, one code and one cluster throughout. Six
        // agree (A with C01, B with C02), two are the other way round.
        let mut ps = Vec::new();
        let mut segs = Vec::new();
        for d in 0..8 {
            let code = if d % 2 == 0 { "A" } else { "B" };
            let cluster = if (d % 2 == 0) == (d < 6) { 0 } else { 1 };
            for i in 0..10 {
                let doc = format!("D{d}");
                ps.push(PassageSpan {
                    id: format!("{doc}:{i}"),
                    document: doc.clone(),
                    start: i * 10,
                    end: i * 10 + 10,
                    cluster,
                });
                segs.push(CodedSegment {
                    document: doc,
                    start: i * 10,
                    end: i * 10 + 10,
                    code: code.into(),
                });
            }
        }
        let coding = ManualCoding { total: 80, segments: segs, ..Default::default() };
        let codes: BTreeMap<i32, String> = (0..2).map(|c| (c, format!("C{:02}", c + 1))).collect();
        let names = Names { codes, ..Names::default() };
        let c = compare(&ps, &coding, &names, 1000, 3);
        let overall = c.top.overall;
        assert!((overall.value.kappa - 0.5).abs() < 1e-9, "{overall:?}");
        // The same ratings resampled passage by passage, as if independent.
        let truth: Vec<usize> =
            ps.iter().map(|p| p.document[1..].parse::<usize>().unwrap() % 2).collect();
        let auto: Vec<usize> = ps.iter().map(|p| p.cluster as usize).collect();
        let naive = reliability::with_intervals(&truth, &auto, 1000, 3);
        assert!((naive.value.kappa - 0.5).abs() < 1e-9);
        let width = |i: reliability::Interval| i.high - i.low;
        println!("kappa 0.5: by document {:?}, by passage {:?}", overall.kappa_ci, naive.kappa_ci);
        assert!(
            width(overall.kappa_ci) > 1.8 * width(naive.kappa_ci),
            "by document {:?}, by passage {:?}",
            overall.kappa_ci,
            naive.kappa_ci
        );
        assert!(overall.kappa_ci.low <= 0.5 && overall.kappa_ci.high >= 0.5);
    }
}
