//! Two-level clustering by meaning: candidate *codes* grouped into *categories*, as grounded
//! theory's open and axial coding work.
//!
//! What was measured (`make bench-cluster`, and the experiments in the closing note of issue 12)
//! decided each step:
//!
//! 1. **Units that carry their meaning.** In interviews most passages are short (in ParlaTO
//!    over half have fewer than five content words) and say what they mean through the talk
//!    around them. Consecutive passages of one document are joined into a *unit* until it holds
//!    at least `unit_words` content words; each unit's vector is the content-word-weighted mean
//!    of its passages' vectors, then mixed with its neighbours' (weights 1 for the next units,
//!    ½ for the ones after), within the document. Rows of a table are independent answers: each
//!    is a unit of its own, without context. A unit with fewer than two content words even so
//!    is *not coded*. Units of 16 content words rather than 8, measured against the
//!    four tuning interviews of the development coding (`tests/data/`, 651 passages, 10 themes;
//!    all 67 interviews clustered; seeds 7 / 42; with the document centring below at ¼):
//!    categories against the themes ARI 0.221 / 0.233 → 0.274 / 0.328, NMI 0.385 / 0.400 →
//!    0.494 / 0.472, codes ARI 0.148 / 0.137 → 0.188 / 0.210; at 24 (without centring) the
//!    codes gain again but the categories split interviews less well across (pair F1 0.224 /
//!    0.166 against 0.211 / 0.228 at 16). On PDPilot, whose answers are long, they cost the
//!    leaves a little (NMI 0.680 → 0.660 over seeds 1–10). On two interviews coded after the
//!    choice and held out, with the centring as well: categories ARI 0.275 / 0.200 → 0.297 /
//!    0.501, codes 0.201 / 0.155 → 0.392 / 0.374.
//! 2. **Geometry.** The vectors are the e5 `query: ` embeddings (the model's prefix for
//!    clustering), centred on the corpus mean: what all passages share is removed; and each
//!    unit loses a quarter of its document's mean ([`DOCUMENT_CENTRING`]), so codes gather one
//!    topic across interviews instead of following one interview. Removing
//!    the dominant principal directions as well was measured and hurts (SIB-200 ARI 0.33 →
//!    0.25 with one, 0.11 with three): in this model the topic *is* the dominant direction.
//! 3. **How many.** Neither the silhouette, nor stability under resampling, nor a Gaussian
//!    mixture's BIC gave a number that holds across seeds on these vectors (text embeddings
//!    form no crisp clusters at the scale of categories). The numbers follow the corpus size,
//!    so they never swing with the seed: `1.4·m^¼` categories and `2·√m` codes (at most 200) for
//!    `m` units, which gives about 8 categories for a thousand answers and 12 categories of
//!    ~140 codes for the 67 ParlaTO interviews (about 5,000 units of talk). Both can be set.
//! 4. **Two levels, nested.** Categories by k-means on the units (several seeded starts
//!    combined by vote, in `kmeans::fit_voted`), then each category's units into codes, as
//!    many as its share of the units, by deterministic annealing ([`super::kmeans`]): it needs no seed, and the codes hold still
//!    when the vectors move a little. Against k-means there (`linfa`'s, three starts),
//!    averaged over seeds 1–10 (`TERRENO_BENCH_SEEDS=10 make bench-cluster`): SIB-200 code
//!    fidelity 62.7% → 66.6%, PDPilot leaves ARI 0.210 → 0.222, NMI 0.676 → 0.682; with int8
//!    vectors instead of f32 the codes agree at ARI 0.51–0.98 (was 0.18–0.68). A code of
//!    fewer than `min_code` passages joins the most similar code of its category; in a study
//!    of [`SPEAKERS_FOR_SHARED_CODES`] speakers or more, so does a code of one speaker. In a
//!    smaller study, where each interview is a large share of the talk, the codes are formed
//!    from units read without their interview's mean and with little of their neighbours
//!    ([`SMALL_STUDY_CODES`]): the context that finds a category would otherwise split it
//!    into one code per participant.

use crate::error::Result;

/// What two-level clustering needs to know of each passage.
#[derive(Debug, Clone)]
pub struct PassageInfo<'a> {
    /// Its document.
    pub document: &'a str,
    /// Its speaker.
    pub speaker: &'a str,
    /// Its content words (the analysis tokens).
    pub content_words: usize,
    /// A row of a table: an answer of its own, without context.
    pub row: bool,
}

