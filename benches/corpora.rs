//! The labelled corpora the clustering benchmark measures against: SIB-200 Italian (1,004
//! sentences, 7 human topics) and the PDPilot interviews with the team's coding (top-level
//! codes and codes as applied), each passage with its label, embedded through a cache under
//! `target/`, so only the first run embeds.

use std::path::Path;

use terreno::compare::{passage_codes, PassageSpan};
use terreno::config::{Config, Role, RoleRule};
use terreno::embed::cache::Cache;
use terreno::embed::e5::E5;
use terreno::embed::Prefix;
use terreno::pipeline::{ingest_and_segment, Ingested, Vectors};
use terreno::progress::Progress;

/// One labelled corpus.
pub struct Corpus {
    /// The passages, as the pipeline cuts them.
    pub ingested: Ingested,
    /// Their vectors (`passage: ` and `query: `).
    pub vectors: Vectors,
    /// Each label set (name, label per passage; `None`: the passage carries no label).
    pub labels: Vec<(&'static str, Vec<Option<String>>)>,
    /// The config the corpus was read with.
    pub config: Config,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn embed(model: &E5, ingested: &Ingested) -> Vectors {
    let texts: Vec<&str> = ingested.passages.iter().map(|p| p.text.as_str()).collect();
    let mut both = [Prefix::Passage, Prefix::Query].map(|prefix| {
        let mut cache = Cache::open(&root().join("target/bench-cache"), model, prefix).unwrap();
        let (vectors, _) = cache.embed(model, &texts, prefix, 1024, |_| {}).unwrap();
        vectors
    });
    Vectors { query: std::mem::take(&mut both[1]), passage: std::mem::take(&mut both[0]) }
}

/// SIB-200 Italian with its 7 topics.
pub fn sib(model: &E5) -> Corpus {
    let sib = root().join("../shared/data/sib200-ita");
    let mut config = Config::default();
    config.ingest.id_column = "index_id".into();
    let inputs = ["train.tsv", "dev.tsv", "test.tsv"].map(|f| sib.join(f));
    let ingested =
        ingest_and_segment(&config, &inputs, false, Progress::new(true)).expect("SIB-200");
    assert_eq!(ingested.passages.len(), 1004);
    let topics: Vec<Option<String>> = ingested
        .passages
        .iter()
        .map(|p| {
            let row = p.row.as_ref().expect("table rows");
            row.extra.iter().find(|(k, _)| k == "category").and_then(|(_, v)| v.clone())
        })
        .collect();
    let vectors = embed(model, &ingested);
    Corpus { ingested, vectors, labels: vec![("topic", topics)], config }
}

/// The PDPilot interviews with the team's coding: the main (largest-overlap) code of each
/// passage, at the top level and as applied.
pub fn pdpilot(model: &E5) -> Corpus {
    let pd = root().join("../shared/data/pdpilot-interviews");
    let mut config = Config::default();
    let mut roles = vec![RoleRule { pattern: "Dan".into(), role: Role::Interviewer }];
    roles.extend(config.ingest.roles.clone());
    config.ingest.set_roles(roles);
    let ingested =
        ingest_and_segment(&config, &[pd.join("transcripts")], false, Progress::new(true))
            .expect("PDPilot");
    let texts = ingested.docs.iter().map(|d| (d.id.clone(), d.text.clone())).collect();
    let coding = terreno::manual::load(&pd.join("coded_segments.tsv"), &texts).expect("coding");
    let spans: Vec<PassageSpan> = ingested
        .passages
        .iter()
        .map(|p| PassageSpan {
            id: p.id.clone(),
            document: p.document_id.clone(),
            start: p.char_start,
            end: p.char_end,
            cluster: -1,
        })
        .collect();
    let codes = passage_codes(&spans, &coding.segments);
    let main = |top: bool| -> Vec<Option<String>> {
        codes
            .iter()
            .map(|c| {
                c.first().map(|(code, _)| {
                    if top {
                        code.split(" > ").next().unwrap_or(code).to_string()
                    } else {
                        code.clone()
                    }
                })
            })
            .collect()
    };
    let vectors = embed(model, &ingested);
    Corpus { labels: vec![("top", main(true)), ("leaf", main(false))], ingested, vectors, config }
}

/// Writes a corpus for experiments outside Rust: one Parquet row per passage with its
/// provenance, text, prompt, analysis words, labels and vector.
pub fn dump(corpus: &Corpus, path: &Path) {
    use polars::prelude::*;
    let p = &corpus.ingested.passages;
    let s = |f: &dyn Fn(&terreno::segment::Passage) -> String| -> Vec<String> {
        p.iter().map(f).collect()
    };
    let mut cols = vec![
        Column::new("passage_id".into(), s(&|x| x.id.clone())),
        Column::new("document_id".into(), s(&|x| x.document_id.clone())),
        Column::new("speaker".into(), s(&|x| x.speaker.clone())),
        Column::new("turn".into(), p.iter().map(|x| x.turn as u32).collect::<Vec<_>>()),
        Column::new("text".into(), s(&|x| x.text.clone())),
        Column::new("prompt".into(), p.iter().map(|x| x.prompt.clone()).collect::<Vec<_>>()),
        Column::new("analysis".into(), s(&|x| x.analysis.clone())),
        terreno::embed::cache::vector_column(
            "vector",
            corpus.vectors.passage.iter().map(Vec::as_slice),
        )
        .unwrap(),
        terreno::embed::cache::vector_column(
            "query_vector",
            corpus.vectors.query.iter().map(Vec::as_slice),
        )
        .unwrap(),
    ];
    for (name, labels) in &corpus.labels {
        cols.push(Column::new((*name).into(), labels.clone()));
    }
    let mut df = DataFrame::new(p.len(), cols).unwrap();
    terreno::files::write_parquet(path, &mut df).unwrap();
}

/// All 67 ParlaTO interviews (about 20,000 passages), labelled where the development coding
/// of `tests/data/parlato-themes.tsv` covers them: the theme of the stretch of lines each
/// passage starts in (see `tests/data/README.md`).
pub fn parlato(model: &E5) -> Corpus {
    let config = Config::default();
    let dir = root().join("../shared/data/parlato/linear-orthographic");
    let ingested =
        ingest_and_segment(&config, &[dir], false, Progress::new(false)).expect("ParlaTO");
    let coding = std::fs::read_to_string(root().join("tests/data/parlato-themes.tsv")).unwrap();
    // (document, first line, last line, theme)
    let stretches: Vec<(&str, usize, usize, &str)> = coding
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0], f[1].parse().unwrap(), f[2].parse().unwrap(), f[3])
        })
        .collect();
    // For each coded document, the character offset of each line break, found once.
    let breaks: std::collections::HashMap<&str, Vec<usize>> = ingested
        .docs
        .iter()
        .filter(|d| stretches.iter().any(|s| s.0 == d.id))
        .map(|d| {
            let at = d.text.chars().enumerate().filter(|(_, c)| *c == '\n').map(|(i, _)| i);
            (d.id.as_str(), at.collect())
        })
        .collect();
    let themes = ingested
        .passages
        .iter()
        .map(|p| {
            let line =
                1 + breaks.get(p.document_id.as_str())?.partition_point(|&b| b < p.char_start);
            stretches
                .iter()
                .find(|s| s.0 == p.document_id && (s.1..=s.2).contains(&line))
                .map(|s| s.3.to_string())
        })
        .collect();
    let vectors = embed(model, &ingested);
    Corpus { ingested, vectors, labels: vec![("theme", themes)], config }
}
