//! The run directory has one owner: unique document ids, nothing left from an earlier run,
//! no half-written run read as finished, one process at a time, never inside the inputs, and
//! no review decision lost. Runs here use the library's pipeline with the tiny embedder (the
//! real model's runs are in the other files), then the real binary on the results.

use std::path::{Path, PathBuf};

use serde_json::Value;
use terreno::run::RunDir;

use crate::util::*;

fn parlato(id: &str) -> PathBuf {
    shared(&format!("parlato/linear-orthographic/{id}.txt"))
}

/// Copies ParlaTO interviews to `dir/<rel>`.
fn study(dir: &Path, files: &[(&str, &str)]) {
    for (rel, id) in files {
        let to = dir.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(parlato(id), &to).unwrap();
    }
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .unwrap()
}

#[test]
fn two_sites_with_the_same_file_names_stay_apart_through_export_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("study");
    let files = [
        ("siteA/interviews/P1.txt", "PTA002"),
        ("siteB/interviews/P1.txt", "PTA007"),
        ("siteA/interviews/P2.txt", "PTB005"),
        ("siteA/interviews/P2.TXT", "PTD013"),
    ];
    study(&data, &files);
    let out = dir.path().join("run");
    tiny_run(&[data.join("siteA"), data.join("siteB")], &out, false, |_| {}).unwrap();

    let m = manifest(&out);
    let ids: Vec<&str> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["document_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["P2.TXT", "P2.txt", "siteA/interviews/P1", "siteB/interviews/P1"]);
    let df = passages(&out);
    let doc_ids = strings(&df, "document_id");
    let source_paths = strings(&df, "source_path");
    for (rel, original) in files {
        let id = ids
            .iter()
            .find(|id| {
                let rel = format!("/{rel}");
                rel.ends_with(&format!("/{id}")) || rel.ends_with(&format!("/{id}.txt"))
            })
            .unwrap();
        // Its own canonical text, under its own name.
        let text = std::fs::read_to_string(out.join("sources").join(format!("{id}.txt"))).unwrap();
        assert_eq!(text, std::fs::read_to_string(parlato(original)).unwrap(), "{id}");
        // Every passage of it names its own file.
        let mine: Vec<usize> =
            (0..df.height()).filter(|&i| doc_ids[i].as_deref() == Some(*id)).collect();
        assert!(!mine.is_empty(), "{id} has passages");
        for i in mine {
            assert!(source_paths[i].as_deref().unwrap().ends_with(rel), "{:?}", source_paths[i]);
        }
    }
    let passage_ids = strings(&df, "passage_id");
    let unique: std::collections::BTreeSet<_> = passage_ids.iter().collect();
    assert_eq!(unique.len(), passage_ids.len(), "passage ids are unique");

    // The run's own export, compared with the run, gives every passage back with its code.
    let qdpx = dir.path().join("run.qdpx");
    terreno().args(["export"]).arg(&out).arg("--qdpx").arg(&qdpx).assert().success();
    terreno().args(["compare"]).arg(&out).arg("--manual").arg(&qdpx).assert().success();
    let c = json(&out.join("comparison.json"));
    let assigned =
        terreno::run::RunDir::new(&out).vectors().unwrap().1.iter().filter(|&&l| l >= 0).count();
    assert_eq!(c["unplaced"].as_array().unwrap().len(), 0, "{}", c["unplaced"]);
    assert_eq!(c["passages_coded"].as_u64().unwrap() as usize, assigned);
    let ari = c["leaf"]["partition_unassigned_left_out"]["ari"].as_f64().unwrap();
    assert!((ari - 1.0).abs() < 1e-9, "ARI {ari}");
}

/// A spans coding of the first passages of `doc`.
fn spans_coding(dir: &Path, doc: &str) -> PathBuf {
    write(
        dir,
        "coding.csv",
        format!("document,start,end,code\n{doc},0,400,Lavoro\n{doc},400,900,Casa\n"),
    )
}

