//! `make bench-cluster`: how terreno's default clustering agrees with human coding, beside
//! k-means told the true number of groups on the same embeddings (ARI, NMI; unassigned and not
//! coded passages counted as a group of their own):
//!
//! - SIB-200 Italian (1,004 sentences, 7 human topics) against the categories, seeds 7 and 42;
//! - the PDPilot interviews against the team's coding: top-level codes (7) against the
//!   categories, codes as applied (75) against the codes;
//! - label fidelity: each candidate's name, embedded as a query, retrieves the name of the
//!   human topic or code that holds most of its passages (top-1 among all), weighted by size,
//!   and what the best of each code's options would reach;
//! - all 67 ParlaTO interviews against the development coding of six of them
//!   (`tests/data/parlato-themes.tsv`): categories and codes against the themes, within an
//!   interview and across interviews;
//! - time and memory to cluster and name all 67 ParlaTO interviews (~20k passages) and ten
//!   copies of them (~200k).
//!
//! The embeddings come from a cache under `target/`, so only the first run embeds.

use std::path::Path;

use terreno::cluster::{cluster, cluster_passages, ClusterConfig, Clustering, Method};
use terreno::compare::metrics::agreement;
use terreno::embed::e5::E5;
use terreno::embed::Precision;
use terreno::embed::{Embedder, Prefix};
use terreno::pipeline::{name_candidates, passage_info, Vectors};

/// `n` unit vectors of `dim` around `topics` random directions, deterministic.
fn synthetic(n: usize, dim: usize, topics: usize) -> Vec<Vec<f32>> {
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..topics).map(|_| (0..dim).map(|_| next()).collect()).collect();
    (0..n)
        .map(|i| {
            let c = &centres[i % topics];
            let mut v: Vec<f32> = c.iter().map(|x| x + 0.6 * next()).collect();
            terreno::embed::normalize(&mut v);
            v
        })
        .collect()
}

mod corpora;

use corpora::Corpus;

/// Agreement over the passages that carry a label.
fn agree(labels: &[Option<String>], pred: &[i32]) -> (f64, f64) {
    let keep: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
    let t: Vec<&str> = keep.iter().map(|&i| labels[i].as_deref().unwrap()).collect();
    let p: Vec<i32> = keep.iter().map(|&i| pred[i]).collect();
    let a = agreement(&t, &p);
    (a.ari, a.nmi)
}

