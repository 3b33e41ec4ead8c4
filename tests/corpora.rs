//! The real corpora of `../shared/data`: ParlaTO (67 interviews, text and ELAN, Jefferson and
//! orthographic), the PDPilot PDF-export transcripts, SIB-200 as a table.

use std::collections::BTreeSet;
use std::path::Path;

use regex::Regex;
use terreno::config::{Config, RoleRule};
use terreno::ingest::{self, CharIndex, Role};
use terreno::pipeline;
use terreno::progress::Progress;
use terreno::text::Analyzer;

use crate::util::*;

#[test]
fn parlato_all_67_interviews_summary_parquet_and_spans_agree() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    terreno()
        .args(["run", "--no-embed", "--quiet", "--out"])
        .arg(&out)
        .arg(shared("parlato/linear-orthographic"))
        .assert()
        .success()
        .stdout(predicates::str::contains("67 documents"));
    let m = manifest(&out);
    let df = passages(&out);
    assert_eq!(m["counts"]["documents"], 67);
    assert_eq!(m["counts"]["passages"].as_u64().unwrap() as usize, df.height());
    let words: u64 = u32s(&df, "words").iter().map(|&w| w as u64).sum();
    assert_eq!(m["counts"]["words"].as_u64().unwrap(), words);
    assert!(df.height() > 10_000, "{} passages", df.height());
    assert_eq!(m["inputs"].as_array().unwrap().len(), 67);

    // The span invariant, for every passage: the canonical text from char_start to char_end,
    // with the speaker labels inside it dropped and white space collapsed, is the text.
    let label = Regex::new(r"\n[^\t\n]*\t").unwrap();
    let ids = strings(&df, "document_id");
    let texts = strings(&df, "text");
    let roles = strings(&df, "role");
    let (starts, ends) = (u32s(&df, "char_start"), u32s(&df, "char_end"));
    let mut current = (String::new(), String::new(), CharIndex::new(""));
    for i in 0..df.height() {
        let id = ids[i].as_deref().unwrap();
        if current.0 != id {
            let text =
                std::fs::read_to_string(out.join("sources").join(format!("{id}.txt"))).unwrap();
            let original =
                std::fs::read_to_string(shared(&format!("parlato/linear-orthographic/{id}.txt")))
                    .unwrap();
            assert_eq!(text, original, "the canonical text of a .txt is the file");
            let index = CharIndex::new(&text);
            current = (id.to_string(), text, index);
        }
        let (text, index) = (&current.1, &current.2);
        let span = &text[index.byte_at(starts[i] as usize)..index.byte_at(ends[i] as usize)];
        assert!(!span.starts_with(char::is_whitespace) && !span.ends_with(char::is_whitespace));
        let dropped = label.replace_all(span, " ");
        let collapsed = dropped.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(&collapsed, texts[i].as_ref().unwrap(), "passage {i} of {id}");
        assert_eq!(roles[i].as_deref(), Some("participant"));
    }
}

fn turns(path: &Path) -> Vec<(String, String)> {
    let doc = ingest::read_file(path, &Config::default().ingest).unwrap();
    let index = CharIndex::new(&doc.text);
    doc.turns.iter().map(|t| (t.speaker.clone(), doc.turn_text(&index, t))).collect()
}