/// The parameters of two-level clustering.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Categories (0: `1.4·m^¼` for `m` units).
    pub categories: usize,
    /// Codes (0: `2·√m`, at most 200).
    pub codes: usize,
    /// Content words a unit gathers at least.
    pub unit_words: usize,
    /// Smallest code, in passages.
    pub min_code: usize,
}

/// Two-level clustering of passages.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoLevel {
    /// Code per passage (-1: not coded), 0.. by decreasing size.
    pub codes: Vec<i32>,
    /// Category of each code.
    pub category_of: Vec<i32>,
    /// Similarity of each passage's unit to its code's centre (0 when not coded).
    pub strength: Vec<f32>,
    /// Unit of each passage.
    pub unit: Vec<usize>,
    /// Passages not coded (too little to code even in context).
    pub not_coded: usize,
    /// Whether each passage is not coded.
    pub not_coded_mask: Vec<bool>,
}

/// Groups consecutive passages of one document into units of at least `min_words` content
/// words (a short last stretch joins the unit before it); table rows stay alone. Passages come
/// in document order.
pub fn units(info: &[PassageInfo], min_words: usize) -> Vec<usize> {
    let mut unit = vec![0usize; info.len()];
    let mut next = 0usize;
    let mut start = 0;
    while start < info.len() {
        let doc = info[start].document;
        let end = (start..info.len()).find(|&j| info[j].document != doc).unwrap_or(info.len());
        let mut open: Option<(usize, usize)> = None; // (unit, words gathered)
        let mut previous: Option<usize> = None;
        for i in start..end {
            match open {
                Some((u, w)) if !info[i].row && w < min_words => {
                    unit[i] = u;
                    open = Some((u, w + info[i].content_words));
                }
                _ => {
                    previous = open.map(|(u, _)| u).or(previous);
                    unit[i] = next;
                    open = if info[i].row { None } else { Some((next, info[i].content_words)) };
                    next += 1;
                }
            }
        }
        // A short last stretch joins the unit before it.
        if let (Some((u, w)), Some(p)) = (open, previous) {
            if w < min_words {
                for x in unit[start..end].iter_mut().filter(|x| **x == u) {
                    *x = p;
                }
                next -= 1;
            }
        }
        start = end;
    }
    unit
}

/// The unit vectors: content-word-weighted means of their passages' vectors, centred on the
/// corpus mean and by a quarter on their document's mean ([`DOCUMENT_CENTRING`]), mixed with the
/// neighbouring units of the same document (not for table rows), and normalised.
pub fn unit_vectors(vectors: &[Vec<f32>], info: &[PassageInfo], unit: &[usize]) -> Vec<Vec<f32>> {
    unit_vectors_with(vectors, info, unit, &READING)
}

/// How a unit of talk is read: how much of its document's mean it loses (0: none, 1: all of
/// it), and the weights of its neighbouring units mixed into it (the next ones first).
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    /// The share of its document's mean a unit loses.
    pub centring: f32,
    /// The weights of the units 1, 2, … before and after it.
    pub neighbours: &'a [f32],
}

/// How units are read for the categories, and for the codes of a study of
/// [`SPEAKERS_FOR_SHARED_CODES`] speakers or more.
pub const READING: Reading<'static> =
    Reading { centring: DOCUMENT_CENTRING, neighbours: &[1.0, 0.5] };