/// The share of passages (weighted by candidate size, or with `labelled` by the candidate's
/// labelled passages: for a coding of a few documents of many) whose candidate's name
/// retrieves, among all the human labels' names, the label that holds most of its passages:
/// for the codes, for the categories, and the ceiling for the codes (the share whose code
/// offers a phrase or key word that would retrieve it).
fn fidelity(
    corpus: &Corpus,
    labels: &[Option<String>],
    clustering: &Clustering,
    model: &E5,
    name_of: impl Fn(&str) -> String,
    labelled: bool,
) -> (f64, f64, f64) {
    let (candidates, categories) = name_candidates(
        &corpus.ingested.passages,
        corpus.ingested.language,
        &corpus.vectors,
        clustering,
        model,
    )
    .unwrap();
    let mut names: Vec<&str> = labels.iter().flatten().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let label_texts: Vec<String> = names.iter().map(|n| name_of(n)).collect();
    let refs: Vec<&str> = label_texts.iter().map(String::as_str).collect();
    let label_vecs = model.embed(&refs, Prefix::Query).unwrap();
    let verbose = std::env::var("TERRENO_BENCH_VERBOSE").is_ok();
    // The weight of a member passage: 1, or with `labelled` 1 only where it is labelled.
    let counts = |i: &usize| !labelled || labels[*i].is_some();
    // The human label that holds most of the members (the first by name on a tie).
    let majority = |members: &mut dyn Iterator<Item = usize>| {
        let mut votes: std::collections::BTreeMap<&str, usize> = Default::default();
        for t in members.filter_map(|i| labels[i].as_deref()) {
            *votes.entry(t).or_default() += 1;
        }
        votes.into_iter().max_by_key(|&(k, n)| (n, std::cmp::Reverse(k))).map(|(k, _)| k)
    };
    // The label name a vector retrieves.
    let retrieved = |v: &[f32]| {
        let best = (0..names.len())
            .max_by(|&a, &b| {
                terreno::embed::cosine(v, &label_vecs[a])
                    .total_cmp(&terreno::embed::cosine(v, &label_vecs[b]))
            })
            .unwrap();
        names[best]
    };
    // (name, the label of each passage: whether it is a member)
    let score = |groups: Vec<(&str, Vec<bool>)>| {
        let (mut hit, mut total) = (0usize, 0usize);
        for (name, member) in groups {
            let members = || member.iter().enumerate().filter(|(_, m)| **m).map(|(i, _)| i);
            let Some(major) = majority(&mut members()) else {
                if verbose {
                    println!("    {name:<40}   (no labelled member)");
                }
                continue;
            };
            let size = members().filter(counts).count();
            let got = retrieved(&model.embed(&[name], Prefix::Query).unwrap()[0]);
            total += size;
            if verbose {
                println!("    {name:<40} → {got:<30} (majority {major})");
            }
            if got == major {
                hit += size;
            }
        }
        hit as f64 / total.max(1) as f64
    };
    // The ceiling: the share of passages whose candidate has, among all the phrases and key
    // words a name is chosen from, one that retrieves its majority label (whether naming or
    // the clusters limit the figure).
    let (mut reachable, mut all) = (0usize, 0usize);
    for c in &candidates {
        let member: Vec<usize> =
            (0..labels.len()).filter(|&i| clustering.labels[i] == c.cluster).collect();
        let Some(major) = majority(&mut member.iter().copied()) else { continue };
        let size = member.iter().filter(|i| counts(i)).count();
        let options: Vec<&str> = c
            .in_vivo
            .iter()
            .chain(&c.phrases)
            .chain(&c.key_terms)
            .chain(&c.once)
            .map(String::as_str)
            .collect();
        all += size;
        if options.is_empty() {
            continue;
        }
        let vecs = model.embed(&options, Prefix::Query).unwrap();
        if vecs.iter().any(|v| retrieved(v) == major) {
            reachable += size;
        }
    }
    let ceiling = reachable as f64 / all.max(1) as f64;
    let codes = score(
        candidates
            .iter()
            .map(|c| {
                (c.label.as_str(), clustering.labels.iter().map(|&l| l == c.cluster).collect())
            })
            .collect(),
    );
    let passage_categories = clustering.categories();
    let cats = score(
        categories
            .iter()
            .map(|k| (k.name.as_str(), passage_categories.iter().map(|&l| l == k.index).collect()))
            .collect(),
    );
    (codes, cats, ceiling)
}

fn default_clustering(corpus: &Corpus, seed: u64) -> Clustering {
    let info = passage_info(&corpus.ingested.passages);
    cluster_passages(&corpus.vectors.query, &info, &corpus.config.cluster, seed).unwrap()
}

fn kmeans_true_k(corpus: &Corpus, k: usize, seed: u64) -> Vec<i32> {
    let cfg = ClusterConfig { method: Method::Kmeans, k, ..ClusterConfig::default() };
    cluster(&corpus.vectors.passage, &cfg, seed).unwrap().labels
}

/// The share of codes (and of their passages) that are mostly one speaker's (over 60%), and the
/// number of codes that are one speaker's only.
fn one_speaker(
    info: &[terreno::cluster::meaning::PassageInfo],
    c: &Clustering,
) -> (f64, f64, usize) {
    let k = c.n_clusters();
    let mut by: Vec<std::collections::BTreeMap<(&str, &str), usize>> = vec![Default::default(); k];
    for (i, &l) in c.labels.iter().enumerate() {
        if l >= 0 {
            *by[l as usize].entry((info[i].document, info[i].speaker)).or_default() += 1;
        }
    }
    let (mut codes, mut passages, mut all) = (0usize, 0usize, 0usize);
    let alone = by.iter().filter(|b| b.len() == 1).count();
    for b in &by {
        let n: usize = b.values().sum();
        all += n;
        if n > 0 && *b.values().max().unwrap() as f64 > 0.6 * n as f64 {
            codes += 1;
            passages += n;
        }
    }
    (100.0 * codes as f64 / k.max(1) as f64, 100.0 * passages as f64 / all.max(1) as f64, alone)
}

