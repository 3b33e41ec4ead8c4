//! Partition agreement: adjusted Rand index, normalised mutual information (arithmetic mean, as
//! scikit-learn's default), homogeneity, completeness and V-measure, all from the contingency
//! table of two labelings.

use std::collections::BTreeMap;

/// Agreement between a reference labeling and a clustering.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Agreement {
    /// Adjusted Rand index.
    pub ari: f64,
    /// Normalised mutual information (arithmetic mean of the entropies).
    pub nmi: f64,
    /// Each cluster holds one class.
    pub homogeneity: f64,
    /// Each class lies in one cluster.
    pub completeness: f64,
    /// Harmonic mean of homogeneity and completeness.
    pub v_measure: f64,
}

/// Each distinct label's position in sorted order.
fn index_of<L: Ord + Clone>(labels: &[L]) -> BTreeMap<L, usize> {
    let distinct: std::collections::BTreeSet<L> = labels.iter().cloned().collect();
    distinct.into_iter().enumerate().map(|(i, l)| (l, i)).collect()
}

fn contingency<A: Ord + Clone, B: Ord + Clone>(
    truth: &[A],
    pred: &[B],
) -> (Vec<Vec<f64>>, Vec<f64>, Vec<f64>) {
    let (ti, pi) = (index_of(truth), index_of(pred));
    let mut table = vec![vec![0f64; pi.len()]; ti.len()];
    for (t, p) in truth.iter().zip(pred) {
        table[ti[t]][pi[p]] += 1.0;
    }
    let rows = table.iter().map(|r| r.iter().sum()).collect();
    let cols = (0..pi.len()).map(|j| table.iter().map(|r| r[j]).sum()).collect();
    (table, rows, cols)
}

fn comb2(x: f64) -> f64 {
    x * (x - 1.0) / 2.0
}

fn entropy(counts: &[f64], n: f64) -> f64 {
    counts.iter().filter(|&&c| c > 0.0).map(|&c| -(c / n) * (c / n).ln()).sum()
}

/// All the partition metrics of `pred` against `truth` (same length).
pub fn agreement<A: Ord + Clone, B: Ord + Clone>(truth: &[A], pred: &[B]) -> Agreement {
    assert_eq!(truth.len(), pred.len(), "two labelings of the same items");
    let n = truth.len() as f64;
    let (table, rows, cols) = contingency(truth, pred);
    let sum_cells: f64 = table.iter().flatten().map(|&c| comb2(c)).sum();
    let sum_rows: f64 = rows.iter().map(|&c| comb2(c)).sum();
    let sum_cols: f64 = cols.iter().map(|&c| comb2(c)).sum();
    let expected = sum_rows * sum_cols / comb2(n).max(1e-300);
    let max_index = (sum_rows + sum_cols) / 2.0;
    let ari = if (max_index - expected).abs() < 1e-12 {
        1.0
    } else {
        (sum_cells - expected) / (max_index - expected)
    };
    let mut mi = 0.0;
    for (i, row) in table.iter().enumerate() {
        for (j, &c) in row.iter().enumerate() {
            if c > 0.0 {
                mi += (c / n) * ((c * n) / (rows[i] * cols[j])).ln();
            }
        }
    }
    let (ht, hp) = (entropy(&rows, n), entropy(&cols, n));
    let homogeneity = if ht == 0.0 { 1.0 } else { mi / ht };
    let completeness = if hp == 0.0 { 1.0 } else { mi / hp };
    let v_measure = if homogeneity + completeness == 0.0 {
        0.0
    } else {
        2.0 * homogeneity * completeness / (homogeneity + completeness)
    };
    let nmi = if ht == 0.0 && hp == 0.0 { 1.0 } else { mi / ((ht + hp) / 2.0).max(1e-300) };
    Agreement { ari, nmi, homogeneity, completeness, v_measure }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Reference values computed once with scikit-learn 1.x (`adjusted_rand_score`,
    /// `normalized_mutual_info_score`, `homogeneity_score`, `completeness_score`,
    /// `v_measure_score`) on the same label vectors.
    #[test]
    fn matches_scikit_learn() {
        let a = agreement(&[0, 0, 0, 1, 1, 1, 2, 2, 2, 2], &[0, 0, 1, 1, 1, 2, 2, 2, 3, 3]);
        assert!(close(a.ari, 0.23728813559322035), "{a:?}");
        assert!(close(a.nmi, 0.5759466679735675), "{a:?}");
        assert!(close(a.homogeneity, 0.6492712741077914), "{a:?}");
        assert!(close(a.completeness, 0.5175031261015377), "{a:?}");
        assert!(close(a.v_measure, 0.5759466679735676), "{a:?}");
        let b = agreement(&["a", "a", "b", "b", "c", "c", "c"], &[1, 1, 1, -1, -1, 2, 2]);
        assert!(
            close(b.ari, 0.2125)
                && close(b.nmi, 0.5636355530993447)
                && close(b.v_measure, 0.5636355530993447),
            "{b:?}"
        );
    }

    #[test]
    fn perfect_and_permuted_labelings() {
        let a = agreement(&[0, 0, 1, 1, 2, 2], &[5, 5, 3, 3, 9, 9]);
        assert!(close(a.ari, 1.0) && close(a.nmi, 1.0) && close(a.v_measure, 1.0));
    }
}
