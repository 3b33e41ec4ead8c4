//! Agreement between two raters (the team's coding and terreno's clusters mapped to codes) on
//! the same items: percent agreement, Cohen's kappa, Krippendorff's alpha (nominal) and Gwet's
//! AC1, with bootstrap intervals. Kappa alone misleads for rare codes: when nearly every item is
//! "no", chance agreement is high and kappa can be near zero (or negative) although the raters
//! agree on almost everything; AC1 is built not to collapse there.

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// The four coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Reliability {
    /// Share of items where the raters agree.
    pub percent: f64,
    /// Cohen's kappa.
    pub kappa: f64,
    /// Krippendorff's alpha, nominal.
    pub alpha: f64,
    /// Gwet's AC1.
    pub ac1: f64,
}

/// A 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Interval {
    /// 2.5th percentile.
    pub low: f64,
    /// 97.5th percentile.
    pub high: f64,
}

/// The coefficients with their bootstrap intervals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct WithIntervals {
    /// The point estimates.
    #[serde(flatten)]
    pub value: Reliability,
    /// Kappa's interval.
    pub kappa_ci: Interval,
    /// Alpha's interval.
    pub alpha_ci: Interval,
    /// AC1's interval.
    pub ac1_ci: Interval,
    /// Items rated.
    pub items: usize,
}

fn ratio(num: f64, den: f64) -> f64 {
    if den.abs() < 1e-12 {
        // Both raters used one category throughout: perfect if they agree, else undefined (0).
        if num.abs() < 1e-12 {
            1.0
        } else {
            0.0
        }
    } else {
        num / den
    }
}

/// The coefficients for two raters' categories (0..k) on the same items.
pub fn reliability(a: &[usize], b: &[usize]) -> Reliability {
    assert_eq!(a.len(), b.len(), "two ratings of the same items");
    let n = a.len() as f64;
    if a.is_empty() {
        return Reliability::default();
    }
    let k = a.iter().chain(b).max().map_or(0, |m| m + 1);
    let mut pa = vec![0f64; k];
    let mut pb = vec![0f64; k];
    let mut agree = 0f64;
    for (&x, &y) in a.iter().zip(b) {
        pa[x] += 1.0;
        pb[y] += 1.0;
        agree += (x == y) as u8 as f64;
    }
    from_counts(n, agree, &pa, &pb)
}

/// A code applied or not by each rater, from counts: `items`, items the first rater coded
/// (`a`), the second (`b`), and both (`both`).
pub fn binary(items: usize, a: usize, b: usize, both: usize) -> Reliability {
    if items == 0 {
        return Reliability::default();
    }
    let n = items as f64;
    let (a, b, both) = (a as f64, b as f64, both as f64);
    let neither = n - a - b + both;
    from_counts(n, both + neither, &[n - a, a], &[n - b, b])
}

/// The coefficients from the number of items, those agreed on, and each rater's count per
/// category.
fn from_counts(n: f64, agree: f64, pa: &[f64], pb: &[f64]) -> Reliability {
    let po = agree / n;
    // Cohen: chance from each rater's own marginals.
    let pe_k: f64 = pa.iter().zip(pb).map(|(x, y)| (x / n) * (y / n)).sum();
    let kappa = ratio(po - pe_k, 1.0 - pe_k);
    // Krippendorff (nominal, two coders, no missing values): from the coincidence matrix,
    // alpha = 1 − (n_pairable − 1) · disagreeing pairs / Σ_{c≠k} n_c n_k.
    let total = 2.0 * n;
    let nc: Vec<f64> = pa.iter().zip(pb).map(|(x, y)| x + y).collect();
    let observed_dis = 2.0 * (n - agree);
    let expected_dis: f64 = nc.iter().map(|c| c * (total - c)).sum();
    let alpha =
        if expected_dis == 0.0 { 1.0 } else { 1.0 - (total - 1.0) * observed_dis / expected_dis };
    // Gwet's AC1: chance from the mean marginals over the categories used.
    let q = nc.iter().filter(|&&c| c > 0.0).count().max(2) as f64;
    let pe_g: f64 = nc.iter().map(|c| (c / total) * (1.0 - c / total)).sum::<f64>() / (q - 1.0);
    let ac1 = ratio(po - pe_g, 1.0 - pe_g);
    Reliability { percent: po, kappa, alpha, ac1 }
}

/// Bootstrap samples of the coefficients, gathered round by round.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    kappa: Vec<f64>,
    alpha: Vec<f64>,
    ac1: Vec<f64>,
}

impl Samples {
    /// Adds one resample's coefficients.
    pub fn push(&mut self, r: Reliability) {
        self.kappa.push(r.kappa);
        self.alpha.push(r.alpha);
        self.ac1.push(r.ac1);
    }

    /// The point estimates with the 95% percentile intervals of the samples.
    pub fn intervals(mut self, value: Reliability, items: usize) -> WithIntervals {
        let interval = |v: &mut Vec<f64>| {
            if v.is_empty() {
                return Interval::default();
            }
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
            Interval { low: at(0.025), high: at(0.975) }
        };
        WithIntervals {
            value,
            kappa_ci: interval(&mut self.kappa),
            alpha_ci: interval(&mut self.alpha),
            ac1_ci: interval(&mut self.ac1),
            items,
        }
    }
}