/// How units are read for the codes of a smaller study: each loses all of its document's mean
/// and takes in only a quarter of the units next to it, so that within a category (found with
/// the context of [`READING`]) the codes gather what several participants say rather than one
/// participant's stretch of talk.
///
/// Measured (`TERRENO_BENCH_QUICK=themes|agreement cargo bench --bench cluster`, seeds 7 /
/// 42), as (centring, neighbours): the six coded ParlaTO interviews clustered alone (40
/// codes), codes of one speaker only, codes ARI / NMI against the themes; the seven PDPilot
/// interviews (26–27 codes), codes of one speaker only, leaves ARI and NMI:
/// (¼; 1, ½) as the categories: 23, 0.261 / 0.619; 23 / 22, 0.194 / 0.206, 0.654 / 0.662.
/// (¼; ½, ¼): 23, 0.273 / 0.635; 22 / 21, 0.198 / 0.225, 0.658 / 0.673.
/// (¼; ½): 20, 0.255 / 0.610; 16 / 15. (¼; ¼, ⅛): 18, 0.258 / 0.616; 18 / 14.
/// (¼; ¼): 15, 0.239 / 0.603; 13 / 12, 0.205 / 0.193, 0.662 / 0.657.
/// (¼; ⅛): 12, 0.240 / 0.597; 6 / 9, 0.178 / 0.195, 0.646 / 0.655.
/// (½; ¼): 12, 0.243 / 0.593; 10 / 8, 0.184 / 0.199, 0.651 / 0.654.
/// **(1; ¼)**: 10, 0.229 / 0.578; 7 / 7, 0.198 / 0.193, 0.661 / 0.653.
/// (¼; none): 9, 0.195 / 0.531; 2 / 2, 0.121 / 0.133, 0.600 / 0.610, under k-means told the
/// 75 leaves (NMI 0.638 / 0.613), as is (½; none) at 0.614 / 0.602.
/// The chosen reading more than halves the codes of one speaker at the cost of 0.03 ARI
/// against the coarse themes of our coding, and keeps PDPilot's leaves where they were (the
/// team's own coding has 30 of its 62 leaf codes one participant's). On all 67 ParlaTO
/// interviews (a large study, where codes of one speaker are joined instead) it would cost the
/// codes 0.1 ARI (0.246 / 0.207 → 0.132 / 0.124), so large studies keep [`READING`].
pub const SMALL_STUDY_CODES: Reading<'static> = Reading { centring: 1.0, neighbours: &[0.25] };

/// The unit vectors read as `reading` says (see [`unit_vectors`]).
pub fn unit_vectors_with(
    vectors: &[Vec<f32>],
    info: &[PassageInfo],
    unit: &[usize],
    reading: &Reading,
) -> Vec<Vec<f32>> {
    let dim = vectors.first().map_or(0, Vec::len);
    let m = unit.iter().max().map_or(0, |u| u + 1);
    let mean = crate::codebook::matching::mean(vectors);
    let mut sums = vec![vec![0f32; dim]; m];
    let mut doc_of: Vec<&str> = vec![""; m];
    let mut row_of = vec![false; m];
    for (i, v) in vectors.iter().enumerate() {
        let w = info[i].content_words.max(1) as f32;
        sums[unit[i]].iter_mut().zip(v.iter().zip(&mean)).for_each(|(s, (x, c))| *s += w * (x - c));
        doc_of[unit[i]] = info[i].document;
        row_of[unit[i]] = info[i].row;
    }
    sums.iter_mut().for_each(|s| crate::embed::normalize(s));
    centre_documents(&mut sums, &doc_of, &row_of, reading.centring);
    let mut out = sums.clone();
    for u in 0..m {
        if row_of[u] {
            continue;
        }
        for (o, w) in reading.neighbours.iter().enumerate() {
            let off = o + 1;
            for v in [u.checked_sub(off), Some(u + off).filter(|&x| x < m)].into_iter().flatten() {
                if doc_of[v] == doc_of[u] && !row_of[v] {
                    out[u].iter_mut().zip(&sums[v]).for_each(|(a, b)| *a += w * b);
                }
            }
        }
    }
    out.iter_mut().for_each(|s| crate::embed::normalize(s));
    out
}

/// How much of its document's mean each unit of talk loses (0: none, 1: all of it).
///
/// An interview's units share what its participant always brings (their place, their work,
/// their way of speaking); left in, codes follow interviews rather than topics. But an
/// interview's mean is also what it is mostly about (an old man's war, a teacher's work), and
/// taking all of it away takes that topic from the interview's own units. Measured, with
/// units of 16 content words: on the PDPilot interviews (one study's guide for everyone),
/// averaged over seeds 1–10 (`TERRENO_BENCH_SEEDS=10 TERRENO_BENCH_QUICK=agreement cargo
/// bench --bench cluster`), none → ¼ → ½: categories against the team's top-level codes ARI
/// 0.166 → 0.230 → 0.261, NMI 0.197 → 0.264 → 0.313; codes against its leaves NMI 0.662 →
/// 0.660 → 0.655; codes of one speaker only 25 → 23 → 17 of 26. On all 67 ParlaTO interviews
/// against the four tuning interviews of the development coding (`tests/data/`, seeds 7 / 42,
/// `TERRENO_BENCH_QUICK=themes`), none → ¼ → ½: categories ARI 0.265 / 0.282 → 0.274 / 0.328
/// → 0.228 / 0.219; within an interview ARI 0.377 / 0.370 → 0.369 / 0.400 → 0.357 / 0.329;
/// across interviews, pairs of one theme in one category F1 0.211 / 0.228 → 0.230 / 0.259 →
/// 0.185 / 0.195. A quarter is best on ParlaTO and keeps most of PDPilot's gain. Rows of a
/// table (independent answers) keep their vectors.
pub const DOCUMENT_CENTRING: f32 = 0.25;

