//! Hostile and damaged files (issue 13): each one a clear error that names the file, skipped by
//! `--keep-going` like any other bad file, never a crash, an allocation of gigabytes or a
//! silent loss. Ingest-only cases run with `--no-embed`; the rest on runs of the tiny embedder.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::util::*;

/// A zip with the given members, deflated.
fn zip_file(path: &Path, members: &[(&str, &[u8])]) -> PathBuf {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default().large_file(true);
    for (name, bytes) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path.to_path_buf()
}

fn nested(tag: &str, depth: usize) -> String {
    format!("<{tag}>").repeat(depth) + &format!("</{tag}>").repeat(depth)
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/parlato").join(name)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn crafted_xml_and_zip_bombs_are_named_errors_and_keep_going_skips_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("study");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(sample("PTA007.txt"), input.join("PTA007.txt")).unwrap();
    let eaf = format!("<ANNOTATION_DOCUMENT>{}</ANNOTATION_DOCUMENT>", nested("X", 5000));
    write(&input, "deep.eaf", eaf);
    let body =
        format!("<w:document xmlns:w='w'><w:body>{}</w:body></w:document>", nested("w:p", 5000));
    zip_file(&input.join("deep.docx"), &[("word/document.xml", body.as_bytes())]);
    // 40 MiB of one letter: deflates to about 40 KiB, a ratio of 1000.
    let mut bomb = b"<w:document xmlns:w='w'><w:body><w:p><w:r><w:t>".to_vec();
    bomb.resize(40 << 20, b'a');
    zip_file(&input.join("bomb.docx"), &[("word/document.xml", &bomb)]);

    let out = dir.path().join("run");
    let ok = terreno()
        .args(["run", "--no-embed", "--quiet", "--keep-going", "--out"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let m = manifest(&out);
    let skipped = m["skipped_files"].as_array().expect("skipped files listed in the manifest");
    let text = serde_json::to_string(skipped).unwrap();
    assert_eq!(skipped.len(), 3, "{text}");
    assert!(
        text.contains("deep.eaf line 1: ELAN XML: elements nested more than 256 deep"),
        "{text}"
    );
    assert!(
        text.contains("deep.docx line 1: word/document.xml: elements nested more than 256"),
        "{text}"
    );
    assert!(text.contains("bomb.docx: word/document.xml would inflate to 40 MiB"), "{text}");
    assert_eq!(m["counts"]["documents"], 1);

    // Without --keep-going the first bad file stops the run, named, with exit 3.
    let bad = terreno()
        .args(["run", "--no-embed", "--quiet", "--force", "--out"])
        .arg(dir.path().join("run2"))
        .arg(input.join("bomb.docx"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("bomb.docx: word/document.xml would inflate"),
        "{}",
        stderr(&bad)
    );
    assert!(stderr(&bad).contains("TERRENO_MAX_ZIP_RATIO"), "{}", stderr(&bad));
}

#[test]
fn deep_codebooks_are_refused_with_the_line_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let open: String = (0..20_000)
        .map(|i| format!("<Code guid=\"00000000-0000-0000-0000-{i:012}\" name=\"c{i}\">"))
        .collect();
    let qdc = write(
        dir.path(),
        "deep.qdc",
        format!(
            "<CodeBook xmlns=\"urn:QDA-XML:codebook:1.0\"><Codes>{open}{}</Codes></CodeBook>",
            "</Code>".repeat(20_000)
        ),
    );
    let chain: String = (0..20_000)
        .map(|i| {
            let parent = if i > 0 { format!("parent = \"c{}\"\n", i - 1) } else { String::new() };
            format!("[[code]]\nid = \"c{i}\"\nname = \"c{i}\"\n{parent}")
        })
        .collect();
    let toml = write(dir.path(), "chain.toml", chain);
    for (file, says) in [
        (&qdc, "deep.qdc line 1: REFI-QDA codebook: elements nested more than 256 deep"),
        (&toml, "chain.toml line 257: code \"c64\" is nested 65 deep; codebooks are read to 64"),
    ] {
        let out = terreno()
            .args(["codebook", "convert"])
            .arg(file)
            .arg(dir.path().join("out.toml"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    // Deep enough for any real codebook, and raised for one command.
    let ok = terreno()
        .env("TERRENO_MAX_CODE_DEPTH", "30000")
        .args(["codebook", "convert"])
        .arg(&toml)
        .arg(dir.path().join("out.toml"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
}

#[test]
fn an_unterminated_quote_in_a_table_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "answers.csv",
        "id,text\n1,\"una risposta, con virgola\"\n2,\"questa apre e non chiude\n3,tutte le righe dopo\n4,sparirebbero\n",
    );
    let out = terreno()
        .args(["run", "--no-embed", "--quiet", "--out"])
        .arg(dir.path().join("run"))
        .arg(&csv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("answers.csv line 3: a quote (\") opens a field here that is never closed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn codebook_columns_are_read_by_their_common_names_and_unknown_ones_named() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "macqueen.csv",
        "Code,Brief definition,Full definition,When to use,When not to use,Example\n\
         Fiducia,Fidarsi dei servizi.,Quando si fidano (o no) dei servizi.,Se ne parlano,Mai,«mi fido»\n",
    );
    let toml = dir.path().join("book.toml");
    let out = terreno().args(["codebook", "convert"]).arg(&csv).arg(&toml).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let book = terreno::codebook::Codebook::read(&toml).unwrap();
    let c = &book.codes[0];
    assert_eq!(c.name, "Fiducia");
    assert_eq!(c.short, "Fidarsi dei servizi.");
    assert_eq!(c.definition, "Quando si fidano (o no) dei servizi.");
    assert_eq!((c.when_to_use.as_str(), c.when_not_to_use.as_str()), ("Se ne parlano", "Mai"));
    assert_eq!(c.examples, ["«mi fido»"]);

    let nvivo = write(
        dir.path(),
        "nvivo.csv",
        "Name,Description,Files,References,Created On\nFiducia,Fidarsi.,3,12,2024-01-01\n",
    );
    let out = terreno().args(["codebook", "convert"]).arg(&nvivo).arg(&toml).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let unknown = write(
        dir.path(),
        "unknown.csv",
        "name,short_definition,colour code,weight\nFiducia,x,#fff,3\n",
    );
    let out = terreno().args(["codebook", "convert"]).arg(&unknown).arg(&toml).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown.csv line 1: unknown columns `colour_code`, `weight`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn model_fetch_never_runs_code_from_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().join("here");
    std::fs::create_dir_all(here.join("pip")).unwrap();
    write(&here.join("pip"), "__init__.py", "");
    write(
        &here.join("pip"),
        "__main__.py",
        "import pathlib; pathlib.Path('RAN').write_text('yes'); raise SystemExit(0)\n",
    );
    // An index that refuses at once: pip fails fast, and nothing is downloaded.
    let out = terreno()
        .current_dir(&here)
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "1")
        .args(["model", "fetch", "--dir"])
        .arg(dir.path().join("model"))
        .output()
        .unwrap();
    assert!(!here.join("RAN").exists(), "pip/__main__.py of the current folder ran");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("pip could not download"), "{}", stderr(&out));
}

#[test]
fn candidates_md_shows_markup_from_transcripts_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let line = "A: <script>alert(1)</script> ciao <img src=x onerror=alert(2)> la vita nel \
                quartiere **grassetto** [link](http://x) qui\nB: sì davvero, il quartiere\n";
    let input = write(dir.path(), "evil.txt", line.repeat(12));
    let out = dir.path().join("run");
    tiny_run(&[&input], &out, false, |_| {}).unwrap();
    let md = std::fs::read_to_string(out.join("candidates.md")).unwrap();
    assert!(md.contains("&lt;img src=x onerror=alert(2)&gt;"), "{md}");
    assert!(md.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{md}");
    for raw in ["<script", "<img", "**grassetto**", "[link]("] {
        assert!(!md.contains(raw), "{raw} reached candidates.md as it is:\n{md}");
    }
}

/// The six sample interviews as a finished run of the tiny embedder, and its texts.
fn sample_texts(dir: &Path) -> terreno::manual::Texts {
    let out = dir.join("run");
    let inputs: Vec<PathBuf> = ["PTA007", "PTD013", "PTD014", "PTD022", "TOD2004", "TOD2006"]
        .map(|d| sample(&format!("{d}.txt")))
        .into();
    tiny_run(&inputs, &out, false, |_| {}).unwrap();
    terreno::run::RunDir::new(&out).texts().unwrap()
}

/// Quotes as QDA tools and PDF exports give them (other case, punctuation, typographic
/// apostrophes, a speaker label left out, a word changed), each with the span it must take in
/// the transcript. The spans were read off the transcripts by hand (`sources/<id>.txt`, code
/// points, end exclusive) and checked by printing the text at each.
/// A quote: its document, its text, and the span it must take (`None`: not placed).
type Quote = (&'static str, &'static str, Option<(usize, usize)>);

const QUOTES: [Quote; 20] = [
    ("PTA007", "Ho iniziato lavorando, in una web-agency come dipendente.", Some((1080, 1135))),
    ("PTA007", "poi mi son licenziato e ho aperto partita iva", Some((1182, 1234))),
    ("PTA007", "post diploma di design e programmazione", Some((946, 985))),
    ("PTA007", "«non ho vissuto all’estero quindi non ho altri paragoni»", Some((2101, 2155))),
    ("PTA007", "SONO UN FORNITORE DI ALTRE", Some((555, 581))),
    ("PTA007", "freelance cioè libero professionista e informatico", Some((41, 91))),
    ("PTA007", "da due anni", Some((682, 693))),
    ("PTA007", "sì mi piace quello che faccio", Some((1474, 1503))),
    ("PTD013", "è un posto dove puoi avere una dimensione abbastanza rilassata anche a contatto della natura", Some((3301, 3393))),
    ("PTD013", "allora eravamo giovani e a quel tempo si andava molto in discoteca", Some((3914, 3980))),
    ("PTD013", "Io ero giovane, eh, però discutendo tanto con i miei genitori poi loro a volte mi lasciavano andare a ballare.", Some((4172, 4279))),
    ("TOD2004", "e poi giù ho cucina salotto due stanze / mh un bagno grande e un bagnettino piccolo", Some((1284, 1371))),
    ("TOD2004", "c'è la scala a chiocciola, c'è la mia stanza, la sala e un altro bagno", Some((1378, 1446))),
    ("PTD022", "fa parte del mestiere come avrai idea che faccia parte del mestiere questo", Some((1700, 1774))),
    ("PTD022", "ho studiato questa cosa qua e lo faccio perché mi piace", Some((1521, 1576))),
    // One word changed (volontà → voglia): placed by the pieces around it, same span.
    ("PTD022", "per disperazione ma non lo farei con la voglia che ci metto per fare le cose che faccio", Some((1942, 2030))),
    // In the transcript several times: nothing tells which, so not placed.
    ("PTA007", "non lo so", None),
    ("PTA007", "okay", None),
    ("TOD2004", "la cucina", None),
    // Not in the transcript at all.
    ("PTD013", "una frase che nessuno ha mai detto in questa intervista sul quartiere", None),
];

#[test]
fn quotes_are_placed_on_the_spans_read_by_hand_and_repeated_ones_are_ambiguous() {
    let dir = tempfile::tempdir().unwrap();
    let texts = sample_texts(dir.path());
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["document", "code", "segment"]).unwrap();
    for (i, (doc, quote, _)) in QUOTES.iter().enumerate() {
        csv.write_record([*doc, &format!("q{i:02}"), *quote]).unwrap();
    }
    let path = write(dir.path(), "quotes.csv", csv.into_inner().unwrap());
    let coding = terreno::manual::load(&path, &texts).unwrap();
    assert_eq!(coding.total, QUOTES.len());
    for (i, (doc, quote, want)) in QUOTES.iter().enumerate() {
        let code = format!("q{i:02}");
        let got = coding.segments.iter().find(|s| s.code == code);
        match (want, got) {
            (Some((a, b)), Some(s)) => {
                assert_eq!((s.document.as_str(), s.start, s.end), (*doc, *a, *b), "{quote}")
            }
            (None, None) => {
                let u = coding.unplaced.iter().find(|u| u.code == code).unwrap();
                let repeated =
                    u.reason.contains("times in") && u.reason.contains("nothing tells which");
                assert_eq!(repeated, i < QUOTES.len() - 1, "{quote}: {}", u.reason);
            }
            (want, got) => panic!("{quote}: expected {want:?}, placed {got:?}"),
        }
    }
    assert_eq!(coding.fuzzy, 3, "the two speaker labels left out and the changed word");
}

/// A REFI-QDA project with one text source and selections `(start, end)` on it.
fn project(
    dir: &Path,
    name: &str,
    text: &str,
    selections: &[(usize, usize)],
    in_zip: bool,
) -> PathBuf {
    let esc = |s: &str| terreno::xml::escape(s, false);
    let sels: String = selections
        .iter()
        .enumerate()
        .map(|(i, (a, b))| {
            format!(
                "<PlainTextSelection guid=\"22222222-2222-2222-2222-{i:012}\" startPosition=\"{a}\" \
                 endPosition=\"{b}\"><Coding guid=\"33333333-3333-3333-3333-{i:012}\"><CodeRef \
                 targetGUID=\"11111111-1111-1111-1111-111111111111\"/></Coding></PlainTextSelection>"
            )
        })
        .collect();
    let guid = "44444444-4444-4444-4444-444444444444";
    let source = if in_zip {
        format!("<TextSource guid=\"{guid}\" name=\"PTA007.txt\" plainTextPath=\"internal://{guid}.txt\">{sels}</TextSource>")
    } else {
        format!("<TextSource guid=\"{guid}\" name=\"PTA007.txt\"><PlainTextContent>{}</PlainTextContent>{sels}</TextSource>", esc(text))
    };
    let qde = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Project xmlns=\"urn:QDA-XML:project:1.0\" name=\"p\">\
         <CodeBook><Codes><Code guid=\"11111111-1111-1111-1111-111111111111\" name=\"Lavoro\" \
         isCodable=\"true\"/></Codes></CodeBook><Sources>{source}</Sources></Project>"
    );
    let member = format!("sources/{guid}.txt");
    let mut members: Vec<(&str, &[u8])> = vec![("project.qde", qde.as_bytes())];
    if in_zip {
        members.push((&member, text.as_bytes()));
    }
    zip_file(&dir.join(name), &members)
}

#[test]
fn project_positions_are_checked_byte_order_marks_dropped_and_changed_texts_placed_by_text() {
    let dir = tempfile::tempdir().unwrap();
    let texts = sample_texts(dir.path());
    let text = &texts["PTA007"];
    let len = text.chars().count();
    let span = |s: &terreno::manual::CodedSegment| (s.start, s.end);

    // QualCoder writes its sources with a byte-order mark and counts positions after it.
    let bom = format!("\u{feff}{text}");
    let p = project(dir.path(), "bom.qdpx", &bom, &[(41, 91), (1080, 1135)], true);
    let c = terreno::manual::load(&p, &texts).unwrap();
    assert_eq!(c.segments.iter().map(span).collect::<Vec<_>>(), [(41, 91), (1080, 1135)]);
    assert!(c.warnings.is_empty() && c.unplaced.is_empty(), "{:?}", c.warnings);

    // Backwards, empty and past-the-end selections are not placed, and say why.
    let p = project(
        dir.path(),
        "bad.qdpx",
        text,
        &[(100, 40), (50, 50), (len + 10, len + 500), (41, 91)],
        false,
    );
    let c = terreno::manual::load(&p, &texts).unwrap();
    assert_eq!(c.segments.iter().map(span).collect::<Vec<_>>(), [(41, 91)]);
    assert_eq!(c.unplaced.len(), 3);
    for u in &c.unplaced {
        assert!(u.reason.contains("is not a span of the project's text"), "{}", u.reason);
    }

    // A project whose text differs (Windows line ends): placed by text, near where the
    // project had it, with a warning; the third "non lo so" is the one at 1655.
    let crlf = text.replace('\n', "\r\n");
    let at = |needle: &str, nth: usize| {
        let chars: Vec<char> = crlf.chars().collect();
        let n: Vec<char> = needle.chars().collect();
        let hits: Vec<usize> =
            (0..chars.len() - n.len()).filter(|&i| chars[i..i + n.len()] == n[..]).collect();
        (hits[nth], hits[nth] + n.len())
    };
    let p =
        project(dir.path(), "crlf.qdpx", &crlf, &[at("non lo so", 2), at("da due anni", 0)], false);
    let c = terreno::manual::load(&p, &texts).unwrap();
    assert_eq!(c.segments.iter().map(span).collect::<Vec<_>>(), [(682, 693), (1655, 1664)]);
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].contains("differs from the run's: its 2 codings were placed by their text")
    );
}