#[test]
fn eaf_and_linear_jefferson_give_the_same_units() {
    let eafs: Vec<_> =
        std::fs::read_dir(shared("parlato/eaf")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(eafs.len(), 6);
    for eaf in eafs {
        let stem = eaf.file_stem().unwrap().to_string_lossy().to_string();
        let from_eaf = turns(&eaf);
        let from_txt = turns(&shared(&format!("parlato/linear-jefferson/{stem}.txt")));
        assert_eq!(from_eaf.len(), from_txt.len(), "{stem}");
        for (k, (a, b)) in from_eaf.iter().zip(&from_txt).enumerate() {
            assert_eq!(a, b, "{stem} unit {k}");
        }
        let doc = ingest::read_file(&eaf, &Config::default().ingest).unwrap();
        assert!(doc.turns.iter().all(|t| t.time_start.is_some() && t.time_end >= t.time_start));
    }
}

#[test]
fn jefferson_words_agree_with_orthographic_words() {
    let analyzer = Analyzer::new();
    let words = |path: &Path| -> Vec<String> {
        turns(path).iter().flat_map(|(_, t)| analyzer.words(t)).collect()
    };
    let (mut same, mut total) = (0usize, 0usize);
    let files: Vec<_> = std::fs::read_dir(shared("parlato/linear-orthographic"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 67);
    for name in files {
        let ortho = words(&shared("parlato/linear-orthographic").join(&name));
        let jeff = words(&shared("parlato/linear-jefferson").join(&name));
        let diff = similar::capture_diff_slices(similar::Algorithm::Myers, &jeff, &ortho);
        let equal: usize = diff
            .iter()
            .filter_map(|op| match op {
                similar::DiffOp::Equal { len, .. } => Some(*len),
                _ => None,
            })
            .sum();
        same += equal;
        total += jeff.len().max(ortho.len());
    }
    let agreement = same as f64 / total as f64;
    eprintln!("jefferson vs orthographic analysis words: {same}/{total} = {agreement:.4}");
    assert!(agreement >= 0.99, "agreement {agreement:.4}");
}

#[test]
fn pdpilot_transcripts_have_two_speakers_and_lose_no_word() {
    let mut config = Config::default();
    config.ingest.set_roles(vec![RoleRule { pattern: "Dan".into(), role: Role::Interviewer }]);
    let page = Regex::new(r"^\s*\d+(/\d+)?\s*$").unwrap();
    let label = Regex::new(r"^(Dan|Participant|Particpant):").unwrap();
    for k in 1..=7 {
        let path = shared(&format!("pdpilot-interviews/transcripts/P{k}.txt"));
        let doc = ingest::read_file(&path, &config.ingest).unwrap();
        let speakers: BTreeSet<_> =
            doc.turns.iter().map(|t| (t.speaker.as_str(), t.role)).collect();
        assert_eq!(
            speakers,
            BTreeSet::from([("Dan", Role::Interviewer), ("Participant", Role::Participant)]),
            "P{k}"
        );
        // Every word of the file but page marks, line numbers, labels and the title line.
        let raw = std::fs::read_to_string(&path).unwrap();
        let expected: Vec<&str> = raw
            .lines()
            .skip(2) // the page mark and the title "Interview"
            .filter(|l| !page.is_match(l))
            .flat_map(|l| {
                label.replace(l, "").split_whitespace().map(str::to_string).collect::<Vec<_>>()
            })
            .map(|w| &*Box::leak(w.into_boxed_str()))
            .collect();
        assert_eq!(raw.lines().nth(1), Some("Interview"));
        let index = CharIndex::new(&doc.text);
        let got: Vec<String> = doc
            .turns
            .iter()
            .flat_map(|t| {
                doc.turn_text(&index, t).split(' ').map(str::to_string).collect::<Vec<_>>()
            })
            .collect();
        let first_diff = got.iter().zip(&expected).position(|(a, b)| a != b);
        assert_eq!(
            (got.len(), first_diff),
            (expected.len(), None),
            "P{k}: got {:?}, expected {:?}",
            first_diff.map(|i| &got[i.saturating_sub(3)..(i + 5).min(got.len())]),
            first_diff.map(|i| &expected[i.saturating_sub(3)..(i + 5).min(expected.len())])
        );
    }
    let ingested = pipeline::ingest_and_segment(
        &config,
        &[shared("pdpilot-interviews/transcripts")],
        false,
        Progress::new(true),
    )
    .unwrap();
    assert_eq!(ingested.docs.len(), 7);
    assert!(ingested.passages.iter().all(|p| p.speaker == "Participant" && p.prompt.is_some()));
}

#[test]
fn sib200_rows_are_passages_with_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let sib = shared("sib200-ita");
    terreno()
        .args(["run", "--no-embed", "--quiet", "--id-column", "index_id", "--out"])
        .arg(&out)
        .args([sib.join("train.tsv"), sib.join("dev.tsv"), sib.join("test.tsv")])
        .assert()
        .success();
    let df = passages(&out);
    assert_eq!(df.height(), 1004);
    let categories: BTreeSet<_> =
        strings(&df, "category").into_iter().map(Option::unwrap).collect();
    assert_eq!(categories.len(), 7);
    let source_ids = strings(&df, "source_id");
    let texts = strings(&df, "text");
    let dev = std::fs::read_to_string(sib.join("dev.tsv")).unwrap();
    let first = dev.lines().nth(1).unwrap().split('\t').collect::<Vec<_>>();
    assert_eq!(source_ids[0].as_deref(), Some(first[0]));
    assert_eq!(texts[0].as_deref(), Some(first[2]));
}
