//! Every input format, end to end through `terreno run`, and every kind of bad input.

use std::path::Path;

use crate::util::*;

fn run_ok(inputs: &[&Path], extra: &[&str]) -> (tempfile::TempDir, polars::prelude::DataFrame) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    terreno()
        .args(["run", "--no-embed", "--quiet"])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .args(inputs)
        .assert()
        .success();
    let df = passages(&out);
    (dir, df)
}

#[test]
fn txt_colon_with_stamps_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "intervista1.txt",
        "[00:00:03] Intervistatrice: Mi racconti com'è iniziato il gruppo di auto mutuo aiuto?\n\
         [00:00:09] Anna: All'inizio andavo alle riunioni senza parlare, ascoltavo le storie degli altri.\n\
         Poi piano piano ho cominciato a raccontare la mia.\n\
         [00:01:15] Intervistatrice: mhmh\n\
         [00:01:16] Anna: sì\n",
    );
    let meta =
        write(dir.path(), "meta.csv", "document,gruppo,sede\nintervista1,AMA Firenze,Firenze\n");
    let (_d, df) = run_ok(&[&t], &["--metadata", meta.to_str().unwrap()]);
    assert_eq!(df.height(), 1);
    assert_eq!(strings(&df, "speaker")[0].as_deref(), Some("Anna"));
    assert_eq!(
        strings(&df, "prompt")[0].as_deref(),
        Some("Mi racconti com'è iniziato il gruppo di auto mutuo aiuto?")
    );
    assert!(strings(&df, "text")[0].as_ref().unwrap().ends_with("raccontare la mia."));
    assert_eq!(strings(&df, "gruppo")[0].as_deref(), Some("AMA Firenze"));
    let t0 = df.column("time_start").unwrap().f64().unwrap().get(0);
    assert_eq!(t0, Some(9.0));
}

#[test]
fn vtt_srt_docx_eaf_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let vtt = write(
        dir.path(),
        "fg1.vtt",
        b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Moderatore>Che cosa vi ha portato al gruppo?\n\n00:00:05.000 --> 00:00:09.000\n<v Giulia>Mi sentivo sola con la mia ansia e nessuno capiva.\n",
    );
    let srt = write(
        dir.path(),
        "fg2.srt",
        b"1\n00:00:01,000 --> 00:00:02,000\nMOD: E oggi come va?\n\n2\n00:00:02,500 --> 00:00:06,000\nPaolo: Meglio, il gruppo mi ha dato fiducia.\n\n3\n00:00:07,000 --> 00:00:08,000\nMOD: Grazie Paolo.\n\n4\n00:00:08,500 --> 00:00:12,000\nPaolo: Anche la famiglia lo ha notato.\n",
    );
    let docx = docx(
        dir.path(),
        "int3.docx",
        &[
            "INTERVISTATORE: Come descriverebbe il sostegno ricevuto?",
            "LUCIA: Un posto dove nessuno giudica, dove posso dire quello che provo.",
        ],
    );
    let csv = write(
        dir.path(),
        "survey.csv",
        "id,text,gruppo\nr1,\"Il gruppo mi ha aiutato, molto.\",A\nr2,Non saprei dire perché,B\n",
    );
    let eaf = shared("parlato/eaf/PTA002.eaf");
    let (_d, df) = run_ok(
        &[&vtt, &srt, &docx, &csv, &eaf],
        &[
            "--role",
            "INTERVISTATORE=interviewer",
            "--role",
            "MOD*=facilitator",
            "--role",
            "Moderat*=facilitator",
            "--role",
            "TOR*=interviewer",
        ],
    );
    let by_doc = |doc: &str| -> Vec<(String, String)> {
        let ids = strings(&df, "document_id");
        let sp = strings(&df, "speaker");
        let tx = strings(&df, "text");
        (0..df.height())
            .filter(|&i| ids[i].as_deref() == Some(doc))
            .map(|i| (sp[i].clone().unwrap(), tx[i].clone().unwrap()))
            .collect()
    };
    assert_eq!(
        by_doc("fg1"),
        [("Giulia".into(), "Mi sentivo sola con la mia ansia e nessuno capiva.".into())]
    );
    assert_eq!(by_doc("fg2").len(), 2, "the facilitator speaks between Paolo's two cues");
    assert_eq!(by_doc("int3")[0].0, "LUCIA");
    let survey = by_doc("survey");
    assert_eq!(survey.len(), 2);
    assert_eq!(survey[0].1, "Il gruppo mi ha aiutato, molto.");
    assert!(by_doc("PTA002").len() > 5);
    // Tables keep their id and other columns.
    let source_ids = strings(&df, "source_id");
    assert!(source_ids.contains(&Some("r2".to_string())));
}

