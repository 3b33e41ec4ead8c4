//! The manual coding: PDPilot's coded segments placed back on its transcripts and compared
//! with the clusters; the REFI-QDA export validated and read back; spans and errors.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use terreno::manual::{self, align::Target, Level};

use crate::util::*;

#[test]
fn pdpilot_coded_segments_are_placed_and_compared_at_both_levels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let pd = shared("pdpilot-interviews");
    let assert = terreno()
        .args(["run", "--quiet", "--role", "Dan=interviewer", "--cache-dir"])
        .arg(test_cache())
        .arg("--manual")
        .arg(pd.join("coded_segments.tsv"))
        .arg("--out")
        .arg(&out)
        .arg(pd.join("transcripts"))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("top-level codes (7)") && stdout.contains("leaf codes"), "{stdout}");
    assert!(stdout.contains("kappa") && stdout.contains("AC1"), "{stdout}");

    let c: Value =
        serde_json::from_slice(&std::fs::read(out.join("comparison.json")).unwrap()).unwrap();
    assert_eq!(c["segments"], 241);
    let placed = c["placed"].as_u64().unwrap();
    let unplaced = c["unplaced"].as_array().unwrap();
    println!("PDPilot: {placed} of 241 placed ({} fuzzy)", c["placed_fuzzy"]);
    for u in unplaced {
        println!("  not placed: {} {} {}", u["at"], u["document"], u["reason"]);
        assert!(!u["reason"].as_str().unwrap().is_empty());
    }
    assert!(placed as f64 >= 0.95 * 241.0, "{placed} placed");
    assert_eq!(placed as usize + unplaced.len(), 241, "every segment placed or reported");
    for level in ["top", "leaf"] {
        let l = &c[level];
        let rows = l["table"].as_array().unwrap();
        assert_eq!(rows.len(), l["codes"].as_u64().unwrap() as usize);
        assert_eq!(l["table_codes"].as_array().unwrap().len(), rows.len());
        let cols = l["table_clusters"].as_array().unwrap().len();
        assert!(rows.iter().all(|r| r.as_array().unwrap().len() == cols));
        let ari = l["partition_unassigned_as_group"]["ari"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&ari));
        for k in l["per_code"].as_array().unwrap() {
            let r = &k["reliability"];
            assert!(
                r["kappa_ci"]["low"].as_f64().unwrap() <= r["kappa_ci"]["high"].as_f64().unwrap()
            );
        }
    }
    assert_eq!(c["top"]["codes"], 7);
    assert!(c["leaf"]["codes"].as_u64().unwrap() >= 70);
    // English transcripts are read as English: no key term is an English function word, nor
    // does a name start or end with one ("like · of · this" was a name before the language
    // was detected).
    assert!(stdout.contains("read as English"), "{stdout}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["counts"]["language"], "en");
    let cands: Value =
        serde_json::from_slice(&std::fs::read(out.join("candidates.json")).unwrap()).unwrap();
    let fillers = ["the", "of", "this", "and", "like", "yeah", "think", "was", "we", "it"];
    for cand in cands["candidates"].as_array().unwrap() {
        let name = cand["label"].as_str().unwrap();
        let words: Vec<&str> = name.split(' ').collect();
        let ends = [words[0], words[words.len() - 1]];
        assert!(ends.iter().all(|w| !fillers.contains(w)), "name {name:?}");
        for t in cand["key_terms"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            assert!(t.split(' ').all(|w| !fillers.contains(&w)), "{name}: key term {t:?}");
        }
    }
    // `terreno compare` on the finished run gives the same numbers.
    terreno()
        .args(["compare", "--level", "leaf", "--manual"])
        .arg(pd.join("coded_segments.tsv"))
        .arg(&out)
        .assert()
        .success()
        .stdout(predicates::str::contains("leaf codes"));
    let again: Value =
        serde_json::from_slice(&std::fs::read(out.join("comparison.json")).unwrap()).unwrap();
    assert_eq!(again["leaf"]["overall"], c["leaf"]["overall"]);
}