#[test]
fn two_reviewers_at_once_keep_every_decision_with_its_own_number_and_undo_their_own() {
    use terreno::review::{read_decisions, Action, Session};
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    tiny_run(&[sample("PTA007.txt"), sample("PTD013.txt")], &run, false, |_| {}).unwrap();
    let mut giulia = Session::open(&run, "giulia").unwrap();
    let mut marta = Session::open(&run, "marta").unwrap();
    let ids: Vec<String> = giulia.candidates.iter().map(|c| c.id.clone()).collect();
    assert!(ids.len() >= 4, "{ids:?}");
    let confirm =
        |name: &str| Action::Confirm { name: name.into(), definition: String::new(), parent: None };
    giulia.decide(&ids[0], confirm("Lavoro autonomo"), "").unwrap();
    marta.decide(&ids[1], Action::Reject { reason: "solo saluti".into() }, "").unwrap();
    giulia.decide(&ids[2], confirm("Casa"), "").unwrap();
    marta.decide(&ids[3], confirm("Famiglia"), "").unwrap();
    // While they review, a run over the directory is refused.
    let refused = tiny_run(&[sample("PTA007.txt")], &run, true, |_| {}).unwrap_err().to_string();
    assert!(refused.contains("this run directory is in use"), "{refused}");
    // Giulia's undo takes back her last decision, not Marta's later one.
    let undone = giulia.undo().unwrap().unwrap();
    assert_eq!((undone.candidate.as_str(), undone.who.as_str()), (ids[2].as_str(), "giulia"));
    let log = read_decisions(&run.join("decisions.jsonl")).unwrap();
    let seen: Vec<(u64, &str)> = log.iter().map(|d| (d.seq, d.who.as_str())).collect();
    assert_eq!(seen, [(1, "giulia"), (2, "marta"), (3, "giulia"), (4, "marta"), (5, "giulia")]);
    assert!(matches!(log[4].action, Action::Undo { undoes: 3 }));
    // Each sees the other's decisions when the codebook is written.
    drop(giulia);
    let written = marta.finish().unwrap().unwrap();
    let book = terreno::codebook::Codebook::read(&written.0).unwrap();
    let names: Vec<&str> = book.codes.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&"Lavoro autonomo") && names.contains(&"Famiglia"), "{names:?}");
    assert!(!names.contains(&"Casa"), "{names:?}");
}

