//! The run directory contract: refusal to overwrite, determinism, config errors, help.

use crate::util::*;

#[test]
fn an_existing_run_is_not_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let input = shared("parlato/linear-orthographic/PTA002.txt");
    terreno()
        .args(["run", "--no-embed", "--quiet", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let before = std::fs::read(out.join("passages.parquet")).unwrap();
    terreno()
        .args(["run", "--no-embed", "--quiet", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("pass --force"));
    assert_eq!(std::fs::read(out.join("passages.parquet")).unwrap(), before);
    terreno()
        .args(["run", "--no-embed", "--quiet", "--force", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn input_order_and_threads_do_not_change_the_passages() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = ["PTA002", "PTA007", "PTB005"]
        .iter()
        .map(|f| shared(&format!("parlato/linear-orthographic/{f}.txt")))
        .collect();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    terreno()
        .args(["run", "--no-embed", "--quiet", "--threads", "1", "--out"])
        .arg(&a)
        .args(&files)
        .assert()
        .success();
    terreno()
        .args(["run", "--no-embed", "--quiet", "--threads", "2", "--out"])
        .arg(&b)
        .args(files.iter().rev())
        .assert()
        .success();
    assert_eq!(
        std::fs::read(a.join("passages.parquet")).unwrap(),
        std::fs::read(b.join("passages.parquet")).unwrap()
    );
}

#[test]
fn config_file_typos_are_errors_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "study.toml", b"seed = 1\n[segment]\nmax_word = 100\n");
    terreno()
        .args(["run", "--no-embed", "--quiet", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("r"))
        .arg(shared("parlato/linear-orthographic/PTA002.txt"))
        .assert()
        .code(3)
        .stderr(predicates::str::contains("study.toml line 3"))
        .stderr(predicates::str::contains("max_word"));
}

#[test]
fn the_sample_config_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    terreno()
        .args(["run", "--quiet", "--config"])
        .arg(root.join("data/sample.toml"))
        .arg("--out")
        .arg(&out)
        .arg(root.join("data/parlato"))
        .assert()
        .success();
    let df = passages(&out);
    let speakers = strings(&df, "speaker");
    assert!(speakers.iter().all(|s| !matches!(s.as_deref(), Some("TO999") | Some("TOR001"))));
    assert!(
        strings(&df, "languages").iter().all(Option::is_some),
        "metadata attached to every passage"
    );
}