/// Indices of items for one bootstrap round that resamples *groups* (documents) with
/// replacement and takes every item of each group drawn: passages of one interview are not
/// independent, so resampling them one by one gives intervals that are too narrow.
pub fn resample_groups(groups: &[Vec<usize>], rng: &mut impl RngCore) -> Vec<usize> {
    let mut out = Vec::new();
    for _ in 0..groups.len() {
        let g = (rng.next_u64() % groups.len() as u64) as usize;
        out.extend_from_slice(&groups[g]);
    }
    out
}

/// The bootstrap's random numbers, seeded.
pub fn rng(seed: u64) -> impl RngCore {
    rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// The coefficients with 95% percentile-bootstrap intervals, `rounds` resamples of the items
/// one by one (seeded): for items that are independent of each other.
pub fn with_intervals(a: &[usize], b: &[usize], rounds: usize, seed: u64) -> WithIntervals {
    let singletons: Vec<Vec<usize>> = (0..a.len()).map(|i| vec![i]).collect();
    let mut rng = rng(seed);
    let mut samples = Samples::default();
    if a.len() > 1 {
        for _ in 0..rounds {
            let s = resample_groups(&singletons, &mut rng);
            let ra: Vec<usize> = s.iter().map(|&i| a[i]).collect();
            let rb: Vec<usize> = s.iter().map(|&i| b[i]).collect();
            samples.push(reliability(&ra, &rb));
        }
    }
    samples.intervals(reliability(a, b), a.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn close5(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-6
    }

    /// Two raters, yes/no: `yy` both yes, `yn` first yes second no, …
    fn table(yy: usize, yn: usize, ny: usize, nn: usize) -> (Vec<usize>, Vec<usize>) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (x, y, n) in [(1, 1, yy), (1, 0, yn), (0, 1, ny), (0, 0, nn)] {
            a.extend(std::iter::repeat_n(x, n));
            b.extend(std::iter::repeat_n(y, n));
        }
        (a, b)
    }

    /// The textbook example (Wikipedia, "Cohen's kappa"): 50 proposals, 20 both yes, 15 both no,
    /// 5 and 10 disagreements: p_o = 0.7, p_e = 0.5, kappa = 0.4. Alpha and AC1 for the same table
    /// computed once with the `krippendorff` and `irrCAC` Python packages.
    #[test]
    fn textbook_kappa_and_reference_alpha_and_ac1() {
        let (a, b) = table(20, 5, 10, 15);
        let r = reliability(&a, &b);
        assert!(close(r.percent, 0.7) && close(r.kappa, 0.4), "{r:?}");
        assert!(close(r.alpha, ALPHA_TEXTBOOK), "{r:?}");
        assert!(close5(r.ac1, AC1_TEXTBOOK), "{r:?}");
    }

    /// A rare code: of 125 passages, the team coded 5, terreno's cluster took 2 others; they
    /// agree on 118 of 125 (94%). Chance agreement is so high that kappa is below zero, while
    /// AC1 stays high: the paradox that makes kappa alone misleading.
    #[test]
    fn a_rare_code_where_kappa_and_ac1_disagree() {
        let (a, b) = table(0, 5, 2, 118);
        let r = reliability(&a, &b);
        assert!(close(r.percent, 118.0 / 125.0));
        assert!(close(r.kappa, KAPPA_RARE), "{r:?}");
        assert!(close(r.alpha, ALPHA_RARE), "{r:?}");
        assert!(close5(r.ac1, AC1_RARE), "{r:?}");
        assert!(r.kappa < 0.0 && r.ac1 > 0.9);
    }

    /// Three categories, against the same reference packages (scikit-learn's
    /// `cohen_kappa_score`).
    #[test]
    fn three_categories() {
        let a = [0, 0, 1, 1, 2, 2, 2, 0, 1, 2, 0, 1];
        let b = [0, 1, 1, 1, 2, 2, 0, 0, 1, 2, 2, 1];
        let r = reliability(&a, &b);
        assert!(close(r.kappa, KAPPA_3), "{r:?}");
        assert!(close(r.alpha, ALPHA_3), "{r:?}");
        assert!(close5(r.ac1, AC1_3), "{r:?}");
    }

    #[test]
    fn intervals_contain_the_estimate_and_are_seeded() {
        let (a, b) = table(20, 5, 10, 15);
        let w = with_intervals(&a, &b, 500, 7);
        assert!(w.kappa_ci.low < 0.4 && 0.4 < w.kappa_ci.high, "{w:?}");
        assert!(w.ac1_ci.low <= w.value.ac1 && w.value.ac1 <= w.ac1_ci.high);
        assert_eq!(w, with_intervals(&a, &b, 500, 7));
    }

    // scikit-learn 1.9 `cohen_kappa_score`, krippendorff 0.9 `alpha(level_of_measurement=
    // "nominal")`, irrCAC 0.4.4 `CAC.gwet()` (which prints five decimals).
    const ALPHA_TEXTBOOK: f64 = 0.4;
    const AC1_TEXTBOOK: f64 = 0.40594;
    const KAPPA_RARE: f64 = -0.023391812865497075;
    const ALPHA_RARE: f64 = -0.024691358024691468;
    const AC1_RARE: f64 = 0.94078;
    const KAPPA_3: f64 = 0.625;
    const ALPHA_3: f64 = 0.6387434554973822;
    const AC1_3: f64 = 0.62597;
}