fn set_apart(c: &Clustering) -> f64 {
    100.0 * c.labels.iter().filter(|&&l| l < 0).count() as f64 / c.labels.len().max(1) as f64
}

/// ARI between two clusterings of the same passages: of their codes, of their categories.
fn same_clustering(a: &Clustering, b: &Clustering) -> (f64, f64) {
    let as_text = |l: &[i32]| l.iter().map(|v| Some(v.to_string())).collect::<Vec<_>>();
    (agree(&as_text(&a.labels), &b.labels).0, agree(&as_text(&a.categories()), &b.categories()).0)
}

/// The vectors, each moved by uniform noise of norm about `scale` and normalised again
/// (a fixed xorshift stream: the same noise every run).
fn perturbed(vectors: &[Vec<f32>], scale: f32) -> Vec<Vec<f32>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    vectors
        .iter()
        .map(|v| {
            let per = scale * 3f32.sqrt() * 2.0 / (v.len() as f32).sqrt();
            let mut v: Vec<f32> = v
                .iter()
                .map(|x| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    x + per * ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                })
                .collect();
            terreno::embed::normalize(&mut v);
            v
        })
        .collect()
}

fn mean_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter().zip(b).map(|(x, y)| terreno::embed::cosine(x, y) as f64).sum::<f64>() / a.len() as f64
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let model = E5::load(&terreno::embed::default_model_dir()).expect("run `make setup` first");
    if let Ok(dir) = std::env::var("TERRENO_DUMP") {
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        corpora::dump(&corpora::sib(&model), &dir.join("sib.parquet"));
        corpora::dump(&corpora::pdpilot(&model), &dir.join("pdpilot.parquet"));
        if std::env::var("TERRENO_DUMP_PARLATO").is_ok() {
            corpora::dump(&corpora::parlato(&model), &dir.join("parlato.parquet"));
        }
        return;
    }
    let flags: Vec<&str> = ["avx2", "avx512f", "fma"]
        .into_iter()
        .filter(|f| std::arch::is_x86_feature_detected!("avx2") && cpu_has(f))
        .collect();
    println!("multilingual-e5-small embeddings; CPU flags: {}", flags.join(" "));

    if std::env::var("TERRENO_BENCH_QUICK").is_ok_and(|q| q == "themes") {
        parlato_themes(&corpora::parlato(&model), &model);
        return;
    }

    let sib = corpora::sib(&model);
    let topics = &sib.labels[0].1;
    println!("\nSIB-200 Italian, 1004 sentences, 7 topics (categories against topics)");
    for seed in seeds() {
        let c = default_clustering(&sib, seed);
        let (ari, nmi) = agree(topics, &c.categories());
        let base = agree(topics, &kmeans_true_k(&sib, 7, seed));
        println!(
            "  seed {seed:>2}: default {:>2} categories, {:>3} codes, {:.1}% unassigned or not coded: ARI {ari:.3} NMI {nmi:.3}   k-means k = 7: ARI {:.3} NMI {:.3}",
            c.category_of.iter().max().map_or(0, |m| m + 1),
            c.n_clusters(),
            set_apart(&c),
            base.0,
            base.1
        );
    }
    for seed in seeds() {
        let c = default_clustering(&sib, seed);
        let (codes, cats, ceiling) = fidelity(&sib, topics, &c, &model, |n| n.to_string(), false);
        println!(
            "  seed {seed:>2}: label fidelity (names retrieve their majority topic): codes {:.1}% (best of their options {:.1}%), categories {:.1}%",
            100.0 * codes,
            100.0 * ceiling,
            100.0 * cats
        );
    }

    let pd = corpora::pdpilot(&model);
    let (top, leaf) = (&pd.labels[0].1, &pd.labels[1].1);
    println!("\nPDPilot interviews, {} passages, the team's coding", pd.ingested.passages.len());
    // How many of the team's own leaf codes are one speaker's: what "one speaker only" below
    // compares with.
    let info = passage_info(&pd.ingested.passages);
    let mut speakers: std::collections::BTreeMap<&str, std::collections::BTreeSet<(&str, &str)>> =
        Default::default();
    for (i, l) in leaf.iter().enumerate() {
        if let Some(l) = l {
            speakers.entry(l).or_default().insert((info[i].document, info[i].speaker));
        }
    }
    println!(
        "  the team's coding: {} of its {} leaf codes are one speaker's",
        speakers.values().filter(|s| s.len() == 1).count(),
        speakers.len()
    );
    for seed in seeds() {
        let c = default_clustering(&pd, seed);
        let (ta, tn) = agree(top, &c.categories());
        let (la, ln) = agree(leaf, &c.labels);
        let bt = agree(top, &kmeans_true_k(&pd, 7, seed));
        let bl = agree(leaf, &kmeans_true_k(&pd, 75, seed));
        println!(
            "  seed {seed:>2}: default {} categories, {} codes, {:.1}% set apart: top ARI {ta:.3} NMI {tn:.3}, leaf ARI {la:.3} NMI {ln:.3}",
            c.category_of.iter().max().map_or(0, |m| m + 1),
            c.n_clusters(),
            set_apart(&c)
        );
        println!(
            "           k-means k = 7 (top): ARI {:.3} NMI {:.3};  k = 75 (leaf): ARI {:.3} NMI {:.3}",
            bt.0, bt.1, bl.0, bl.1
        );
        let (codes, passages, alone) = one_speaker(&info, &c);
        println!(
            "           mostly one speaker: {codes:.0}% of codes, {passages:.0}% of passages; one speaker only: {alone} codes"
        );
    }
    let leaf_name = |n: &str| n.rsplit(" > ").next().unwrap_or(n).to_string();
    for seed in seeds() {
        let c = default_clustering(&pd, seed);
        let (leaf_codes, _, leaf_ceiling) = fidelity(&pd, leaf, &c, &model, leaf_name, false);
        let (top_codes, top_cats, top_ceiling) =
            fidelity(&pd, top, &c, &model, |n| n.to_string(), false);
        println!(
            "  seed {seed:>2}: label fidelity: codes' names retrieve their majority code {:.1}% (best of their options {:.1}%), their majority top-level code {:.1}% ({:.1}%); categories' names their majority top-level code {:.1}%",
            100.0 * leaf_codes,
            100.0 * leaf_ceiling,
            100.0 * top_codes,
            100.0 * top_ceiling,
            100.0 * top_cats
        );
    }

    // TERRENO_BENCH_QUICK: only the agreement above and ParlaTO once, or (`=agreement`) only
    // the agreement, or (`=stability`) the agreement and the int8 and noise figures (for
    // experiments).
    let quick = std::env::var("TERRENO_BENCH_QUICK").ok();
    if quick.as_deref().is_none_or(|q| q == "stability") {
        int8_against_f32(&sib, &pd);
    }
    if quick.as_deref().is_some_and(|q| q == "agreement" || q == "stability") {
        return;
    }
    let quick = quick.is_some();
    let parlato = corpora::parlato(&model);
    parlato_themes(&parlato, &model);
    // Time and memory: all of ParlaTO, then ten copies of it (each copy its own documents).
    for copies in if quick { vec![1usize] } else { vec![1, 10] } {
        let mut passages = Vec::new();
        let mut vectors = Vectors { passage: Vec::new(), query: Vec::new() };
        for n in 0..copies {
            for p in &parlato.ingested.passages {
                let mut p = p.clone();
                p.document_id = format!("{}#{n}", p.document_id);
                p.id = format!("{}#{n}", p.id);
                passages.push(p);
            }
            vectors.passage.extend(parlato.vectors.passage.iter().cloned());
            vectors.query.extend(parlato.vectors.query.iter().cloned());
        }
        let start = std::time::Instant::now();
        let info = passage_info(&passages);
        let c = cluster_passages(&vectors.query, &info, &parlato.config.cluster, 42).unwrap();
        let clustered = start.elapsed().as_secs_f64();
        let (candidates, cats) =
            name_candidates(&passages, parlato.ingested.language, &vectors, &c, &model).unwrap();
        let unit = terreno::cluster::meaning::units(&info, parlato.config.cluster.unit_words);
        let form = candidates
            .iter()
            .filter(|cand| median_content_words(&c, &info, &unit, cand.cluster) < 5.0)
            .count();
        println!(
            "\nParlaTO × {copies}: {} passages → {} categories, {} codes ({} form codes: median unit under 5 content words); clustered in {clustered:.1}s, named in {:.1}s; peak RSS {:.0} MiB",
            passages.len(),
            cats.len(),
            candidates.len(),
            form,
            start.elapsed().as_secs_f64() - clustered,
            terreno::run::peak_rss_mib().unwrap_or(f64::NAN)
        );
        if copies == 1 {
            let (codes, share, alone) = one_speaker(&info, &c);
            println!(
                "  mostly one speaker: {codes:.0}% of codes, {share:.0}% of passages; one speaker only: {alone} codes"
            );
        }
        if copies == 1 && (!quick || std::env::var("TERRENO_BENCH_VERBOSE").is_ok()) {
            for k in &cats {
                println!("  {} {} ({} passages)", k.id, k.name, k.size);
                for id in &k.codes {
                    let cand = candidates.iter().find(|x| &x.id == id).unwrap();
                    println!("      {} {} ({})", cand.id, cand.label, cand.size);
                }
            }
        }
    }
    if quick {
        return;
    }
    // Growth of the flat k-means with corpus size: synthetic unit vectors around 40 topics.
    let synthetic = synthetic(10_000, 384, 40);
    let start = std::time::Instant::now();
    let c = cluster(&synthetic, &ClusterConfig::default(), 42).unwrap();
    println!(
        "\nsynthetic 10000 × 384 vectors (each its own answer): {} codes in {:.1}s",
        c.n_clusters(),
        start.elapsed().as_secs_f64()
    );
}

