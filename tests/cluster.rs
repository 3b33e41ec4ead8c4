//! Clusters and candidate codes: determinism across thread counts and input order, the
//! artifacts' contract, and a single interview.

use crate::util::*;

#[test]
fn same_inputs_give_byte_identical_clusters_and_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("data/parlato"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    // Each run embeds everything itself (a cache of its own), with the default clustering (the
    // sample's config sets no counts), so the vectors, the counts and the clusters are each
    // computed twice, on 1 and on 2 threads, from inputs in opposite orders.
    let run = |name: &str, threads: &str, files: &[std::path::PathBuf]| {
        let out = dir.path().join(name);
        terreno()
            .args(["run", "--quiet", "--threads", threads, "--config"])
            .arg(root.join("data/sample.toml"))
            .arg("--cache-dir")
            .arg(dir.path().join(format!("cache-{name}")))
            .arg("--out")
            .arg(&out)
            .args(files)
            .assert()
            .success();
        out
    };
    let a = run("a", "1", &files);
    files.reverse();
    let b = run("b", "2", &files);
    for m in [manifest(&a), manifest(&b)] {
        assert_eq!(m["counts"]["embedded_cached"], 0, "each run embeds every passage");
        let c = &m["config"]["cluster"];
        assert_eq!((&c["k"], &c["codes"], &c["categories"]), (&0.into(), &0.into(), &0.into()));
    }
    for f in [
        "clusters.parquet",
        "candidates.json",
        "candidates.md",
        "passages.parquet",
        "embeddings.parquet",
        "other-codes.parquet",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    // The contract of the artifacts.
    let clusters = read_parquet(&a.join("clusters.parquet"));
    let passages = passages(&a);
    assert_eq!(strings(&clusters, "passage_id"), strings(&passages, "passage_id"));
    let labels: Vec<i32> =
        clusters.column("cluster").unwrap().i32().unwrap().into_no_null_iter().collect();
    let candidates: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("candidates.json")).unwrap()).unwrap();
    let candidates = candidates["candidates"].as_array().unwrap();
    assert!(candidates.len() >= 4, "{} candidates", candidates.len());
    let mut covered = 0;
    for c in candidates {
        let cluster = c["cluster"].as_i64().unwrap() as i32;
        let size = c["size"].as_u64().unwrap() as usize;
        assert_eq!(size, labels.iter().filter(|&&l| l == cluster).count());
        assert_eq!(c["passage_ids"].as_array().unwrap().len(), size);
        covered += size;
        let terms = c["key_terms"].as_array().unwrap();
        // Terms said at least twice: a small cluster may have fewer than five.
        assert!((1..=10).contains(&terms.len()), "{terms:?}");
        if size >= 20 {
            assert!(terms.len() >= 2, "{terms:?}");
        }
        let exemplars = c["exemplars"].as_array().unwrap();
        assert!((1..=5).contains(&exemplars.len()));
        assert!(!c["label"].as_str().unwrap().is_empty());
        // No stopword, filler or back-channel among the key terms.
        let analyzer = terreno::text::Analyzer::new();
        for t in terms {
            let t = t.as_str().unwrap();
            assert!(t.split(' ').all(|w| !analyzer.is_stopword(w)), "stopword in key term {t:?}");
            assert!(!["eh", "mh", "mhmh", "sì", "okay", "cioè", "allora"].contains(&t), "{t}");
        }
        // In-vivo phrases are said by at least two speakers of the cluster.
        for ph in c["in_vivo"].as_array().unwrap() {
            let ph = ph.as_str().unwrap();
            let ids: std::collections::BTreeSet<&str> =
                c["passage_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            let texts = strings(&passages, "text");
            let speakers = strings(&passages, "speaker");
            let pids = strings(&passages, "passage_id");
            let who: std::collections::BTreeSet<_> = (0..pids.len())
                .filter(|&i| ids.contains(pids[i].as_deref().unwrap()))
                .filter(|&i| analyzer.words(texts[i].as_deref().unwrap()).join(" ").contains(ph))
                .map(|i| speakers[i].clone())
                .collect();
            assert!(who.len() >= 2, "{ph:?} said by {who:?}");
        }
    }
    assert_eq!(covered, labels.iter().filter(|&&l| l >= 0).count());
}

#[test]
fn one_interview_still_gives_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("one");
    terreno()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(shared("parlato/linear-orthographic/PTA007.txt"))
        .assert()
        .success()
        .stdout(predicates::str::contains("C01"));
    let m = manifest(&out);
    assert!(m["clusters"]["clusters"].as_u64().unwrap() >= 2);
    assert!(out.join("candidates.md").exists());
}

