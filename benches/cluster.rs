//! `make bench-cluster`: on SIB-200 Italian (1,004 sentences, 7 human topics), the agreement of
//! terreno's default clustering with the topics (ARI, NMI, V-measure; unassigned sentences
//! counted as one group of their own) and its outlier fraction, beside k-means with k = 7 on
//! the same embeddings. The embeddings come from a cache under `target/`, so only the first
//! run embeds.

use std::path::Path;

use terreno::cluster::{cluster, ClusterConfig, Method};
use terreno::compare::metrics::agreement;
use terreno::config::Config;
use terreno::embed::cache::Cache;
use terreno::embed::e5::E5;
use terreno::embed::Prefix;
use terreno::pipeline::ingest_and_segment;
use terreno::progress::Progress;

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

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sib = root.join("../shared/data/sib200-ita");
    let mut config = Config::default();
    config.ingest.id_column = "index_id".into();
    let inputs = ["train.tsv", "dev.tsv", "test.tsv"].map(|f| sib.join(f));
    let ingested =
        ingest_and_segment(&config, &inputs, false, Progress::new(true)).expect("SIB-200");
    let passages = &ingested.passages;
    assert_eq!(passages.len(), 1004);
    let topics: Vec<String> = passages
        .iter()
        .map(|p| {
            let row = p.row.as_ref().expect("table rows");
            row.extra
                .iter()
                .find(|(k, _)| k == "category")
                .and_then(|(_, v)| v.clone())
                .expect("category")
        })
        .collect();
    let model = E5::load(&terreno::embed::default_model_dir()).expect("run `make setup` first");
    let mut cache = Cache::open(&root.join("target/bench-cache"), &model, Prefix::Passage).unwrap();
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let (vectors, _) = cache.embed(&model, &texts, Prefix::Passage, 1024, |_| {}).unwrap();
    cache.save().unwrap();

    let report = |name: &str, cfg: &ClusterConfig| {
        let c = cluster(&vectors, cfg, config.seed).unwrap();
        let unassigned = c.labels.iter().filter(|&&l| l < 0).count();
        let a = agreement(&topics, &c.labels);
        let kept: Vec<usize> = (0..c.labels.len()).filter(|&i| c.labels[i] >= 0).collect();
        let b = agreement(
            &kept.iter().map(|&i| topics[i].clone()).collect::<Vec<_>>(),
            &kept.iter().map(|&i| c.labels[i]).collect::<Vec<_>>(),
        );
        println!(
            "{name:<34} clusters {:>3}  outliers {:>5.1}%  ARI {:.3}  NMI {:.3}  V {:.3}   (assigned only: ARI {:.3} NMI {:.3})",
            c.n_clusters(),
            100.0 * unassigned as f64 / c.labels.len() as f64,
            a.ari,
            a.nmi,
            a.v_measure,
            b.ari,
            b.nmi
        );
    };
    println!("SIB-200 Italian, 1004 sentences, 7 topics; multilingual-e5-small embeddings");
    report("terreno default (k-means, silhouette k)", &config.cluster);
    let hdb = ClusterConfig { method: Method::Hdbscan, dims: 10, ..config.cluster.clone() };
    report("HDBSCAN on 10 PCA dims, attached", &hdb);
    report("HDBSCAN on 10 PCA dims", &ClusterConfig { attach_outliers: 1.0, ..hdb });
    report(
        "k-means, k = 7",
        &ClusterConfig { method: Method::Kmeans, k: 7, dims: 0, ..config.cluster.clone() },
    );
    // Growth with corpus size: synthetic unit vectors around 40 topic directions.
    for n in [10_000usize, 50_000] {
        let synthetic = synthetic(n, vectors[0].len(), 40);
        let start = std::time::Instant::now();
        let c = cluster(&synthetic, &config.cluster, config.seed).unwrap();
        println!(
            "synthetic {n:>6} × {} vectors: {:>3} clusters in {:>6.1}s, peak RSS so far {:.0} MiB",
            synthetic[0].len(),
            c.n_clusters(),
            start.elapsed().as_secs_f64(),
            terreno::run::peak_rss_mib().unwrap_or(f64::NAN)
        );
    }
    if std::env::var("TERRENO_SWEEP_K").is_ok() {
        for dims in [0usize, 10, 20, 50] {
            for k in [4usize, 5, 6, 7, 8, 10, 12, 15, 20, 30] {
                let cfg =
                    ClusterConfig { method: Method::Kmeans, dims, k, ..config.cluster.clone() };
                let c = cluster(&vectors, &cfg, config.seed).unwrap();
                let a = agreement(&topics, &c.labels);
                let s = terreno::cluster::silhouette(&vectors, &c.labels, 1004);
                println!(
                    "kmeans dims {dims:>2} k {k:>2}: silhouette {s:.4}  ARI {:.3} NMI {:.3}",
                    a.ari, a.nmi
                );
            }
        }
    }
    if let Ok(sweep) = std::env::var("TERRENO_SWEEP") {
        for dims in [0usize, 5, 10, 20, 50] {
            for mcs in sweep.split(',').filter_map(|s| s.parse::<usize>().ok()) {
                for ms in [0usize, 1, 3, 5, 10] {
                    let cfg = ClusterConfig {
                        dims,
                        min_cluster_size: mcs,
                        min_samples: ms,
                        attach_outliers: 1.0,
                        ..config.cluster.clone()
                    };
                    report(&format!("dims {dims} mcs {mcs} ms {ms}"), &cfg);
                }
            }
        }
    }
}