#[test]
fn force_over_an_earlier_run_leaves_none_of_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("study");
    study(&data, &[("P1.txt", "PTA002"), ("P2.txt", "PTA007")]);
    let out = dir.path().join("run");
    let coding = spans_coding(dir.path(), "P1");
    let book = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample-codebook.toml");
    tiny_run(&[&data], &out, false, |c| {
        c.compare.manual = Some(coding.clone());
        c.codebook.path = Some(book.clone());
    })
    .unwrap();
    for f in ["comparison.json", "suggestions.parquet", "sources/P2.txt", "sources/P1.txt"] {
        assert!(out.join(f).exists(), "{f}");
    }
    // A file the analyst put there is not the run's to remove.
    write(&out, "notes.md", "mie note");
    // Without --force nothing changes.
    let err = tiny_run(&[data.join("P1.txt")], &out, false, |_| {}).unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    assert!(out.join("sources/P2.txt").exists());

    // P2 withdrew consent: the study goes on without it, and without the manual coding.
    tiny_run(&[data.join("P1.txt")], &out, true, |_| {}).unwrap();
    for f in ["comparison.json", "suggestions.parquet", "sources/P2.txt"] {
        assert!(!out.join(f).exists(), "{f} is left from the earlier run");
    }
    assert!(out.join("sources/P1.txt").exists());
    assert_eq!(std::fs::read_to_string(out.join("notes.md")).unwrap(), "mie note");
    terreno().arg("report").arg(&out).assert().success();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("Lavoro"), "the report shows the old comparison");
    let qdpx = dir.path().join("x.qdpx");
    terreno().arg("export").arg(&out).arg("--qdpx").arg(&qdpx).assert().success();
    let zip = zip::ZipArchive::new(std::fs::File::open(&qdpx).unwrap()).unwrap();
    let sources = zip.file_names().filter(|n| n.to_lowercase().starts_with("sources/")).count();
    assert_eq!(sources, 1, "{:?}", zip.file_names().collect::<Vec<_>>());
}

