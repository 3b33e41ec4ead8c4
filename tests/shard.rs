//! Sharded runs: `run --shard I/N` then `merge` write what an unsharded run writes, byte for
//! byte, and a merge refuses shards that are missing, unfinished or of another run.

use std::path::Path;

use crate::util::*;

fn shard(out: &Path, cache: &Path, i: usize, n: usize, extra: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    terreno()
        .args(["run", "--quiet", "--cache-dir"])
        .arg(cache)
        .arg("--config")
        .arg(root.join("data/sample.toml"))
        .arg("--out")
        .arg(out)
        .arg("--shard")
        .arg(format!("{i}/{n}"))
        .args(extra)
        .arg(root.join("data/parlato"))
        .assert()
        .success();
}

fn merge(out: &Path) -> assert_cmd::assert::Assert {
    terreno().args(["merge", "--quiet"]).arg(out).assert()
}

#[test]
fn sharded_runs_merge_into_the_unsharded_run_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    sample_run(&whole, &[]);
    // The shards embed with a cache of their own, so nothing they use comes from the whole run.
    let cache = dir.path().join("shard-cache");
    for n in 1..=3 {
        let out = dir.path().join(format!("sharded-{n}"));
        for i in 1..=n {
            shard(&out, &cache, i, n, &[]);
        }
        merge(&out).success();
        for name in
            ["clusters.parquet", "candidates.json", "embeddings.parquet", "passages.parquet"]
        {
            assert!(
                std::fs::read(out.join(name)).unwrap() == std::fs::read(whole.join(name)).unwrap(),
                "{name} of the run merged from {n} shards differs from the unsharded run's"
            );
        }
        let documents: usize = (1..=n)
            .map(|i| {
                manifest(&out.join(format!("shards/{i}")))["counts"]["documents"].as_u64().unwrap()
                    as usize
            })
            .sum();
        assert_eq!(documents, 6);
    }
}

#[test]
fn a_merge_refuses_missing_unfinished_and_foreign_shards() {
    let dir = tempfile::tempdir().unwrap();
    let cache = test_cache();
    let out = dir.path().join("run");
    merge(&out).code(1).stderr(predicates::str::contains("no finished shard"));
    shard(&out, &cache, 1, 3, &[]);
    shard(&out, &cache, 3, 3, &[]);
    merge(&out).code(1).stderr(predicates::str::contains("shard 2/3 missing"));
    // Shard 2 with another seed is another run.
    shard(&out, &cache, 2, 3, &["--seed", "8"]);
    merge(&out).code(1).stderr(predicates::str::contains("shard 2/3 was run with other settings"));
    shard(&out, &cache, 2, 3, &["--force"]);
    // A shard stopped half-way is named, with its last stage.
    let m = out.join("shards/3/manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.replace("\"state\": \"finished\"", "\"state\": \"running\"")).unwrap();
    merge(&out).code(1).stderr(predicates::str::contains("shard 3/3 did not finish"));
    std::fs::write(&m, text).unwrap();
    merge(&out).success();
    assert_eq!(manifest(&out)["state"], "finished");
}
