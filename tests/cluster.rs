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
    let cache = dir.path().join("cache");
    let run = |name: &str, threads: &str, files: &[std::path::PathBuf]| {
        let out = dir.path().join(name);
        terreno()
            .args(["run", "--quiet", "--threads", threads, "--config"])
            .arg(root.join("data/sample.toml"))
            .arg("--cache-dir")
            .arg(&cache)
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
    for f in ["clusters.parquet", "candidates.json", "candidates.md", "passages.parquet"] {
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
fn no_key_term_on_all_parlato_interviews_is_a_stopword_filler_or_backchannel() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("parlato");
    // Key terms come from the passages' words, whatever embedded them: the tiny embedder
    // clusters the 20k passages in seconds, where the model would take minutes.
    let opts = terreno::pipeline::RunOptions {
        inputs: vec![shared("parlato/linear-orthographic")],
        out: out.clone(),
        quiet: true,
        ..Default::default()
    };
    let tiny = terreno::embed::TinyEmbedder::default();
    terreno::pipeline::run(&terreno::config::Config::default(), &opts, Some(&tiny)).unwrap();
    let analyzer = terreno::text::Analyzer::new();
    let candidates: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("candidates.json")).unwrap()).unwrap();
    let candidates = candidates["candidates"].as_array().unwrap();
    assert!(candidates.len() >= 20, "{}", candidates.len());
    let backchannels = [
        "sì", "si", "no", "okay", "ok", "mhmh", "mh", "eh", "ehm", "ah", "boh", "cioè", "allora",
        "vabbè",
    ];
    for c in candidates {
        for t in c["key_terms"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            for w in t.split(' ') {
                assert!(
                    !analyzer.is_stopword(w) && !backchannels.contains(&w),
                    "{}: key term {t:?}",
                    c["id"]
                );
                assert_eq!(
                    analyzer.words(w),
                    [w.to_string()],
                    "{}: {t:?} is not a clean analysis word",
                    c["id"]
                );
            }
        }
    }
}

#[test]
fn the_sample_gives_named_codes_in_categories_at_both_levels() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    sample_run(&a, &[]);
    sample_run(&b, &["--seed", "7"]);
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("candidates.json")).unwrap()).unwrap();
    let candidates = file["candidates"].as_array().unwrap();
    let categories = file["categories"].as_array().unwrap();
    assert!(categories.len() >= 3 && candidates.len() >= 2 * categories.len(), "{file:#}");
    // Every code is in exactly one category, and the category lists it.
    for c in candidates {
        let k = categories.iter().filter(|k| k["index"] == c["category"]).count();
        assert_eq!(k, 1, "{}", c["id"]);
        let listed =
            categories.iter().filter(|k| k["codes"].as_array().unwrap().contains(&c["id"]));
        assert_eq!(listed.count(), 1, "{}", c["id"]);
    }
    // Names are phrases, mostly, and distinct.
    let names: Vec<&str> = candidates.iter().map(|c| c["label"].as_str().unwrap()).collect();
    let phrases = names.iter().filter(|n| n.contains(' ')).count();
    assert!(phrases * 10 >= names.len() * 7, "{names:?}");
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
    // candidates.md shows the tree first.
    let md = std::fs::read_to_string(a.join("candidates.md")).unwrap();
    assert!(md.contains(&format!("- **K01 {}**", categories[0]["name"].as_str().unwrap())));
}