/// Units of talk a document has at least for [`DOCUMENT_CENTRING`] to apply to it: the mean
/// of a few units is what they are about, not who says them (a short answer of two units
/// would lose its topic).
pub const UNITS_TO_CENTRE: usize = 10;

/// Takes `centring` of its document's mean from each unit that is not a table row, in
/// documents of at least [`UNITS_TO_CENTRE`] units, and normalises it again.
fn centre_documents(units: &mut [Vec<f32>], doc_of: &[&str], row_of: &[bool], centring: f32) {
    let dim = units.first().map_or(0, Vec::len);
    let mut docs: std::collections::HashMap<&str, (Vec<f32>, usize)> = Default::default();
    for (u, v) in units.iter().enumerate().filter(|(u, _)| !row_of[*u]) {
        let (sum, count) = docs.entry(doc_of[u]).or_insert_with(|| (vec![0f32; dim], 0));
        sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
        *count += 1;
    }
    for (u, v) in units.iter_mut().enumerate().filter(|(u, _)| !row_of[*u]) {
        let (sum, count) = &docs[doc_of[u]];
        if *count < UNITS_TO_CENTRE {
            continue;
        }
        let share = centring / *count as f32;
        v.iter_mut().zip(sum).for_each(|(x, s)| *x -= share * s);
        crate::embed::normalize(v);
    }
}

/// The most seeded k-means runs whose vote makes the categories. The vote of more runs moves
/// less with the vectors: int8 against f32 vectors, seeds 1–6
/// (`TERRENO_BENCH_SEEDS=6 TERRENO_BENCH_QUICK=stability cargo bench --bench cluster`), mean
/// ARI of the categories 30 → 100 runs: SIB-200 0.879 → 0.918, PDPilot 0.924 → 0.975; of the
/// codes 0.568 → 0.593 and 0.795 → 0.858. SIB-200 against its topics ARI 0.392 → 0.412, NMI
/// 0.458 → 0.473; PDPilot top level ARI 0.234 → 0.221, leaves NMI 0.660 → 0.655. 300 runs
/// (seeds 7 / 42) moved the categories' agreement only a little further (SIB-200 0.846 /
/// 0.914 → 0.932 / 0.907, PDPilot 0.917 / 0.927 → 0.976 / 0.969).
pub const VOTING_RUNS: usize = 100;

/// The default number of categories for `m` units.
pub fn default_categories(m: usize) -> usize {
    ((1.4 * (m as f64).powf(0.25)).round() as usize).clamp(1, m.max(1))
}

/// The default number of codes for `m` units.
pub fn default_codes(m: usize) -> usize {
    ((2.0 * (m as f64).sqrt()).round() as usize).clamp(1, 200).min(m.max(1))
}