#[test]
fn parquet_table_with_named_columns() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("answers.parquet");
    let mut df = df!(
        "resp" => ["a", "b"],
        "risposta" => ["Il sostegno degli altri è stato fondamentale", "La terapia di gruppo funziona"],
        "eta" => [34i64, 51],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut df).unwrap();
    let (_d, out) = run_ok(&[&path], &["--id-column", "resp", "--text-column", "risposta"]);
    assert_eq!(strings(&out, "source_id"), [Some("a".into()), Some("b".into())]);
    assert_eq!(strings(&out, "eta"), [Some("34".into()), Some("51".into())]);
}

#[test]
fn latin1_file_is_decoded_with_a_warning_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "win.txt", b"A: perch\xe9 la citt\xe0 mi piace molto davvero\nB: s\xec\nA: s\xec, la citt\xe0 \xe8 bella e viva\n");
    let out = dir.path().join("run");
    terreno()
        .args(["run", "--no-embed", "--quiet", "--backchannels", "keep", "--out"])
        .arg(&out)
        .arg(&t)
        .assert()
        .success();
    let df = passages(&out);
    assert!(strings(&df, "text")[0].as_ref().unwrap().contains("perché la città"));
    let m = manifest(&out);
    let w = m["warnings"].to_string();
    assert!(w.contains("win.txt") && w.contains("Windows-1252"), "{w}");
}

/// Each bad input: exit code 3, a message naming the file (and line), nothing written.
#[test]
fn bad_inputs_name_the_file_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut mixed = "A: città\nB: bene\nA: perch".as_bytes().to_vec();
    mixed.push(0xE9);
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (write(d, "empty.txt", b""), "empty.txt: the file is empty"),
        (write(d, "blob.txt", [0u8, 159, 146, 150, 0, 1, 2]), "blob.txt line 1: this looks like a binary file"),
        (write(d, "notes.rtf", b"{\\rtf1 A: ciao}"), "notes.rtf: unknown file type (.rtf)"),
        (write(d, "nolabels.txt", b"solo testo\nsenza parlanti\n"), "nolabels.txt: no speaker labels"),
        (
            write(d, "bad.vtt", b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA: ok\n\n00:0x:01.000 --> 00:00:02.000\nA: no\n"),
            "bad.vtt line 6: malformed cue timing",
        ),
        (write(d, "fake.docx", b"A: this is text, not a zip"), "fake.docx: not a Word .docx document"),
        (
            write(d, "broken.eaf", b"<?xml version=\"1.0\"?>\n<ANNOTATION_DOCUMENT>\n<TIER TIER_ID=\"A\">\n</ANNOTATION_DOCUMENT>\n"),
            "broken.eaf line 4: ELAN XML: not well-formed XML",
        ),
        (write(d, "mixed.txt", &mixed), "mixed.txt line 3: invalid UTF-8"),
        (write(d, "table.csv", b"code,answer\n1,hello\n"), "table.csv line 1: no column `id`"),
    ];
    for (path, message) in cases {
        let out = d.join("out");
        let assert = terreno()
            .args(["run", "--no-embed", "--quiet", "--out"])
            .arg(&out)
            .arg(&path)
            .assert()
            .code(3);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(stderr.contains(&name), "{stderr}");
        let shown = stderr.replace(&format!("{}", d.display()), "").replace('/', "");
        assert!(shown.contains(&message.replace('/', "")), "expected {message:?} in {stderr}");
        assert!(!out.exists(), "{name}: nothing may be written");
    }
}

#[test]
fn keep_going_skips_bad_files_and_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.txt",
        "A: il gruppo mi ha aiutato tanto a capire\nB: bene\n".as_bytes(),
    );
    let bad = write(dir.path(), "empty.txt", b"");
    let out = dir.path().join("run");
    terreno()
        .args(["run", "--no-embed", "--quiet", "--out"])
        .arg(&out)
        .args([&good, &bad])
        .assert()
        .code(3);
    assert!(!out.exists());
    terreno()
        .args(["run", "--no-embed", "--quiet", "--keep-going", "--out"])
        .arg(&out)
        .args([&good, &bad])
        .assert()
        .success();
    let m = manifest(&out);
    assert_eq!(m["counts"]["documents"], 1);
    assert!(m["skipped_files"][0].as_str().unwrap().contains("empty.txt"));
}