/// All of ParlaTO clustered, against the development coding of six of its interviews
/// (`tests/data/parlato-themes.tsv`): categories and codes against the themes, beside k-means
/// told the number of themes on the same embeddings.
fn parlato_themes(parlato: &Corpus, model: &E5) {
    let themes = &parlato.labels[0].1;
    let named: std::collections::BTreeSet<&str> =
        themes.iter().flatten().map(String::as_str).collect();
    let coded: std::collections::BTreeSet<&str> = (0..themes.len())
        .filter(|&i| themes[i].is_some())
        .map(|i| parlato.ingested.passages[i].document_id.as_str())
        .collect();
    println!(
        "\nParlaTO, all 67 interviews clustered; the development coding of {} of them: {} passages, {} themes",
        coded.len(),
        themes.iter().flatten().count(),
        named.len()
    );
    // What knowing the interview alone gives: each interview one group.
    let mut documents: Vec<&str> =
        parlato.ingested.passages.iter().map(|p| p.document_id.as_str()).collect();
    documents.sort_unstable();
    documents.dedup();
    let by_document: Vec<i32> = parlato
        .ingested
        .passages
        .iter()
        .map(|p| documents.binary_search(&p.document_id.as_str()).unwrap() as i32)
        .collect();
    let (a, n) = agree(themes, &by_document);
    println!("  each interview one group: ARI {a:.3} NMI {n:.3}");
    small_study(model, parlato, themes, &coded);
    for seed in seeds() {
        let c = default_clustering(parlato, seed);
        let (ca, cn) = agree(themes, &c.categories());
        let (da, dn) = agree(themes, &c.labels);
        let km = kmeans_true_k(parlato, named.len(), seed);
        let base = agree(themes, &km);
        println!(
            "  seed {seed:>2}: categories ARI {ca:.3} NMI {cn:.3}, codes ARI {da:.3} NMI {dn:.3}   k-means k = {}: ARI {:.3} NMI {:.3}",
            named.len(),
            base.0,
            base.1
        );
        let (within, across) = within_and_across(parlato, themes, &c.categories());
        let (kw, kx) = within_and_across(parlato, themes, &km);
        println!(
            "           categories: within an interview ARI {within:.3}; across interviews, pairs of one theme in one category: F1 {across:.3}   k-means: {kw:.3}; {kx:.3}"
        );
        codebook_proposals(&parlato.vectors.passage, themes, &c, model);
        let (codes, cats, ceiling) = fidelity(parlato, themes, &c, model, |n| n.to_string(), true);
        println!(
            "           label fidelity (by coded passages): codes' names retrieve their majority theme {:.1}% (best of their options {:.1}%), categories' names {:.1}%",
            100.0 * codes,
            100.0 * ceiling,
            100.0 * cats
        );
    }
}