/// Each placed quote covers its own text: the same 8-letter pieces, about the same length.
#[test]
fn placed_quotes_cover_their_own_text() {
    let pd = shared("pdpilot-interviews");
    let tsv = std::fs::read_to_string(pd.join("coded_segments.tsv")).unwrap();
    let mut targets = std::collections::BTreeMap::new();
    // Letters only: the span may take in runs of PDF line numbers the quote left out.
    let reduce = |s: &str| -> Vec<char> {
        s.chars().filter(|c| c.is_alphabetic()).flat_map(char::to_lowercase).collect()
    };
    let (mut placed, mut checked) = (0, 0);
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let text = std::fs::read_to_string(pd.join(format!("transcripts/{}.txt", f[0]))).unwrap();
        let target = targets.entry(f[0].to_string()).or_insert_with(|| Target::new(&text));
        let Ok(p) = target.place(f[2], manual::MIN_SCORE, None) else { continue };
        placed += 1;
        let span: String = text.chars().skip(p.start).take(p.end - p.start).collect();
        let (a, b) = (reduce(&span), reduce(f[2]));
        let grams: std::collections::HashSet<&[char]> = a.windows(8).collect();
        let found = b.windows(8).step_by(4).filter(|g| grams.contains(g)).count();
        let total = b.windows(8).step_by(4).count().max(1);
        // The span may include a speaker label the quote skipped, not much more.
        let ratio = a.len() as f64 / b.len() as f64;
        assert!(
            found as f64 / total as f64 >= 0.5,
            "{}: {found}/{total}",
            &f[2][..40.min(f[2].len())]
        );
        assert!((0.7..=1.4).contains(&ratio), "{ratio}: {span}");
        checked += 1;
    }
    assert!(placed >= 229 && checked == placed);
}

#[test]
fn spans_are_checked_and_bad_rows_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut texts = manual::Texts::new();
    texts.insert("P1".into(), "Città e paesi: è così, più o meno.".into());
    let ok = write(
        dir.path(),
        "spans.csv",
        "document,start,end,code\nP1.txt,0,5,Luoghi > Città\nP1,20,99,Luoghi\nP9,0,3,Luoghi\n",
    );
    let coding = manual::load(&ok, &texts).unwrap();
    assert_eq!(coding.total, 3);
    assert_eq!(coding.segments.len(), 1);
    assert_eq!((coding.segments[0].start, coding.segments[0].end), (0, 5));
    assert_eq!(coding.segments[0].code, "Luoghi > Città");
    let reasons: Vec<&str> = coding.unplaced.iter().map(|u| u.reason.as_str()).collect();
    assert!(
        reasons[0].contains("not inside P1") && reasons[1].contains("no document \"P9\""),
        "{reasons:?}"
    );
    assert_eq!(coding.unplaced[0].at, "line 3");
    let bad = write(dir.path(), "bad.csv", "document,start,end,code\nP1,0,5,A\nP1,x,5,A\n");
    let err = manual::load(&bad, &texts).unwrap_err().to_string();
    assert!(err.contains("bad.csv line 3") && err.contains("\"x\""), "{err}");
    let nocols = write(dir.path(), "no.csv", "file,label\nP1,A\n");
    let err = manual::load(&nocols, &texts).unwrap_err().to_string();
    assert!(err.contains("no.csv line 1") && err.contains("`code`"), "{err}");
}

#[test]
fn the_atlas_ti_sample_project_imports() {
    let mut texts = manual::Texts::new();
    texts.insert("P1".into(), "testo".into());
    let coding = manual::load(&shared("../refi-qda/sample-atlas-project.qdpx"), &texts).unwrap();
    let book = coding.codebook.unwrap();
    assert_eq!(book.codes.len(), 3);
    assert_eq!(book.path(&book.codes[1].id), "Commits > 2022-05-10T02:05:59Z 19e4dce");
    assert_eq!(coding.total, 0);
}

/// The bundled sample run, reviewed (C01 confirmed under an accented name, C02 rejected).
fn reviewed_sample(dir: &Path) -> PathBuf {
    let run = dir.join("sample");
    sample_run(&run, &[]);
    let script = write(
        dir,
        "d.toml",
        "[[decision]]\ncandidate = \"C01\"\naction = \"confirm\"\nname = \"Sere in città: perché sì\"\n\n\
         [[decision]]\ncandidate = \"C02\"\naction = \"reject\"\nreason = \"rumore\"\n",
    );
    terreno().args(["review", "--decisions"]).arg(&script).arg(&run).assert().success();
    run
}