#[test]
fn key_terms_are_the_words_that_set_a_candidate_apart_not_the_words_every_passage_shares() {
    // Two groups of answers: each says its own four words, and every answer also says the
    // same words twice (not stopwords: "persone", "tempo", "anni", "lavoro"). Key terms must
    // rank each group's own words first (counting words alone would put the shared ones
    // first), and never the other group's.
    let dir = tempfile::tempdir().unwrap();
    let own =
        [["ospedale", "medico", "terapia", "reparto"], ["scuola", "maestra", "compiti", "classe"]];
    let shared_words = ["persone", "tempo", "anni", "lavoro"];
    let mut csv = String::from("id,text\n");
    for i in 0..60 {
        let g = &own[i % 2];
        // The shared words twice: more frequent in each group than its own words.
        let mut words: Vec<&str> =
            g.iter().chain(shared_words.iter()).chain(shared_words.iter()).copied().collect();
        words.rotate_left(i % 7);
        csv.push_str(&format!("r{i},{} {}\n", words.join(" "), g[i % 4]));
    }
    let input = write(dir.path(), "answers.csv", csv);
    let out = dir.path().join("run");
    tiny_run(&[&input], &out, false, |c| {
        c.cluster.method = terreno::cluster::Method::Kmeans;
        c.cluster.k = 2;
    })
    .unwrap();
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("candidates.json")).unwrap()).unwrap();
    let candidates = file["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2, "{file:#}");
    for c in candidates {
        let terms: Vec<&str> =
            c["key_terms"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        let group = own.iter().position(|g| g.contains(&terms[0])).expect("a group's word first");
        let mut first: Vec<&str> = terms[..4].to_vec();
        first.sort();
        let mut want = own[group].to_vec();
        want.sort();
        assert_eq!(first, want, "{terms:?}");
        assert!(!terms.iter().any(|t| own[1 - group].contains(t)), "{terms:?}");
    }
}

#[test]
fn the_sample_gives_named_codes_in_categories_at_both_levels() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let printed = sample_run(&a, &[]);
    sample_run(&b, &["--seed", "7"]);
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("candidates.json")).unwrap()).unwrap();
    let candidates = file["candidates"].as_array().unwrap();
    let categories = file["categories"].as_array().unwrap();
    // The end of the run lists each category with its codes under it.
    let listing: Vec<&str> = printed
        .lines()
        .skip_while(|l| !l.starts_with("candidate open codes by category"))
        .skip(1)
        .take_while(|l| l.starts_with("  K") || l.starts_with("    C"))
        .collect();
    assert_eq!(listing.len(), categories.len() + candidates.len(), "{printed}");
    let mut under = "";
    for l in &listing {
        let id = l.split_whitespace().next().unwrap();
        if id.starts_with('K') {
            under = id;
            continue;
        }
        let category = categories.iter().find(|k| k["id"] == under).unwrap();
        assert!(category["codes"].as_array().unwrap().iter().any(|c| c == id), "{l} under {under}");
    }
    assert!(categories.len() >= 3 && candidates.len() >= 2 * categories.len(), "{file:#}");
    // Every code is in exactly one category, and the category lists it.
    for c in candidates {
        let k = categories.iter().filter(|k| k["index"] == c["category"]).count();
        assert_eq!(k, 1, "{}", c["id"]);
        let listed =
            categories.iter().filter(|k| k["codes"].as_array().unwrap().contains(&c["id"]));
        assert_eq!(listed.count(), 1, "{}", c["id"]);
    }
    // Names are phrases, mostly, and distinct. Measured: 14 of 21 (since the codes of a small
    // study span participants, `cluster::meaning::SMALL_STUDY_CODES`, a few more codes are
    // named by one key word, "milano", "olimpiadi"; 16 of 21 before).
    let names: Vec<&str> = candidates.iter().map(|c| c["label"].as_str().unwrap()).collect();
    let phrases = names.iter().filter(|n| n.contains(' ')).count();
    assert!(phrases * 3 >= names.len() * 2, "{names:?}");
    let distinct: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "{names:?}");
    // clusters.parquet has both levels, consistent with candidates.json.
    let df = read_parquet(&a.join("clusters.parquet"));
    let code: Vec<i32> = df.column("cluster").unwrap().i32().unwrap().into_no_null_iter().collect();
    let cat: Vec<i32> = df.column("category").unwrap().i32().unwrap().into_no_null_iter().collect();
    for (c, k) in code.iter().zip(&cat) {
        let cand = candidates.iter().find(|x| x["cluster"] == *c).unwrap();
        assert_eq!(cand["category"], *k);
    }
    // Another seed: the same number of categories, nearly the same number of codes.
    let other: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("candidates.json")).unwrap()).unwrap();
    assert_eq!(other["categories"].as_array().unwrap().len(), categories.len());
    let n = other["candidates"].as_array().unwrap().len() as f64;
    assert!((n - candidates.len() as f64).abs() <= 0.2 * candidates.len() as f64, "{n}");
    // Italian transcripts are read as Italian, and the manifest says so.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["counts"]["language"], "it");
    // candidates.md shows the tree first.
    let md = std::fs::read_to_string(a.join("candidates.md")).unwrap();
    assert!(md.contains(&format!("- **K01 {}**", categories[0]["name"].as_str().unwrap())));
}