/// The coded interviews alone, as a small study of their own: categories and codes against
/// the themes, and how many codes are one speaker's.
fn small_study(
    model: &E5,
    parlato: &Corpus,
    themes: &[Option<String>],
    coded: &std::collections::BTreeSet<&str>,
) {
    let p = &parlato.ingested.passages;
    let keep: Vec<usize> =
        (0..p.len()).filter(|&i| coded.contains(p[i].document_id.as_str())).collect();
    let passages: Vec<_> = keep.iter().map(|&i| p[i].clone()).collect();
    let query: Vec<Vec<f32>> = keep.iter().map(|&i| parlato.vectors.query[i].clone()).collect();
    let labels: Vec<Option<String>> = keep.iter().map(|&i| themes[i].clone()).collect();
    let info = passage_info(&passages);
    println!("  the {} coded interviews alone ({} passages):", coded.len(), passages.len());
    for seed in seeds() {
        let c = cluster_passages(&query, &info, &parlato.config.cluster, seed).unwrap();
        let (ca, cn) = agree(&labels, &c.categories());
        let (da, dn) = agree(&labels, &c.labels);
        let (_, _, alone) = one_speaker(&info, &c);
        println!(
            "  seed {seed:>2}: {} categories, {} codes ({alone} one speaker's): categories ARI {ca:.3} NMI {cn:.3}, codes ARI {da:.3} NMI {dn:.3}",
            c.category_of.iter().max().map_or(0, |m| m + 1),
            c.n_clusters()
        );
        let pv: Vec<Vec<f32>> = keep.iter().map(|&i| parlato.vectors.passage[i].clone()).collect();
        codebook_proposals(&pv, &labels, &c, model);
    }
}