/// Clusters passages into codes within categories. `vectors` are the passages' (query)
/// embeddings.
pub fn two_level(
    vectors: &[Vec<f32>],
    info: &[PassageInfo],
    params: &Params,
    seed: u64,
) -> Result<TwoLevel> {
    let n = vectors.len();
    let unit = units(info, params.unit_words);
    let m = unit.iter().max().map_or(0, |u| u + 1);
    let mut unit_words = vec![0usize; m];
    for (i, &u) in unit.iter().enumerate() {
        unit_words[u] += info[i].content_words;
    }
    let coded: Vec<usize> = (0..m).filter(|&u| unit_words[u] >= 2).collect();
    let uv = unit_vectors(vectors, info, &unit);
    let points: Vec<&[f32]> = coded.iter().map(|&u| uv[u].as_slice()).collect();
    // Codes are read apart from categories in a small study (see SMALL_STUDY_CODES).
    let large = speakers(info) >= SPEAKERS_FOR_SHARED_CODES;
    let small_study = (!large).then(|| unit_vectors_with(vectors, info, &unit, &SMALL_STUDY_CODES));
    let cv: &[Vec<f32>] = small_study.as_deref().unwrap_or(&uv);
    let code_points: Vec<&[f32]> = coded.iter().map(|&u| cv[u].as_slice()).collect();
    let mc = points.len();
    let mut unit_code = vec![-1i32; m];
    let mut category_of: Vec<i32> = Vec::new();
    if mc > 0 {
        let kc = if params.categories > 0 { params.categories } else { default_categories(mc) };
        let kc = kc.min(mc);
        // Many seeded starts, combined by vote: the categories should not depend on the seed,
        // nor on the last decimals of the vectors. As many as about 2·10⁸ distance
        // computations allow, between 4 and [`VOTING_RUNS`].
        let runs = (2e8 / (mc as f64 * kc as f64 * 50.0)).clamp(4.0, VOTING_RUNS as f64) as usize;
        let cats = if kc > 1 { super::kmeans_voted(&points, kc, seed, runs) } else { vec![0; mc] };
        let total = if params.codes > 0 { params.codes } else { default_codes(mc) };
        let mut next = 0i32;
        for c in 0..kc as i32 {
            let members: Vec<usize> = (0..mc).filter(|&i| cats[i] == c).collect();
            if members.is_empty() {
                continue;
            }
            let share = (members.len() as f64 * total as f64 / mc as f64).round() as usize;
            let k = share.clamp(1, members.len());
            let sub: Vec<&[f32]> = members.iter().map(|&i| code_points[i]).collect();
            let labels = if k > 1 { super::annealed(&sub, k) } else { vec![0; sub.len()] };
            let used: std::collections::BTreeSet<i32> = labels.iter().copied().collect();
            let local: std::collections::BTreeMap<i32, i32> =
                used.iter().enumerate().map(|(j, &l)| (l, next + j as i32)).collect();
            for (&i, l) in members.iter().zip(&labels) {
                unit_code[coded[i]] = local[l];
            }
            for _ in &used {
                category_of.push(c);
            }
            next += used.len() as i32;
        }
    }
    let mut codes: Vec<i32> = unit.iter().map(|&u| unit_code[u]).collect();
    join_small_codes(&mut codes, &category_of, cv, &unit, params.min_code);
    if large {
        join_one_speaker_codes(&mut codes, &category_of, cv, &unit, info);
    }
    // Renumber codes by size; categories by size too.
    let renumbered = super::renumber(&codes);
    let k = renumbered.iter().map(|&l| l + 1).max().unwrap_or(0).max(0) as usize;
    let mut cat_of_new = vec![-1i32; k];
    for (old, new) in codes.iter().zip(&renumbered) {
        if *new >= 0 {
            cat_of_new[*new as usize] = category_of[*old as usize];
        }
    }
    // Categories by size too, as codes are: renumber the passages' categories.
    let passage_categories: Vec<i32> =
        renumbered.iter().map(|&c| if c >= 0 { cat_of_new[c as usize] } else { -1 }).collect();
    let mut category_of = vec![-1i32; k];
    for (&c, &cat) in renumbered.iter().zip(&super::renumber(&passage_categories)) {
        if c >= 0 {
            category_of[c as usize] = cat;
        }
    }
    // Strength: the unit's similarity to its code's centre.
    let centres = super::centroids(cv, &unit_labels(&renumbered, unit.as_slice(), m), k);
    let strength: Vec<f32> = (0..n)
        .map(|i| {
            let c = renumbered[i];
            if c < 0 {
                0.0
            } else {
                crate::embed::cosine(&cv[unit[i]], &centres[c as usize])
            }
        })
        .collect();
    let not_coded_mask: Vec<bool> = unit.iter().map(|&u| unit_words[u] < 2).collect();
    let not_coded = not_coded_mask.iter().filter(|&&x| x).count();
    Ok(TwoLevel { codes: renumbered, category_of, strength, unit, not_coded, not_coded_mask })
}

/// The code of each unit, from the code of each passage.
fn unit_labels(codes: &[i32], unit: &[usize], m: usize) -> Vec<i32> {
    let mut l = vec![-1; m];
    for (i, &c) in codes.iter().enumerate() {
        l[unit[i]] = c;
    }
    l
}

/// Speakers a study has at least for every code to be made to span two of them.
///
/// Measured (`make bench-cluster`, seeds 7 / 42): on all 67 ParlaTO interviews no code of 143
/// is one speaker's; on the seven PDPilot interviews 23 / 21 of 26 are (over seeds 1–10, 17
/// to 25 of 26 as the units lose ½ to none of their document's mean), and joining them folds
/// the codes into about a dozen (leaf NMI 0.68 → 0.55 / 0.50 when measured with half the mean
/// taken, under k-means told the true k): in a handful of interviews most topics are one
/// participant's (in the team's own coding, 25 of its 75 codes are one participant's).
/// There the codes are read apart instead ([`SMALL_STUDY_CODES`]: 7 of 26–27 left one
/// speaker's), and those that stay one speaker's are flagged "one speaker only".
pub const SPEAKERS_FOR_SHARED_CODES: usize = 20;