#[test]
fn a_run_killed_while_embedding_is_not_read_and_a_rerun_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cache = dir.path().join("cache");
    let args = |cmd: &mut std::process::Command| {
        cmd.args(["run", "--quiet", "--cache-dir"])
            .arg(&cache)
            .arg("--out")
            .arg(&out)
            .arg(parlato("PTA002"))
            .arg(parlato("PTA007"));
    };
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("terreno"));
    args(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    // Wait until the passages are written and the model is at work, then kill it.
    let start = std::time::Instant::now();
    loop {
        let m = std::fs::read(out.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        if m.is_some_and(|m| m["stages"].as_array().is_some_and(|s| s.len() == 2)) {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it was killed");
        assert!(start.elapsed().as_secs() < 120, "no manifest after 120 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(manifest(&out)["state"], "running");
    assert!(!out.join("clusters.parquet").exists());

    let qdpx = dir.path().join("x.qdpx");
    for cmd in [
        vec!["export", out.to_str().unwrap(), "--qdpx", qdpx.to_str().unwrap()],
        vec!["report", out.to_str().unwrap()],
        vec!["review", out.to_str().unwrap(), "--decisions", "none.toml"],
    ] {
        terreno().args(&cmd).assert().code(1).stderr(predicates::str::contains(
            "this run did not finish (it stopped after: ingest, segment)",
        ));
    }
    assert!(!qdpx.exists());
    // The same command again finishes it (no --force needed for an unfinished run).
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("terreno"));
    args(&mut cmd);
    assert!(cmd.status().unwrap().success());
    assert_eq!(manifest(&out)["state"], "finished");
    terreno().arg("export").arg(&out).arg("--qdpx").arg(&qdpx).assert().success();
}

#[test]
fn a_second_process_is_refused_while_the_first_holds_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let lock = RunDir::new(&out).lock().unwrap();
    terreno()
        .args(["run", "--no-embed", "--quiet", "--out"])
        .arg(&out)
        .arg(parlato("PTA002"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains(format!(
            "this run directory is in use by PID {}",
            std::process::id()
        )));
    assert!(!out.join("passages.parquet").exists());
    drop(lock);
    terreno()
        .args(["run", "--no-embed", "--quiet", "--out"])
        .arg(&out)
        .arg(parlato("PTA002"))
        .assert()
        .success();
}

#[test]
fn an_output_directory_inside_or_around_the_inputs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("study");
    study(&data, &[("P1.txt", "PTA002")]);
    let refused = |out: &Path, why: &str| {
        terreno()
            .args(["run", "--no-embed", "--quiet", "--force", "--out"])
            .arg(out)
            .arg(&data)
            .assert()
            .code(1)
            .stderr(predicates::str::contains(why));
    };
    for out in [data.join("run"), data.clone(), dir.path().to_path_buf()] {
        refused(&out, "choose an --out outside the inputs");
    }
    let names: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["P1.txt"], "nothing was written into the study's folder");
    // A folder that is not a run is never filled with a run's files, even with --force.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    write(&other, "x.csv", "a,b\n");
    refused(&other, "is not a terreno run");
}

const DECISIONS: &str = r#"
[[decision]]
candidate = "C01"
action = "reject"
reason = "troppo generico"

[[decision]]
candidate = "C02"
action = "rename"
name = "Il quartiere che cambia"
"#;

#[test]
fn a_run_from_another_never_deletes_a_decision() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("study");
    study(&data, &[("P1.txt", "PTA002"), ("P2.txt", "PTA007")]);
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let script = write(dir.path(), "d.toml", DECISIONS);
    for run in [&first, &second] {
        tiny_run(&[&data], run, false, |_| {}).unwrap();
        terreno().arg("review").arg(run).arg("--decisions").arg(&script).assert().success();
    }
    let reviewed = std::fs::read_to_string(second.join("decisions.jsonl")).unwrap();
    assert_eq!(reviewed.lines().count(), 2);
    let v1 = std::fs::read_to_string(second.join("codebook-v1.toml")).ok();

    tiny_run(&[&data], &second, true, |c| c.codebook.from = Some(first.clone())).unwrap();
    // The second run's own review is kept, whole, under history/.
    let history: Vec<PathBuf> =
        std::fs::read_dir(second.join("history")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(std::fs::read_to_string(history[0].join("decisions.jsonl")).unwrap(), reviewed);
    assert_eq!(std::fs::read_to_string(history[0].join("codebook-v1.toml")).ok(), v1);
    // And the first run's decisions are what the new one carries.
    let carried = std::fs::read_to_string(second.join("decisions-carried.jsonl")).unwrap();
    assert_eq!(carried, std::fs::read_to_string(first.join("decisions.jsonl")).unwrap());
}

#[test]
fn compare_uses_the_run_seed_and_report_its_language() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("study");
    study(&data, &[("P1.txt", "PTA002")]);
    let out = dir.path().join("run");
    let coding = spans_coding(dir.path(), "P1");
    tiny_run(&[&data], &out, false, |c| {
        c.seed = 7;
        c.compare.manual = Some(coding.clone());
        c.report.language = terreno::config::Language::En;
    })
    .unwrap();
    let own = std::fs::read_to_string(out.join("comparison.json")).unwrap();
    terreno().arg("compare").arg(&out).arg("--manual").arg(&coding).assert().success();
    let again = std::fs::read_to_string(out.join("comparison.json")).unwrap();
    // The coding's path is written as given; the rest, intervals included, is the run's.
    let strip = |s: &str| -> Value {
        let mut v: Value = serde_json::from_str(s).unwrap();
        v["manual"] = Value::Null;
        v
    };
    assert_eq!(strip(&own), strip(&again));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("lang=\"en\""), "the report keeps the run's language");
}

#[test]
fn answers_with_nothing_to_code_are_set_apart_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,text\n");
    let answers = [
        "Il gruppo mi ha aiutato a sentirmi meno sola con la mia ansia",
        "Nel gruppo ho trovato persone che capivano davvero la malattia",
        "Il lavoro mi manca, dopo il ricovero non mi hanno più richiamato",
        "Cerco lavoro da mesi ma nessuno assume chi ha avuto problemi",
        "La famiglia non capisce e mi giudica per le medicine che prendo",
        "Mia madre mi accompagna alle visite e questo mi aiuta molto",
    ];
    for (i, a) in answers.iter().chain(answers.iter()).enumerate() {
        csv.push_str(&format!("r{i},\"{a}\"\n"));
    }
    csv.push_str("r98,sì sì\nr99,boh\n");
    let input = write(dir.path(), "risposte.csv", csv);
    let out = dir.path().join("run");
    tiny_run(&[&input], &out, false, |c| {
        c.segment.backchannels = terreno::config::Backchannels::Keep
    })
    .unwrap();
    let df = read_parquet(&out.join("clusters.parquet"));
    let ids = strings(&df, "passage_id");
    let reasons = strings(&df, "not_coded");
    let codes: Vec<i32> =
        df.column("cluster").unwrap().i32().unwrap().into_no_null_iter().collect();
    let set_apart: Vec<&str> = (0..df.height())
        .filter(|&i| reasons[i].is_some())
        .map(|i| ids[i].as_deref().unwrap())
        .collect();
    assert_eq!(set_apart.len(), 2, "{set_apart:?}");
    for i in (0..df.height()).filter(|&i| reasons[i].is_some()) {
        assert_eq!(codes[i], -1);
        assert!(reasons[i].as_deref().unwrap().contains("content words"));
    }
    assert!((0..df.height()).filter(|&i| reasons[i].is_none()).all(|i| codes[i] >= 0));
    assert_eq!(manifest(&out)["clusters"]["not_coded"], 2);
    let file = json(&out.join("candidates.json"));
    assert_eq!(file["not_coded"], 2);
    let md = std::fs::read_to_string(out.join("candidates.md")).unwrap();
    assert!(md.contains("2 of them not coded"), "{md}");
}