/// Complete vectors in an embedding cache directory, counted from its shards' sizes
/// (header 12 bytes; records of key, 384 floats and a checksum).
fn vectors_on_disk(cache: &Path) -> usize {
    let record = 16 + 4 * 384 + 4;
    walkdir::WalkDir::new(cache)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "vectors"))
        .map(|e| (e.metadata().unwrap().len() as usize).saturating_sub(12) / record)
        .sum()
}

/// `terreno run` on sample files with the real model, its own cache, as a child process.
fn sample_command(files: &[&str], out: &Path, cache: &Path) -> std::process::Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("terreno"));
    cmd.args(["run", "--quiet", "--force", "--config"])
        .arg(root.join("data/sample.toml"))
        .arg("--cache-dir")
        .arg(cache)
        .arg("--out")
        .arg(out)
        .args(files.iter().map(|f| sample(f)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    cmd
}

const SAMPLE: [&str; 6] =
    ["PTA007.txt", "PTD013.txt", "PTD014.txt", "PTD022.txt", "TOD2004.txt", "TOD2006.txt"];

#[test]
fn a_run_killed_while_embedding_resumes_from_every_vector_it_had_written() {
    let dir = tempfile::tempdir().unwrap();
    let (out, cache) = (dir.path().join("run"), dir.path().join("cache"));
    let mut child = sample_command(&SAMPLE, &out, &cache).spawn().unwrap();
    let started = std::time::Instant::now();
    // Killed once a first chunk of vectors is on disk, well before the embedding ends.
    while vectors_on_disk(&cache) == 0 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it was killed");
        assert!(started.elapsed().as_secs() < 120, "no vector reached the cache in 2 minutes");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = vectors_on_disk(&cache);
    let m = manifest(&out);
    assert_eq!(m["state"], "running", "killed before it finished");
    let texts = 2 * m["counts"]["passages"].as_u64().unwrap() as usize;
    assert!(kept >= 256 && kept < texts, "{kept} of {texts} texts on disk at the kill");

    let again = sample_command(&SAMPLE, &out, &cache).output().unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    let m = manifest(&out);
    assert_eq!(m["state"], "finished");
    let embedded = m["counts"]["embedded_texts"].as_u64().unwrap() as usize;
    assert!(embedded + kept <= texts, "embedded {embedded} again though {kept} were kept");
}

#[test]
fn two_runs_sharing_a_cache_at_once_keep_every_vector() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let a = sample_command(&SAMPLE[..3], &dir.path().join("a"), &cache).spawn().unwrap();
    let b = sample_command(&SAMPLE[3..], &dir.path().join("b"), &cache).spawn().unwrap();
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let both = [manifest(&dir.path().join("a")), manifest(&dir.path().join("b"))];
    let embedded: u64 = both.iter().map(|m| m["counts"]["embedded_texts"].as_u64().unwrap()).sum();
    assert!(embedded > 0);
    // All six again: every text is served by the cache.
    let all = sample_command(&SAMPLE, &dir.path().join("all"), &cache).output().unwrap();
    assert!(all.status.success(), "{}", stderr(&all));
    assert_eq!(manifest(&dir.path().join("all"))["counts"]["embedded_texts"], 0);
}

