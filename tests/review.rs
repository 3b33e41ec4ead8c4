//! The analyst's review on a real run of the bundled sample: scripted decisions, the audit
//! trail, the new codebook version, carry forward into the next run, and the interactive
//! session driven through a pseudo-terminal.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

fn candidates(run: &Path) -> Vec<Value> {
    let v: Value =
        serde_json::from_slice(&std::fs::read(run.join("candidates.json")).unwrap()).unwrap();
    v["candidates"].as_array().unwrap().clone()
}

fn decisions(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("decisions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const SCRIPT: &str = r#"
[[decision]]
candidate = "C01"
action = "confirm"
name = "Vita in città"
definition = "Racconti della vita quotidiana a Torino: quartiere, casa, spostamenti."
memo = "il più ampio; da suddividere?"

[[decision]]
candidate = "C02"
action = "reject"
reason = "troppo generico: «nel senso»"

[[decision]]
candidate = "C03"
action = "merge"
into = "C04"

[[decision]]
candidate = "C04"
action = "rename"
name = "Lavoro e casa"
"#;

#[test]
fn scripted_review_is_recorded_and_carried_into_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    sample_run(&first, &[]);
    let before = candidates(&first);
    assert!(before.len() >= 4, "the sample gives {} candidates", before.len());
    let size =
        |c: &[Value], id: &str| c.iter().find(|x| x["id"] == id).unwrap()["size"].as_u64().unwrap();
    let script = write(dir.path(), "decisions.toml", SCRIPT);
    terreno()
        .args(["review", "--analyst", "giulia", "--decisions"])
        .arg(&script)
        .arg(&first)
        .assert()
        .success()
        .stdout(predicates::str::contains("4 decisions recorded"))
        .stdout(predicates::str::contains("+ Vita in città (vita-in-citta)"));

    // The audit trail: who, when, what, why, in order.
    let log = decisions(&first);
    let actions: Vec<&str> = log.iter().map(|d| d["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["confirm", "reject", "merge", "rename"]);
    assert!(log.iter().all(|d| d["who"] == "giulia" && d["at"].as_str().unwrap().ends_with('Z')));
    assert_eq!(log[0]["memo"], "il più ampio; da suddividere?");
    assert_eq!(log[1]["reason"], "troppo generico: «nel senso»");
    assert_eq!(log[0]["centroid"].as_array().unwrap().len(), 384);
    // A new codebook version beside the run's first one, with a readable diff.
    // The run started from the sample's codebook; the review added one code to it.
    let v0 = terreno::codebook::Codebook::read(&first.join("codebook-v0.toml")).unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample-codebook.toml");
    assert_eq!(v0, terreno::codebook::Codebook::read(&sample).unwrap());
    let v1 = terreno::codebook::Codebook::read(&first.join("codebook-v1.toml")).unwrap();
    assert_eq!(v1.codes[..v0.codes.len()], v0.codes[..]);
    assert_eq!(v1.codes.len(), v0.codes.len() + 1);
    let code = v1.codes.last().unwrap();
    assert_eq!((code.id.as_str(), code.name.as_str()), ("vita-in-citta", "Vita in città"));
    assert_eq!(code.provenance.as_ref().unwrap().decision, 1);
    assert_eq!(code.examples.len(), 2);
    let diff = std::fs::read_to_string(first.join("codebook-v1.diff")).unwrap();
    assert!(
        diff.contains("# + Vita in città") && diff.contains("+name = \"Vita in città\""),
        "{diff}"
    );

    // Applying the same file again changes nothing.
    let lines = std::fs::read_to_string(first.join("decisions.jsonl")).unwrap();
    terreno()
        .args(["review", "--decisions"])
        .arg(&script)
        .arg(&first)
        .assert()
        .success()
        .stdout(predicates::str::contains("0 decisions recorded, 4 already in force"));
    assert_eq!(std::fs::read_to_string(first.join("decisions.jsonl")).unwrap(), lines);
    assert!(!first.join("codebook-v2.toml").exists());

    // The next run starts from the reviewed one.
    let second = dir.path().join("second");
    sample_run(&second, &["--from", first.to_str().unwrap()]);
    let after = candidates(&second);
    assert_eq!(after.len(), before.len() - 1, "C03 and C04 come back as one");
    let by_prior = |id: &str| {
        after
            .iter()
            .find(|c| c["prior"]["candidate"] == id)
            .unwrap_or_else(|| panic!("no candidate matches the earlier {id}"))
    };
    let rejected = by_prior("C02");
    assert_eq!(rejected["proposal"], "rejected");
    assert_eq!(rejected["prior"]["reason"], "troppo generico: «nel senso»");
    let coded = by_prior("C01");
    assert_eq!(coded["proposal"], "coded");
    assert_eq!(coded["code"], "vita-in-citta");
    assert_eq!(coded["label"], "Vita in città");
    let merged: Vec<&Value> = after
        .iter()
        .filter(|c| matches!(c["prior"]["candidate"].as_str(), Some("C03" | "C04")))
        .collect();
    assert_eq!(merged.len(), 1, "one candidate for the merged pair");
    assert_eq!(merged[0]["label"], "Lavoro e casa");
    assert_eq!(merged[0]["size"].as_u64().unwrap(), size(&before, "C03") + size(&before, "C04"));
    // The codebook carried is the reviewed one, and the history is kept.
    let v0 = terreno::codebook::Codebook::read(&second.join("codebook-v0.toml")).unwrap();
    assert_eq!(v0, v1);
    assert_eq!(std::fs::read_to_string(second.join("decisions-carried.jsonl")).unwrap(), lines);
    // The analyst's codebook file wins: a code taken out of it stays out, while the code the
    // review created is kept.
    let edited = sample_codebook_without(dir.path(), "lingua");
    let third = dir.path().join("third");
    sample_run(
        &third,
        &["--from", first.to_str().unwrap(), "--codebook", edited.to_str().unwrap()],
    );
    let v0 = terreno::codebook::Codebook::read(&third.join("codebook-v0.toml")).unwrap();
    assert!(v0.get("lingua").is_none() && v0.get("vita-in-citta").is_some());
    // Passages get suggested codes from the carried codebook.
    let suggestions = read_parquet(&second.join("suggestions.parquet"));
    assert_eq!(suggestions.height(), 3 * passages(&second).height());
    assert_eq!(u32s(&suggestions, "rank")[..3], [1, 2, 3]);
    let md = std::fs::read_to_string(second.join("candidates.md")).unwrap();
    assert!(md.contains("rejected in an earlier review"), "{md}");

    // Re-running into the reviewed directory itself carries its review too.
    sample_run(&first, &[]);
    assert!(!first.join("decisions.jsonl").exists());
    assert!(!first.join("codebook-v1.toml").exists());
    assert_eq!(std::fs::read_to_string(first.join("decisions-carried.jsonl")).unwrap(), lines);
    let again = candidates(&first);
    assert!(again.iter().any(|c| c["proposal"] == "rejected"));
    assert!(again.iter().any(|c| c["proposal"] == "coded"));
}

/// The sample codebook with one code taken out.
fn sample_codebook_without(dir: &Path, id: &str) -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample-codebook.toml");
    let mut book = terreno::codebook::Codebook::read(&sample).unwrap();
    book.codes.retain(|c| c.id != id);
    let path = dir.join("edited.toml");
    book.write(&path).unwrap();
    path
}

#[test]
fn a_bad_decision_names_its_line_and_keeps_the_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    sample_run(&run, &[]);
    let script = write(
        dir.path(),
        "d.toml",
        "[[decision]]\ncandidate = \"C02\"\naction = \"reject\"\nreason = \"rumore\"\n\n\
         [[decision]]\ncandidate = \"C01\"\naction = \"assign\"\ncode = \"non-esiste\"\n",
    );
    terreno()
        .args(["review", "--decisions"])
        .arg(&script)
        .arg(&run)
        .assert()
        .code(3)
        .stderr(predicates::str::contains("d.toml line 6"))
        .stderr(predicates::str::contains("non-esiste"));
    assert_eq!(decisions(&run).len(), 1);
}

/// What rexpect reads back for `s`: it turns each byte of the terminal's output into one char.
fn l(s: &str) -> String {
    s.bytes().map(char::from).collect()
}

/// Copies a run directory (the pty test works on its own copy).
fn copy_run(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    to.to_path_buf()
}

#[test]
fn interactive_review_in_a_terminal_confirms_renames_quits_and_resumes() {
    use rexpect::session::spawn_command;
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    sample_run(&original, &[]);
    let run = copy_run(&original, &dir.path().join("run"));
    let bin = assert_cmd::cargo::cargo_bin("terreno");
    let command = || {
        let mut c = std::process::Command::new(&bin);
        c.args(["review", "--analyst", "marta"]).arg(&run);
        c
    };
    let timeout = Some(60_000);

    let mut p = spawn_command(command(), timeout).unwrap();
    p.exp_string(&l("Reviewing")).unwrap();
    p.exp_string(&l("C01 (1 of")).unwrap();
    p.exp_string(&l("decision [")).unwrap();
    p.send_line("c").unwrap();
    p.exp_string(&l("name [")).unwrap();
    p.send_line("Il quartiere").unwrap();
    p.exp_string(&l("definition:")).unwrap();
    p.send_line("Com'è cambiata la zona in cui vivono, perché ci si trova bene o male.").unwrap();
    p.exp_string(&l("memo")).unwrap();
    p.send_line("").unwrap();
    p.exp_string(&l("C01 confirmed → code il-quartiere")).unwrap();
    p.exp_string(&l("C02 (2 of")).unwrap();
    p.exp_string(&l("decision [")).unwrap();
    p.send_line("r").unwrap();
    p.exp_string(&l("new name:")).unwrap();
    p.send_line("Città che cambia").unwrap();
    p.exp_string(&l("label:     Città che cambia")).unwrap();
    // Its category, renamed as a whole from the card.
    p.exp_string(&l("decision [")).unwrap();
    p.send_line("k").unwrap();
    p.exp_string(&l(": (c)onfirm it or (r)ename it?")).unwrap();
    p.send_line("r").unwrap();
    p.exp_string(&l("new name:")).unwrap();
    p.send_line("Vivere a Torino").unwrap();
    p.exp_string(&l(" renamed")).unwrap();
    p.exp_string(&l("Vivere a Torino")).unwrap();
    p.exp_string(&l("decision [")).unwrap();
    p.send_line("q").unwrap();
    p.exp_string(&l("1 of")).unwrap();
    p.exp_eof().unwrap();

    let log = decisions(&run);
    assert_eq!(log.len(), 3);
    assert!(log[2]["candidate"].as_str().unwrap().starts_with('K'), "{}", log[2]);
    assert_eq!((&log[2]["action"], &log[2]["name"]), (&"rename".into(), &"Vivere a Torino".into()));
    assert_eq!(log[0]["action"], "confirm");
    assert_eq!(
        log[0]["definition"],
        "Com'è cambiata la zona in cui vivono, perché ci si trova bene o male."
    );
    assert_eq!(log[1]["action"], "rename");
    assert_eq!(log[1]["who"], "marta");
    assert!(run.join("codebook-v1.toml").exists());

    // Resume: the renamed candidate is where it left off; undo, then reject and quit.
    let mut p = spawn_command(command(), timeout).unwrap();
    p.exp_string(&l("1 already decided")).unwrap();
    p.exp_string(&l("C02 (2 of")).unwrap();
    p.exp_string(&l("label:     Città che cambia")).unwrap();
    p.exp_string(&l("decision [")).unwrap();
    p.send_line("x").unwrap();
    p.exp_string(&l("why")).unwrap();
    p.send_line("solo intercalari").unwrap();
    p.exp_string(&l("C02 rejected")).unwrap();
    p.exp_string(&l("decision [")).unwrap();
    p.send_line("u").unwrap();
    p.exp_string(&l("undone: C02 rejected")).unwrap();
    p.exp_string(&l("C02 (2 of")).unwrap();
    p.exp_string(&l("decision [")).unwrap();
    p.send_line("q").unwrap();
    p.exp_eof().unwrap();
    let log = decisions(&run);
    let actions: Vec<&str> = log.iter().map(|d| d["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["confirm", "rename", "rename", "reject", "undo"]);
    assert_eq!(log[4]["undoes"], 4);
    // Nothing changed the codebook in the second session.
    assert!(!run.join("codebook-v2.toml").exists());
}

#[test]
fn a_moved_passage_is_checked_recorded_once_and_exported_where_it_was_moved() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    sample_run(&run, &[]);
    let cands = candidates(&run);
    let passage = cands[2]["passage_ids"][0].as_str().unwrap().to_string();
    assert_eq!(cands[2]["id"], "C03");
    // Where the analyst thinks it is must be where it is.
    let wrong = write(
        dir.path(),
        "wrong.toml",
        format!("[[decision]]\ncandidate = \"C02\"\naction = \"move\"\npassage = \"{passage}\"\nto = \"C05\"\n"),
    );
    terreno()
        .args(["review", "--decisions"])
        .arg(&wrong)
        .arg(&run)
        .assert()
        .code(3)
        .stderr(predicates::str::contains(format!("passage {passage} is in C03 now, not in C02")));
    let script = write(
        dir.path(),
        "move.toml",
        format!(
            "[[decision]]\ncandidate = \"C03\"\naction = \"move\"\npassage = \"{passage}\"\nto = \"C05\"\n\n\
             [[decision]]\ncandidate = \"C05\"\naction = \"memo\"\nmemo = \"accoglie {passage}\"\n"
        ),
    );
    for recorded in ["2 decisions recorded, 0 already", "0 decisions recorded, 2 already"] {
        terreno()
            .args(["review", "--decisions"])
            .arg(&script)
            .arg(&run)
            .assert()
            .success()
            .stdout(predicates::str::contains(recorded));
    }
    let d = decisions(&run);
    assert_eq!(d.len(), 2);
    assert_eq!((d[0]["action"].as_str(), d[0]["candidate"].as_str()), (Some("move"), Some("C03")));
    assert_eq!(d[0]["to"], "C05");
    assert_eq!(d[0]["into_label"], cands[4]["label"]);
    assert!(!d[0]["text"].as_str().unwrap().is_empty());
    // The project codes the passage with C05's code, not C03's.
    let qdpx = dir.path().join("moved.qdpx");
    terreno().args(["export"]).arg(&run).arg("--qdpx").arg(&qdpx).assert().success();
    let texts = terreno::run::RunDir::new(&run).texts().unwrap();
    let coding = terreno::manual::load(&qdpx, &texts).unwrap();
    let p =
        terreno::export::run_passages(&run).unwrap().into_iter().find(|p| p.id == passage).unwrap();
    let codes: Vec<&str> = coding
        .segments
        .iter()
        .filter(|s| s.document == p.document && s.start == p.start)
        .map(|s| s.code.as_str())
        .collect();
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert!(
        codes[0].contains(&format!("C05 {}", cands[4]["label"].as_str().unwrap())),
        "{codes:?}"
    );
}