/// A speaker: of one document (each row of a table one of its own).
fn speaker<'a>(info: &[PassageInfo<'a>], i: usize) -> (&'a str, usize, &'a str) {
    (info[i].document, if info[i].row { i } else { usize::MAX }, info[i].speaker)
}

/// The speakers of a study.
fn speakers(info: &[PassageInfo]) -> usize {
    (0..info.len()).map(|i| speaker(info, i)).collect::<std::collections::BTreeSet<_>>().len()
}

/// For a study of at least [`SPEAKERS_FOR_SHARED_CODES`] speakers: joins each code whose passages
/// are all one speaker's to the most similar code of its category (of any category when it is
/// its category's only code), smallest first, until every code has passages of two speakers or
/// more: a code is grounded in more than one participant. Rows of a table are each a speaker of
/// their own.
fn join_one_speaker_codes(
    codes: &mut [i32],
    category_of: &[i32],
    uv: &[Vec<f32>],
    unit: &[usize],
    info: &[PassageInfo],
) {
    use std::collections::BTreeSet;
    let k = category_of.len();
    let mut speakers: Vec<BTreeSet<_>> = vec![BTreeSet::new(); k];
    for (i, &c) in codes.iter().enumerate().filter(|(_, c)| **c >= 0) {
        speakers[c as usize].insert(speaker(info, i));
    }
    let mut joins = Joins::new(codes, uv, unit, k);
    while let Some(c) = (0..k)
        .filter(|&c| joins.size[c] > 0 && speakers[c].len() < 2)
        .min_by_key(|&c| (joins.size[c], c))
    {
        let same = joins.nearest(c, |o| category_of[o] == category_of[c]);
        let Some(o) = same.or_else(|| joins.nearest(c, |_| true)) else { break };
        let moved = std::mem::take(&mut speakers[c]);
        speakers[o].extend(moved);
        joins.join(c, o);
    }
    joins.apply(codes);
}

/// Codes being joined: each code's size in passages and sum of unit vectors, and where each
/// has gone.
struct Joins {
    size: Vec<usize>,
    sums: Vec<Vec<f32>>,
    into: Vec<usize>,
}

impl Joins {
    fn new(codes: &[i32], uv: &[Vec<f32>], unit: &[usize], k: usize) -> Self {
        let dim = uv.first().map_or(0, Vec::len);
        let mut size = vec![0usize; k];
        let mut sums = vec![vec![0f32; dim]; k];
        for &c in codes.iter().filter(|c| **c >= 0) {
            size[c as usize] += 1;
        }
        for (u, &c) in unit_labels(codes, unit, uv.len()).iter().enumerate() {
            if c >= 0 {
                sums[c as usize].iter_mut().zip(&uv[u]).for_each(|(s, x)| *s += x);
            }
        }
        Joins { size, sums, into: (0..k).collect() }
    }

    /// The remaining code most similar to `c` among those `allowed` takes, the lower index
    /// on a tie.
    fn nearest(&self, c: usize, allowed: impl Fn(usize) -> bool) -> Option<usize> {
        let sim = |o: usize| crate::embed::cosine(&self.sums[c], &self.sums[o]);
        (0..self.size.len())
            .filter(|&o| o != c && self.size[o] > 0 && allowed(o))
            .max_by(|&a, &b| sim(a).total_cmp(&sim(b)).then(b.cmp(&a)))
    }

    fn join(&mut self, c: usize, o: usize) {
        let moved = std::mem::take(&mut self.sums[c]);
        self.sums[o].iter_mut().zip(&moved).for_each(|(s, x)| *s += x);
        self.sums[c] = vec![0f32; moved.len()];
        self.size[o] += std::mem::take(&mut self.size[c]);
        self.into[c] = o;
    }

    /// Relabels the passages, following chains of joins to their end.
    fn apply(&self, codes: &mut [i32]) {
        for x in codes.iter_mut().filter(|x| **x >= 0) {
            let mut c = *x as usize;
            while self.into[c] != c {
                c = self.into[c];
            }
            *x = c as i32;
        }
    }
}