#[test]
fn the_sample_runs_in_a_network_namespace_without_any_network() {
    // `unshare -n` gives the command a network namespace of its own with no interface up:
    // nothing can be reached, not even this machine's other addresses.
    let probe = std::process::Command::new("unshare").args(["-n", "true"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        let why = probe.map_or_else(|e| e.to_string(), |o| stderr(&o));
        println!("skipped: network namespaces are not permitted here ({})", why.trim());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.path().join("run");
    // A fresh cache: the model embeds every passage inside the namespace.
    let run = std::process::Command::new("unshare")
        .arg("-n")
        .arg(assert_cmd::cargo::cargo_bin("terreno"))
        .args(["run", "--quiet", "--config"])
        .arg(root.join("data/sample.toml"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("--out")
        .arg(&out)
        .arg(root.join("data/parlato"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let m = manifest(&out);
    assert_eq!(m["state"], "finished");
    assert_eq!(m["counts"]["embedded_cached"], 0);
    assert!(out.join("candidates.md").exists() && out.join("report.html").exists());
    // The namespace really has no network: a connection to a public address fails there.
    let offline = std::process::Command::new("unshare")
        .args([
            "-n",
            "python3",
            "-c",
            "import socket; socket.create_connection(('1.1.1.1', 53), 2)",
        ])
        .output()
        .unwrap();
    assert!(!offline.status.success());
    assert!(stderr(&offline).contains("Network is unreachable"), "{}", stderr(&offline));
}

/// Replays every input `make fuzz` kept (`tests/fuzz/<target>/`, and `crashes/` when a run
/// found any) through its reader: each gives a result or an error, never a panic.
#[test]
fn every_input_the_fuzzer_kept_is_read_without_a_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let texts: terreno::manual::Texts = SAMPLE
        .iter()
        .map(|f| {
            (f.trim_end_matches(".txt").to_string(), std::fs::read_to_string(sample(f)).unwrap())
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut replayed = 0;
    for entry in walkdir::WalkDir::new(&root).into_iter().filter_map(Result::ok) {
        let path = entry.path();
        if !entry.file_type().is_file() || path.starts_with(root.join("seeds")) {
            continue;
        }
        let target = path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        let target = if target == "crashes" {
            path.file_name().unwrap().to_string_lossy().rsplit_once('-').unwrap().0.to_string()
        } else {
            target
        };
        let ext = path.extension().unwrap().to_string_lossy().into_owned();
        let copy = dir.path().join(format!("input.{ext}"));
        std::fs::copy(path, &copy).unwrap();
        let bytes = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| match target.as_str() {
            "codebook-toml" | "codebook-csv" | "qdc" => {
                terreno::codebook::Codebook::read(&copy).map(|_| ()).map_err(|e| e.to_string())
            }
            "manual-csv" | "qdpx" => {
                terreno::manual::load(&copy, &texts).map(|_| ()).map_err(|e| e.to_string())
            }
            "decisions" => {
                terreno::review::read_decisions(&copy).map(|_| ()).map_err(|e| e.to_string())
            }
            "model" => terreno::embed::model_file::ModelFile::parse(&copy, bytes)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            _ => terreno::ingest::read_file(&copy, &Default::default())
                .map(|_| ())
                .map_err(|e| e.to_string()),
        });
        assert!(outcome.is_ok(), "{} crashed its reader", path.display());
        if let Ok(Err(message)) = outcome {
            assert!(
                message.contains("input."),
                "{}: the error names no file: {message}",
                path.display()
            );
        }
        replayed += 1;
    }
    println!("{replayed} kept inputs replayed");
}

#[test]
fn parquet_files_the_fuzzer_crafted_are_named_errors_not_aborts() {
    // Each of these aborted or panicked inside the Parquet reader (under a 4 GiB memory limit:
    // it allocated what a damaged length declared: 2⁶¹ bytes, 5 GB, 158 GB).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/parquet");
    for (file, says) in [
        (
            "page-values-2-to-the-64.parquet",
            "a page of column `id` claims 18446744073709551552 values",
        ),
        ("column-shorter-than-its-table.parquet", "a damaged file: its reader stopped"),
        ("footer-list-of-82-million.parquet", "its footer is damaged (field 4 is not a list)"),
        ("footer-field-of-another-type.parquet", "its footer is damaged (field 2 is not a list)"),
    ] {
        let out = std::process::Command::new("prlimit")
            .arg("--as=4294967296")
            .arg(assert_cmd::cargo::cargo_bin("terreno"))
            .args(["run", "--no-embed", "--quiet", "--out"])
            .arg(tempfile::tempdir().unwrap().path().join("run"))
            .arg(dir.join(file))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains(file) && stderr(&out).contains(says), "{}", stderr(&out));
    }
}

#[test]
fn a_codebook_of_twenty_thousand_codes_of_one_name_gets_numbered_ids() {
    // Found by the fuzzer: every id was searched from "-2" up, 22 s for a 400 KB table.
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..20_000).map(|_| "Vita di quartiere\n").collect();
    let csv = write(dir.path(), "many.csv", format!("name\n{rows}"));
    let book = terreno::codebook::Codebook::read(&csv).unwrap();
    assert_eq!(book.codes.len(), 20_000);
    assert_eq!(book.codes[0].id, "vita-di-quartiere");
    assert_eq!(book.codes[1].id, "vita-di-quartiere-2");
    assert_eq!(book.codes[19_999].id, "vita-di-quartiere-20000");
}