#[test]
fn the_qdpx_export_validates_and_reads_back_as_exported() {
    let dir = tempfile::tempdir().unwrap();
    let run = reviewed_sample(dir.path());
    let qdpx = dir.path().join("progetto è.qdpx");
    let qdc = dir.path().join("codebook.qdc");
    terreno()
        .args(["export"])
        .arg(&run)
        .arg("--qdpx")
        .arg(&qdpx)
        .arg("--qdc")
        .arg(&qdc)
        .assert()
        .success()
        .stdout(predicates::str::contains("6 sources"));
    xmllint("Codebook.xsd", &qdc);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&qdpx).unwrap()).unwrap();
    let mut qde = String::new();
    zip.by_name("project.qde").unwrap().read_to_string(&mut qde).unwrap();
    let qde_path = write(dir.path(), "project.qde", &qde);
    xmllint("Project-mrt2019.xsd", &qde_path);
    assert!(qde.contains("name=\"Sere in città: perché sì\""));
    // Exporting again gives the same bytes.
    let again = dir.path().join("again.qdpx");
    terreno().args(["export"]).arg(&run).arg("--qdpx").arg(&again).assert().success();
    assert_eq!(std::fs::read(&qdpx).unwrap(), std::fs::read(&again).unwrap());

    // Read back as a manual coding: exactly the passages and codes exported.
    let texts = terreno::run::RunDir::new(&run).texts().unwrap();
    let coding = manual::load(&qdpx, &texts).unwrap();
    assert!(coding.unplaced.is_empty() && coding.fuzzy == 0);
    let passages = terreno::export::run_passages(&run).unwrap();
    let candidates: Value =
        serde_json::from_slice(&std::fs::read(run.join("candidates.json")).unwrap()).unwrap();
    let label_of = |cluster: i32| -> Option<String> {
        let c = candidates["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["cluster"] == cluster)?;
        match c["id"].as_str().unwrap() {
            "C01" => Some("Sere in città: perché sì".to_string()),
            "C02" => None,
            // Candidates are nested in their category.
            id => {
                let k = candidates["categories"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|k| k["index"] == c["category"])
                    .unwrap();
                Some(format!(
                    "terreno candidates > {} {} > {id} {}",
                    k["id"].as_str().unwrap(),
                    k["name"].as_str().unwrap(),
                    c["label"].as_str().unwrap()
                ))
            }
        }
    };
    let mut expected: Vec<manual::CodedSegment> = passages
        .iter()
        .filter_map(|p| {
            label_of(p.cluster).map(|code| manual::CodedSegment {
                document: p.document.clone(),
                start: p.start,
                end: p.end,
                code,
            })
        })
        .collect();
    expected.sort();
    assert_eq!(coding.segments, expected);
    assert!(coding.segments.iter().any(|s| s.code == "Sere in città: perché sì"));
    // The sources inside are the run's texts, accents intact.
    let mut inside = 0;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        if f.name().starts_with("sources/") {
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            assert!(texts.values().any(|t| *t == s));
            inside += 1;
        }
    }
    assert_eq!(inside, 6);
    // And compared with itself, the clusters agree perfectly.
    let out = terreno()
        .args(["compare", "--bootstrap", "50", "--level", "top", "--manual"])
        .arg(&qdpx)
        .arg(&run)
        .assert()
        .success();
    let c: Value =
        serde_json::from_slice(&std::fs::read(run.join("comparison.json")).unwrap()).unwrap();
    let one = |v: &Value| (v.as_f64().unwrap() - 1.0).abs() < 1e-9;
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(one(&c["leaf"]["partition_unassigned_as_group"]["ari"]), "{stdout}");
    assert!(one(&c["leaf"]["overall"]["kappa"]) && one(&c["leaf"]["overall"]["ac1"]), "{stdout}");
    assert_eq!(c["top"]["level"], serde_json::to_value(Level::Top).unwrap());
}