/// What knowing the interview cannot give: the ARI within each coded interview (weighted by
/// its passages), and, over pairs of passages from different interviews, the F1 of "in one
/// group" against "of one theme".
fn within_and_across(corpus: &Corpus, labels: &[Option<String>], pred: &[i32]) -> (f64, f64) {
    let p = &corpus.ingested.passages;
    let coded: Vec<usize> = (0..p.len()).filter(|&i| labels[i].is_some()).collect();
    let mut docs: Vec<&str> = coded.iter().map(|&i| p[i].document_id.as_str()).collect();
    docs.sort_unstable();
    docs.dedup();
    let all: Vec<i32> = coded.iter().map(|&i| pred[i]).collect();
    let mut within = 0.0;
    for d in &docs {
        let mine: Vec<Option<String>> = coded
            .iter()
            .map(|&i| if p[i].document_id == *d { labels[i].clone() } else { None })
            .collect();
        let n = mine.iter().flatten().count();
        within += agree(&mine, &all).0 * n as f64;
    }
    let (mut both, mut same_theme, mut same_group) = (0usize, 0usize, 0usize);
    for (x, &i) in coded.iter().enumerate() {
        for &j in &coded[x + 1..] {
            if p[i].document_id == p[j].document_id {
                continue;
            }
            let t = labels[i] == labels[j];
            let g = pred[i] == pred[j] && pred[i] >= 0;
            same_theme += t as usize;
            same_group += g as usize;
            both += (t && g) as usize;
        }
    }
    (within / coded.len() as f64, 2.0 * both as f64 / (same_theme + same_group).max(1) as f64)
}