#[test]
fn a_category_is_renamed_or_confirmed_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("study");
    study(&data, &[("P1.txt", "PTA002"), ("P2.txt", "PTA007"), ("P3.txt", "PTB005")]);
    let out = dir.path().join("run");
    tiny_run(&[&data], &out, false, |_| {}).unwrap();
    let file = json(&out.join("candidates.json"));
    let k2 = &file["categories"][1];
    let code_in_k2 = k2["codes"][0].as_str().unwrap();
    let script = write(
        dir.path(),
        "d.toml",
        format!(
            r#"
[[decision]]
candidate = "K01"
action = "rename"
name = "Vita in città"

[[decision]]
candidate = "K02"
action = "confirm"
name = "Lavoro e crisi"

[[decision]]
candidate = "{code_in_k2}"
action = "confirm"
name = "Perdere il lavoro"
"#
        ),
    );
    terreno().arg("review").arg(&out).arg("--decisions").arg(&script).assert().success();
    let book = terreno::codebook::Codebook::read(&out.join("codebook-v1.toml")).unwrap();
    let category = book.codes.iter().find(|c| c.name == "Lavoro e crisi").unwrap();
    assert!(!category.codable, "a category is a grouping code");
    let code = book.codes.iter().find(|c| c.name == "Perdere il lavoro").unwrap();
    assert_eq!(code.parent.as_deref(), Some(category.id.as_str()), "placed under its category");
    // The export shows the renamed category.
    let qdc = dir.path().join("book.qdc");
    terreno().arg("export").arg(&out).arg("--qdc").arg(&qdc).assert().success();
    assert!(std::fs::read_to_string(&qdc).unwrap().contains("K01 Vita in città"));
    // A category cannot be rejected or merged as a whole.
    let bad = write(
        dir.path(),
        "bad.toml",
        "[[decision]]\ncandidate = \"K03\"\naction = \"reject\"\nreason = \"x\"\n",
    );
    terreno()
        .arg("review")
        .arg(&out)
        .arg("--decisions")
        .arg(&bad)
        .assert()
        .code(3)
        .stderr(predicates::str::contains("K03 is a category"));
}

#[test]
fn the_export_codes_a_passage_with_its_other_close_codes_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("study");
    study(&data, &[("P1.txt", "PTA002"), ("P2.txt", "PTA007")]);
    let out = dir.path().join("run");
    tiny_run(&[&data], &out, false, |_| {}).unwrap();
    let others = read_parquet(&out.join("other-codes.parquet"));
    assert!(others.height() > 0, "some passages are close to another code");
    let (one, many) = (dir.path().join("one.qdpx"), dir.path().join("many.qdpx"));
    terreno().arg("export").arg(&out).arg("--qdpx").arg(&one).assert().success();
    terreno()
        .arg("export")
        .arg(&out)
        .arg("--qdpx")
        .arg(&many)
        .arg("--other-codes")
        .assert()
        .success();
    let texts = RunDir::new(&out).texts().unwrap();
    let a = terreno::manual::load(&one, &texts).unwrap();
    let b = terreno::manual::load(&many, &texts).unwrap();
    // Every passage keeps its own code; the other codes come on top, one coding each.
    assert!(a.segments.iter().all(|s| b.segments.contains(s)));
    assert_eq!(b.segments.len(), a.segments.len() + others.height());
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&many).unwrap()).unwrap();
    let mut qde = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("project.qde").unwrap(), &mut qde).unwrap();
    xmllint("Project-mrt2019.xsd", &write(dir.path(), "project.qde", &qde));
}