/// Joins each code of fewer than `min` passages to the most similar code of its category
/// (when it has another), smallest first. (Codes of one speaker are joined by
/// [`join_one_speaker_codes`], in large studies only: joining them on the bundled sample
/// folded whole categories of one-to-one interviews into one code.)
fn join_small_codes(
    codes: &mut [i32],
    category_of: &[i32],
    uv: &[Vec<f32>],
    unit: &[usize],
    min: usize,
) {
    let k = category_of.len();
    let mut joins = Joins::new(codes, uv, unit, k);
    let mut order: Vec<usize> = (0..k).filter(|&c| joins.size[c] > 0).collect();
    order.sort_by_key(|&c| (joins.size[c], c));
    for c in order {
        if joins.size[c] >= min {
            continue;
        }
        if let Some(o) = joins.nearest(c, |o| category_of[o] == category_of[c]) {
            joins.join(c, o);
        }
    }
    joins.apply(codes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(document: &'static str, content_words: usize, row: bool) -> PassageInfo<'static> {
        PassageInfo { document, speaker: "A", content_words, row }
    }

    #[test]
    fn short_passages_join_their_neighbours_within_a_document() {
        let info = [
            p("a", 2, false),
            p("a", 3, false),
            p("a", 4, false), // 9 words: the first unit ends here
            p("a", 10, false),
            p("a", 1, false), // a short tail joins the unit before it
            p("b", 1, false), // another document starts a unit
            p("b", 9, false),
            p("t", 0, true), // table rows are units of their own
            p("t", 5, true),
        ];
        assert_eq!(units(&info, 8), [0, 0, 0, 1, 1, 2, 2, 3, 4]);
    }

    #[test]
    fn codes_nest_in_categories_and_nothing_codable_is_set_apart() {
        // Two directions, two documents each; one passage with no content word.
        let mut vectors = Vec::new();
        let mut info = Vec::new();
        for i in 0..40 {
            let mut v = vec![0f32; 8];
            v[if i < 20 { 0 } else { 1 }] = 1.0;
            v[2 + i % 6] = 0.3;
            crate::embed::normalize(&mut v);
            vectors.push(v);
            let doc = ["d1", "d2", "d3", "d4"][i / 10];
            info.push(PassageInfo { document: doc, speaker: "S", content_words: 8, row: false });
        }
        info[39].content_words = 0;
        info[38].document = "d5";
        info[39].document = "d6";
        let params = Params { categories: 2, codes: 4, unit_words: 8, min_code: 2 };
        let t = two_level(&vectors, &info, &params, 7).unwrap();
        assert_eq!(t.codes[39], -1, "a lone passage without content words is not coded");
        assert_eq!(t.not_coded, 1);
        // The two directions are the two categories.
        let cat = |i: usize| t.category_of[t.codes[i] as usize];
        assert!((0..20).all(|i| cat(i) == cat(0)));
        assert!((20..39).all(|i| cat(i) == cat(20)));
        assert_ne!(cat(0), cat(20));
        assert_eq!(t, two_level(&vectors, &info, &params, 7).unwrap(), "deterministic");
    }

    #[test]
    fn categories_follow_topics_across_interviews_not_the_interviews() {
        // Four interviews, each with its own direction (its participant's way of speaking),
        // stronger than the two topics each of them talks about in turn.
        let mut vectors = Vec::new();
        let mut info = Vec::new();
        let mut topic = Vec::new();
        for d in 0..4 {
            for i in 0..40 {
                let mut v = vec![0f32; 12];
                v[d] = 1.0;
                v[4 + i / 20] = 0.7;
                v[6 + (i * 7 + d) % 6] = 0.1;
                crate::embed::normalize(&mut v);
                vectors.push(v);
                topic.push(i / 20);
                let document = ["d0", "d1", "d2", "d3"][d];
                info.push(PassageInfo { document, speaker: "S", content_words: 8, row: false });
            }
        }
        let params = Params { categories: 2, codes: 4, unit_words: 8, min_code: 2 };
        let t = two_level(&vectors, &info, &params, 7).unwrap();
        let cat = |i: usize| t.category_of[t.codes[i] as usize];
        // Away from where the topic changes (the units mix with their neighbours there).
        let clear = |i: usize| (3..17).contains(&(i % 40)) || (23..37).contains(&(i % 40));
        let agree = (0..160)
            .filter(|&i| clear(i))
            .filter(|&i| (cat(i) == cat(3)) == (topic[i] == topic[3]))
            .count();
        let clear_units = (0..160).filter(|&i| clear(i)).count();
        assert_eq!(
            agree, clear_units,
            "every unit away from a change of topic is in its topic's category"
        );
    }

    #[test]
    fn a_short_document_keeps_its_topic() {
        // Two units of one short document on one topic, each with a little of its own.
        let unit = |own: usize| {
            let mut v = vec![0f32; 6];
            v[0] = 1.0;
            v[own] = 0.3;
            crate::embed::normalize(&mut v);
            v
        };
        let doc = |document: &'static str, n: usize| {
            (0..n).map(move |i| (unit(1 + i % 5), document)).collect::<Vec<_>>()
        };
        for (n, centred) in [(UNITS_TO_CENTRE - 1, false), (UNITS_TO_CENTRE, true)] {
            let (mut vectors, docs): (Vec<Vec<f32>>, Vec<&str>) =
                doc("short", n).into_iter().unzip();
            let before = vectors[0][0];
            centre_documents(&mut vectors, &docs, &vec![false; n], DOCUMENT_CENTRING);
            // Centring weakens what the units share against what each has of its own.
            assert_eq!(vectors[0][0] < before - 0.02, centred, "{n} units");
            assert_eq!(vectors[0][0] == before, !centred, "{n} units");
        }
    }

    #[test]
    fn in_a_small_study_codes_gather_a_topic_across_interviews() {
        // Three interviews of twelve units, one category; each unit is about one of two topics
        // (alternating), and carries its interview's own direction (its speaker's way).
        let (mut vectors, mut info) = (Vec::new(), Vec::new());
        for (d, document) in ["a", "b", "c"].into_iter().enumerate() {
            for u in 0..12 {
                let mut v = vec![0f32; 8];
                v[0] = 1.0;
                v[1 + u % 2] = 0.5;
                v[3 + d] = 0.6;
                crate::embed::normalize(&mut v);
                vectors.push(v);
                info.push(PassageInfo { document, speaker: "S", content_words: 8, row: false });
            }
        }
        let params = Params { categories: 1, codes: 2, unit_words: 8, min_code: 2 };
        let t = two_level(&vectors, &info, &params, 7).unwrap();
        for code in 0..2 {
            let members: Vec<usize> = (0..info.len()).filter(|&i| t.codes[i] == code).collect();
            let topics: std::collections::BTreeSet<usize> = members.iter().map(|i| i % 2).collect();
            let documents: std::collections::BTreeSet<&str> =
                members.iter().map(|&i| info[i].document).collect();
            assert_eq!((topics.len(), documents.len()), (1, 3), "code {code}: {members:?}");
        }
        // Read with the context that makes the categories, the topics would be lost: each
        // unit's neighbours are of the other topic.
        let unit = units(&info, 8);
        let read = unit_vectors(&vectors, &info, &unit);
        let points: Vec<&[f32]> = read.iter().map(Vec::as_slice).collect();
        let labels = crate::cluster::annealed(&points, 2);
        assert!(
            (0..info.len()).any(|i| (0..info.len()).any(|j| i % 2 != j % 2
                && labels[i] == labels[j]
                && info[i].document == info[j].document)),
            "the categories' reading mixes the topics"
        );
    }

    #[test]
    fn in_a_large_study_every_code_spans_two_speakers() {
        // Three directions; the third is said by one speaker only, in a study of `speakers`.
        let study = |speakers: usize| {
            let names: Vec<String> = (0..speakers).map(|s| format!("d{s}")).collect();
            let names: &'static [String] = Box::leak(names.into_boxed_slice());
            let mut vectors = Vec::new();
            let mut info = Vec::new();
            for i in 0..3 * speakers {
                let mut v = vec![0f32; 8];
                v[i % 3] = 1.0;
                v[3 + i % 5] = 0.2;
                crate::embed::normalize(&mut v);
                vectors.push(v);
                let document = if i % 3 == 2 { "d0" } else { names[i % speakers].as_str() };
                info.push(PassageInfo { document, speaker: "S", content_words: 8, row: false });
            }
            let params = Params { categories: 1, codes: 3, unit_words: 8, min_code: 2 };
            let t = two_level(&vectors, &info, &params, 7).unwrap();
            let alone = t.codes[2];
            (0..info.len()).filter(|&i| t.codes[i] == alone).any(|i| info[i].document != "d0")
        };
        assert!(study(SPEAKERS_FOR_SHARED_CODES), "the one speaker's code joined another");
        assert!(!study(6), "a small study keeps it");
    }
}