/// int8 vectors against the f32 ones (the default): each corpus embedded by both and
/// clustered the same way; then, for scale, the f32 vectors against themselves with a little
/// noise (how much a clustering moves when its input moves by less than int8 moves it).
fn int8_against_f32(sib: &Corpus, pd: &Corpus) {
    let int8 = E5::load_at(&terreno::embed::default_model_dir(), Precision::Int8).unwrap();
    println!("\nint8 against f32 vectors: ARI between the two clusterings, every passage");
    for (name, reference, other) in
        [("SIB-200", sib, corpora::sib(&int8)), ("PDPilot", pd, corpora::pdpilot(&int8))]
    {
        for seed in seeds() {
            let info = passage_info(&reference.ingested.passages);
            let f32_clustering = default_clustering(reference, seed);
            let (codes, cats) = same_clustering(
                &f32_clustering,
                &cluster_passages(&other.vectors.query, &info, &reference.config.cluster, seed)
                    .unwrap(),
            );
            println!(
                "  {name:<8} seed {seed:>2}: int8 (mean cosine {:.5}): codes ARI {codes:.3}, categories ARI {cats:.3}",
                mean_cosine(&reference.vectors.query, &other.vectors.query)
            );
            let (codes, cats, units) =
                centres_held(reference, &f32_clustering, &other.vectors.query, &info);
            println!(
                "  {:<8} seed {seed:>2}: int8 with the f32 centres held: {codes} of {units} units of talk change code, {cats} category",
                ""
            );
            for scale in [0.003f32, 0.03] {
                let noisy = perturbed(&reference.vectors.query, scale);
                let (codes, cats) = same_clustering(
                    &f32_clustering,
                    &cluster_passages(&noisy, &info, &reference.config.cluster, seed).unwrap(),
                );
                println!(
                    "  {:<8} seed {seed:>2}: f32 + noise (mean cosine {:.5}): codes ARI {codes:.3}, categories ARI {cats:.3}",
                    "",
                    mean_cosine(&reference.vectors.query, &noisy)
                );
            }
        }
    }
}

/// The median content words of a code's units of talk.
fn median_content_words(
    c: &Clustering,
    info: &[terreno::cluster::meaning::PassageInfo],
    unit: &[usize],
    code: i32,
) -> f64 {
    let mut words: std::collections::BTreeMap<usize, usize> = Default::default();
    for (i, &l) in c.labels.iter().enumerate() {
        if l == code {
            *words.entry(unit[i]).or_default() += info[i].content_words;
        }
    }
    let mut w: Vec<usize> = words.into_values().collect();
    w.sort_unstable();
    if w.is_empty() {
        return 0.0;
    }
    w[w.len() / 2] as f64
}

fn cpu_has(flag: &str) -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.split_whitespace().any(|w| w == flag))
        .unwrap_or(false)
}

/// With the f32 clustering's code and category centres held, how many units of talk have
/// another nearest centre with the `other` vectors: what int8 itself moves, not the search
/// for centres.
fn centres_held(
    reference: &Corpus,
    c: &Clustering,
    other: &[Vec<f32>],
    info: &[terreno::cluster::meaning::PassageInfo],
) -> (usize, usize, usize) {
    use terreno::cluster::meaning::{unit_vectors, units};
    let unit = units(info, reference.config.cluster.unit_words);
    let a = unit_vectors(&reference.vectors.query, info, &unit);
    let b = unit_vectors(other, info, &unit);
    let moved = |labels: &[i32]| {
        let k = labels.iter().map(|&l| l + 1).max().unwrap_or(0) as usize;
        let mut of_unit = vec![-1i32; a.len()];
        for (i, &l) in labels.iter().enumerate() {
            of_unit[unit[i]] = l;
        }
        let centres = terreno::cluster::centroids(&a, &of_unit, k);
        let nearest = |v: &[f32]| {
            (0..k)
                .map(|j| (terreno::embed::cosine(v, &centres[j]), j))
                .max_by(|x, y| x.0.total_cmp(&y.0))
                .map(|x| x.1)
        };
        (0..a.len()).filter(|&u| of_unit[u] >= 0 && nearest(&a[u]) != nearest(&b[u])).count()
    };
    let coded = unit.iter().zip(&c.labels).filter(|(_, &l)| l >= 0);
    let units: std::collections::BTreeSet<usize> = coded.map(|(&u, _)| u).collect();
    (moved(&c.labels), moved(&c.categories()), units.len())
}

/// The seeds: 7 and 42, or (`TERRENO_BENCH_SEEDS=n`) 1 to n, for figures averaged over many.
fn seeds() -> Vec<u64> {
    match std::env::var("TERRENO_BENCH_SEEDS").ok().and_then(|v| v.parse::<u64>().ok()) {
        Some(n) => (1..=n).collect(),
        None => vec![7, 42],
    }
}

/// The sample codebook's codes each development theme belongs to (none: the codebook has no
/// code for it, and a candidate of that theme should be proposed as a new code).
fn theme_codes(theme: &str) -> &'static [&'static str] {
    match theme {
        "quartiere e città" => &["quartiere", "citta-che-cambia"],
        "lavoro" => &["lavoro"],
        "studio e scuola" => &["studio"],
        "tempo libero" | "viaggi" => &["tempo-libero"],
        "famiglia" => &["famiglia"],
        "lingua e dialetto" => &["lingua"],
        "storia e passato" => &["citta-che-cambia"],
        _ => &[],
    }
}

/// Candidates against the sample codebook (`data/sample-codebook.toml`), as `describe` matches
/// them: of the candidates with 5 coded passages or more and a theme holding half of them, how
/// many are proposed to fit a code, and how many of those fit the code of their theme (see
/// [`theme_codes`]); by `codebook.fit` alone and with `codebook.lead` as well (the default).
fn codebook_proposals(passage: &[Vec<f32>], themes: &[Option<String>], c: &Clustering, model: &E5) {
    use terreno::codebook::matching::rank;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample-codebook.toml");
    let book = terreno::codebook::Codebook::read(&path).unwrap();
    let codable: Vec<&terreno::codebook::Code> = book.codes.iter().filter(|c| c.codable).collect();
    let texts: Vec<String> =
        codable.iter().map(|c| terreno::codebook::code_text(&book, c)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let code_vecs = model.embed(&refs, Prefix::Query).unwrap();
    let centres = terreno::cluster::centred_centroids(passage, &c.labels, c.n_clusters());
    // (best similarity, the next code's, the best code is its theme's)
    let mut rows: Vec<(f32, f32, bool)> = Vec::new();
    let mut of_codebook = 0;
    for (cl, centre) in centres.iter().enumerate() {
        let mut n: std::collections::BTreeMap<&str, usize> = Default::default();
        for i in (0..c.labels.len()).filter(|&i| c.labels[i] == cl as i32) {
            if let Some(t) = &themes[i] {
                *n.entry(t).or_default() += 1;
            }
        }
        let coded: usize = n.values().sum();
        let Some((theme, most)) = n.into_iter().max_by_key(|x| x.1) else { continue };
        if coded < 5 || 2 * most < coded {
            continue;
        }
        let r = rank(centre, &code_vecs, 2);
        let want = theme_codes(theme);
        of_codebook += !want.is_empty() as usize;
        rows.push((r[0].1, r[1].1, want.contains(&codable[r[0].0].id.as_str())));
    }
    let d = terreno::config::CodebookConfig::default();
    let count = |rule: &dyn Fn(&(f32, f32, bool)) -> bool| {
        let fits: Vec<_> = rows.iter().filter(|r| rule(r)).collect();
        (fits.iter().filter(|r| r.2).count(), fits.len())
    };
    let (alone, alone_of) = count(&|r| r.0 >= d.fit);
    let (lead, lead_of) = count(&|r| d.fits(r.0, Some(r.1)));
    println!(
        "           sample codebook: {} candidates with a clear theme ({of_codebook} of a theme it has a code for), best code their theme's for {}; fit {:.2}: {alone} of {alone_of} proposals right; or {:.2} ahead of the next code (default): {lead} of {lead_of}",
        rows.len(),
        rows.iter().filter(|r| r.2).count(),
        d.fit,
        d.lead
    );
}
