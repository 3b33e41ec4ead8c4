//! The one place that knows the order of the stages: ingest → segment → embed → cluster →
//! describe → annotate (codebook, earlier review) → compare → report. Each stage is a function
//! from the earlier stages' output to its own; [`RunDir`] alone writes the run directory, and
//! the manifest records each finished stage, so an interrupted run says where it stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::ParallelProgressIterator;
use rayon::prelude::*;

use crate::cluster::{self, Clustering};
use crate::config::Config;
use crate::embed::{self, Embedder, Prefix};
use crate::error::{Error, Result};
use crate::ingest::{self, Document};
use crate::label;
use crate::progress::Progress;
use crate::review::carry::Carry;
use crate::review::CandidatesFile;
use crate::run::{self, Counts, InputRecord, Manifest, ModelRecord, RunDir, RunState};
use polars::prelude::{Column, DataFrame};

/// Passages handed to the embedder at a time: each chunk goes to the cache on disk as soon as
/// it is embedded (a second or two of work at the model's speed), and memory stays bounded
/// whatever the corpus size.
pub const EMBED_CHUNK: usize = 256;
use crate::segment::{self, Passage};
use crate::text::Analyzer;

/// What `terreno run` was asked to do, besides the config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Files and folders.
    pub inputs: Vec<PathBuf>,
    /// The run directory.
    pub out: PathBuf,
    /// Overwrite an existing run directory.
    pub force: bool,
    /// Skip unreadable files with a warning instead of failing.
    pub keep_going: bool,
    /// No progress bars.
    pub quiet: bool,
    /// The command line, for the manifest.
    pub command: Vec<String>,
    /// Only shard I of N (`--shard I/N`): its share of the documents, read and embedded into
    /// `OUT/shards/I/`, for `terreno merge`.
    pub shard: Option<(usize, usize)>,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The manifest written.
    pub manifest: Manifest,
    /// The run directory.
    pub out: PathBuf,
    /// The candidate codes (empty when the run stopped before clustering).
    pub candidates: Vec<label::Candidate>,
    /// Their categories.
    pub categories: Vec<label::Category>,
    /// New candidates per document.
    pub saturation: Vec<label::SaturationPoint>,
    /// The codebook the candidates were compared with.
    pub codebook: Option<PathBuf>,
    /// The comparison with the manual coding, when one was given.
    pub comparison: Option<crate::compare::Comparison>,
}

/// What ingest and segment produce.
#[derive(Debug)]
pub struct Ingested {
    /// The documents, sorted by id.
    pub docs: Vec<Document>,
    /// Their passages, in document order.
    pub passages: Vec<Passage>,
    /// Counts from segmenting.
    pub stats: segment::SegmentStats,
    /// Files skipped under `keep_going`, with the reason.
    pub skipped: Vec<String>,
    /// The language the transcripts were read in.
    pub language: crate::text::TextLanguage,
}

/// Reads and segments the inputs.
pub fn ingest_and_segment(
    config: &Config,
    inputs: &[PathBuf],
    keep_going: bool,
    progress: Progress,
) -> Result<Ingested> {
    let (files, notes) = ingest::collect_inputs(inputs)?;
    if files.is_empty() {
        return Err(Error::Config(format!(
            "no transcripts found in {} (terreno reads {})",
            inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            ingest::EXTENSIONS.join(", ")
        )));
    }
    let bar = progress.bar(files.len() as u64, "files");
    let results: Vec<Result<Document>> = files
        .par_iter()
        .progress_with(bar.clone())
        .map(|f| ingest::read_file(f, &config.ingest))
        .collect();
    bar.finish_and_clear();
    let mut docs = Vec::new();
    let mut skipped = notes;
    for r in results {
        match r {
            Ok(d) => docs.push(d),
            Err(e) if keep_going && e.is_input() => skipped.push(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    if docs.is_empty() {
        return Err(Error::Config("no input could be read".into()));
    }
    ingest::assign_ids(&mut docs)?;
    if let Some(path) = &config.ingest.metadata {
        let table = ingest::read_metadata(path)?;
        let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut by_id: std::collections::BTreeMap<
            &str,
            &std::collections::BTreeMap<String, String>,
        > = Default::default();
        for (name, attrs) in &table {
            if let Some(id) = ingest::resolve_document(&ids, name) {
                by_id.insert(id, attrs);
            }
        }
        for doc in &mut docs {
            if let Some(attrs) = by_id.get(doc.id.as_str()) {
                doc.metadata = (*attrs).clone();
            } else {
                doc.warnings.push(format!("no row in the metadata table {}", path.display()));
            }
        }
    }
    let analyzer = Analyzer::detect(docs.iter().map(|d| d.text.as_str()));
    let bar = progress.bar(docs.len() as u64, "segmenting");
    let segmented: Vec<_> = docs
        .par_iter()
        .progress_with(bar.clone())
        .map(|d| segment::segment(d, &config.segment, &analyzer))
        .collect();
    bar.finish_and_clear();
    let mut stats = segment::SegmentStats::default();
    let mut passages = Vec::new();
    for (p, s) in segmented {
        stats.runs += s.runs;
        stats.words += s.words;
        stats.backchannels_dropped += s.backchannels_dropped;
        passages.extend(p);
    }
    let language = analyzer.language();
    Ok(Ingested { docs, passages, stats, skipped, language })
}

/// The `passage_id` column every per-passage table starts with.
fn passage_ids(passages: &[Passage]) -> Column {
    Column::new("passage_id".into(), passages.iter().map(|p| p.id.as_str()).collect::<Vec<_>>())
}

/// Rows per row group of `embeddings.parquet` (about 200 MB of vectors at a time).
const EMBEDDINGS_GROUP: usize = 65_536;

/// Runs the pipeline and writes the run directory. `embedder` is `None` to stop after the
/// passages (`--no-embed`).
pub fn run(config: &Config, opts: &RunOptions, embedder: Option<&dyn Embedder>) -> Result<Summary> {
    config.validate()?;
    if let Some((i, n)) = opts.shard {
        if i == 0 || i > n {
            return Err(Error::Config(format!("--shard {i}/{n}: I goes from 1 to N")));
        }
    }
    let out = match opts.shard {
        Some((i, _)) => opts.out.join(run::SHARDS).join(i.to_string()),
        None => opts.out.clone(),
    };
    let dir = RunDir::new(&out);
    dir.check(&opts.inputs)?;
    // The codebook, the earlier review and the manual coding are read before any work, so a bad
    // one stops the run before anything is written.
    let carry = load_carry(config, &dir)?;
    let progress = Progress::new(opts.quiet);
    let started = Instant::now();
    let mut ingested = ingest_and_segment(config, &opts.inputs, opts.keep_going, progress)?;
    let shard = opts.shard.map(|(i, n)| take_share(&mut ingested, i, n, opts));
    let ingest_secs = started.elapsed().as_secs_f64();
    let manual = read_manual(config, &ingested.docs)?;

    // Everything was read: only now is anything written, by this process alone.
    let _lock = dir.lock()?;
    dir.prepare(opts.force, &opts.inputs)?;
    let mut manifest = write_passages(&dir, config, opts, &ingested)?;
    manifest.timings.insert("ingest_segment".into(), ingest_secs);
    let mut stage = Stage { dir: &dir, manifest: &mut manifest, started };
    stage.done(&["ingest", "segment"], "write", Instant::now())?;
    let passages = &ingested.passages;
    let Some(embedder) = embedder.filter(|_| !config.embed.skip) else {
        return finish(stage, Described::default(), None);
    };

    let t = Instant::now();
    let vectors = embed_passages(&dir, config, embedder, passages, stage.manifest, progress)?;
    stage.done(&["embed"], "embed", t)?;
    if shard.is_some() {
        // A shard stops here: `terreno merge` clusters and describes the whole run.
        stage.manifest.shard = shard;
        return finish(stage, Described::default(), None);
    }

    let t = Instant::now();
    // No steps to count here: the time so far, and the whole stage's length as measured
    // (`make bench-scale`: about 40 s plus 0.16 ms a passage on two cores).
    let expected = Duration::from_secs_f64(40.0 + 1.6e-4 * passages.len() as f64);
    let bar = progress.stage("clustering", expected);
    let clustering = cluster_passages(&dir, config, &carry, &vectors, passages)?;
    bar.set_message("naming");
    let described = describe(&dir, config, &carry, embedder, &ingested, &vectors, &clustering)?;
    bar.finish_and_clear();
    let comparison = compare(&dir, config, manual.as_ref(), passages, &clustering, &described)?;
    let vectors = vectors.passage;
    stage.manifest.clusters = Some(run::ClusterRecord {
        clusters: clustering.n_clusters(),
        categories: described.file.categories.len(),
        not_coded: clustering.not_coded,
        unassigned: described.file.unassigned,
        outliers_found: clustering.outliers_found,
        outliers_attached: clustering.outliers_attached,
        min_cluster_size: clustering.min_cluster_size,
        min_samples: clustering.min_samples,
    });
    stage.done(&["cluster", "label"], "cluster_label", t)?;

    let t = Instant::now();
    let points = crate::cluster::projection(&vectors, &clustering.labels);
    let html = crate::html::render(
        stage.manifest,
        &described.file,
        Some((&points, &clustering.labels)),
        comparison.as_ref(),
        config.report.language,
    )?;
    dir.write_text(run::REPORT, &html)?;
    stage.done(&["report"], "report", t)?;
    finish(stage, described, comparison)
}

/// The shard (1 to `n`) a document belongs to: by a hash of its id, so that adding documents
/// to a study moves none of the others to another shard.
pub fn shard_of(document_id: &str, n: usize) -> usize {
    use sha2::Digest;
    let h = sha2::Sha256::digest(document_id.as_bytes());
    let x = u64::from_le_bytes(h[..8].try_into().expect("eight bytes"));
    (x % n.max(1) as u64) as usize + 1
}

/// Keeps shard `i` of `n`'s documents and their passages; returns what the shard's manifest
/// records.
fn take_share(ingested: &mut Ingested, i: usize, n: usize, opts: &RunOptions) -> run::ShardRecord {
    let documents: Vec<String> = ingested.docs.iter().map(|d| d.id.clone()).collect();
    ingested.docs.retain(|d| shard_of(&d.id, n) == i);
    let kept: BTreeSet<&str> = ingested.docs.iter().map(|d| d.id.as_str()).collect();
    ingested.passages.retain(|p| kept.contains(p.document_id.as_str()));
    run::ShardRecord {
        index: i,
        count: n,
        inputs: opts.inputs.iter().map(|p| std::path::absolute(p).unwrap_or(p.clone())).collect(),
        keep_going: opts.keep_going,
        documents,
    }
}

/// Records finished stages in the manifest, which is written after each, so a run stopped
/// later still says what it has.
struct Stage<'a> {
    dir: &'a RunDir,
    manifest: &'a mut Manifest,
    started: Instant,
}

impl Stage<'_> {
    fn done(&mut self, stages: &[&str], timing: &str, since: Instant) -> Result<()> {
        self.manifest.stages.extend(stages.iter().map(|s| s.to_string()));
        self.manifest.timings.insert(timing.into(), since.elapsed().as_secs_f64());
        self.manifest.timings.insert("total".into(), self.started.elapsed().as_secs_f64());
        self.manifest.peak_rss_mib = run::peak_rss_mib();
        self.dir.write_json(run::MANIFEST, &*self.manifest)
    }
}

/// Marks the run finished and returns what it reports.
fn finish(
    stage: Stage,
    described: Described,
    comparison: Option<crate::compare::Comparison>,
) -> Result<Summary> {
    stage.manifest.state = RunState::Finished;
    stage.manifest.created = run::now();
    stage.dir.write_json(run::MANIFEST, &*stage.manifest)?;
    let CandidatesFile { candidates, saturation, categories, .. } = described.file;
    Ok(Summary {
        manifest: stage.manifest.clone(),
        out: stage.dir.path().to_path_buf(),
        candidates,
        categories,
        saturation,
        codebook: described.codebook,
        comparison,
    })
}

/// The codebook and the review a run starts from: `--from`, else this directory's own review
/// when it has one (a re-run carries it forward).
fn load_carry(config: &Config, dir: &RunDir) -> Result<Carry> {
    let from =
        config.codebook.from.clone().or_else(|| {
            (dir.has_review() && dir.manifest().is_ok()).then(|| dir.path().to_path_buf())
        });
    Carry::load(config.codebook.path.as_deref(), from.as_deref())
}

/// The manual coding laid onto the transcripts.
fn read_manual(config: &Config, docs: &[Document]) -> Result<Option<crate::manual::ManualCoding>> {
    let Some(path) = &config.compare.manual else { return Ok(None) };
    let texts: crate::manual::Texts = docs.iter().map(|d| (d.id.clone(), d.text.clone())).collect();
    Ok(Some(crate::manual::load(path, &texts)?))
}

/// Writes the sources, `passages.parquet` and the first manifest (state: running).
fn write_passages(
    dir: &RunDir,
    config: &Config,
    opts: &RunOptions,
    ingested: &Ingested,
) -> Result<Manifest> {
    let Ingested { docs, passages, stats, skipped, language } = ingested;
    dir.write_sources(docs)?;
    let mut frame = run::passages_frame(passages, docs)?;
    dir.write_parquet(run::PASSAGES, &mut frame)?;
    let warnings: Vec<String> = docs
        .iter()
        .flat_map(|d| d.warnings.iter().map(move |w| format!("{}: {w}", d.source.display())))
        .chain(skipped.iter().map(|s| format!("skipped {s}")))
        .collect();
    let speakers: BTreeSet<(&str, &str)> = docs
        .iter()
        .flat_map(|d| d.turns.iter().map(move |t| (d.id.as_str(), t.speaker.as_str())))
        .collect();
    let counts = Counts {
        documents: docs.len(),
        speakers: speakers.len(),
        turns: docs.iter().map(|d| d.turns.len()).sum(),
        passages: passages.len(),
        words: stats.words,
        backchannels_dropped: stats.backchannels_dropped,
        warnings: warnings.len(),
        language: Some(language.code().to_string()),
        ..Counts::default()
    };
    Ok(Manifest {
        terreno_version: env!("CARGO_PKG_VERSION").to_string(),
        created: run::now(),
        command: opts.command.clone(),
        inputs: docs
            .iter()
            .map(|d| InputRecord {
                path: d.source.display().to_string(),
                document_id: d.id.clone(),
                source: RunDir::source_rel(&d.id),
                format: d.format,
                sha256: d.sha256.clone(),
                bytes: d.bytes,
            })
            .collect(),
        config: config.clone(),
        counts,
        timings: BTreeMap::new(),
        warnings,
        skipped_files: skipped.clone(),
        model: None,
        clusters: None,
        peak_rss_mib: None,
        stages: Vec::new(),
        state: RunState::Running,
        shard: None,
    })
}

/// A passage's two embeddings: with the e5 `passage: ` prefix (matched against the codebook's
/// `query: ` definitions, as e5 retrieves) and with `query: ` (e5's prefix for clustering:
/// measured on SIB-200, k-means with k = 7 agrees with the topics at ARI 0.37–0.44 on these,
/// 0.28–0.31 on the passage embeddings).
pub struct Vectors {
    /// `passage: ` embeddings.
    pub passage: Vec<Vec<f32>>,
    /// `query: ` embeddings.
    pub query: Vec<Vec<f32>>,
}

/// Embeds the passages through the cache and writes `embeddings.parquet`.
fn embed_passages(
    dir: &RunDir,
    config: &Config,
    embedder: &dyn Embedder,
    passages: &[Passage],
    manifest: &mut Manifest,
    progress: Progress,
) -> Result<Vectors> {
    let cache_dir =
        config.embed.cache_dir.clone().unwrap_or_else(|| {
            dir.path().parent().unwrap_or(std::path::Path::new(".")).join(".cache")
        });
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let bar = progress.bar(2 * texts.len() as u64, "embedding");
    let mut out = Vec::new();
    let (mut new, mut texts_new) = (0, 0);
    for prefix in [Prefix::Passage, Prefix::Query] {
        // Every chunk is in the cache as soon as it is embedded: a run stopped here resumes.
        let mut cache = embed::cache::Cache::open(&cache_dir, embedder, prefix)?;
        let result = cache.embed(embedder, &texts, prefix, EMBED_CHUNK, |n| bar.inc(n as u64));
        manifest.warnings.append(&mut cache.warnings);
        manifest.counts.warnings = manifest.warnings.len();
        let (vectors, fresh) = result?;
        texts_new += fresh;
        new = new.max(fresh);
        out.push(vectors);
    }
    bar.finish_and_clear();
    let query = out.pop().expect("query vectors");
    let passage = out.pop().expect("passage vectors");
    // In row groups, each built as it is written: the vectors are in memory once.
    crate::files::write_parquet_chunked(
        &dir.file(run::EMBEDDINGS),
        passages.len(),
        EMBEDDINGS_GROUP,
        |rows| {
            Ok(DataFrame::new(
                rows.len(),
                vec![
                    passage_ids(&passages[rows.clone()]),
                    embed::cache::vector_column(
                        "vector",
                        passage[rows.clone()].iter().map(Vec::as_slice),
                    )?,
                    embed::cache::vector_column(
                        "query_vector",
                        query[rows].iter().map(Vec::as_slice),
                    )?,
                ],
            )?)
        },
    )?;
    manifest.counts.embedded_new = new;
    manifest.counts.embedded_cached = passages.len() - new;
    manifest.counts.embedded_texts = texts_new;
    manifest.model =
        Some(ModelRecord { name: embedder.name(), sha256: embedder.sha256(), dim: embedder.dim() });
    Ok(Vectors { passage, query })
}

/// What two-level clustering needs of each passage.
pub fn passage_info(passages: &[Passage]) -> Vec<cluster::meaning::PassageInfo<'_>> {
    passages
        .iter()
        .map(|p| cluster::meaning::PassageInfo {
            document: &p.document_id,
            speaker: &p.speaker,
            content_words: p.analysis.split_whitespace().count(),
            row: p.row.is_some(),
        })
        .collect()
}

/// Clusters the vectors, joins clusters an earlier review merged, writes `clusters.parquet`.
fn cluster_passages(
    dir: &RunDir,
    config: &Config,
    carry: &Carry,
    vectors: &Vectors,
    passages: &[Passage],
) -> Result<Clustering> {
    let mut clustering = cluster::cluster_passages(
        &vectors.query,
        &passage_info(passages),
        &config.cluster,
        config.seed,
    )?;
    let vectors = &vectors.passage;
    let categories = clustering.categories();
    let joined = carry.merge_clusters(vectors, &mut clustering.labels, config.codebook.carry);
    let texts: Vec<(&str, &str)> =
        passages.iter().map(|p| (p.id.as_str(), p.text.as_str())).collect();
    let moved = carry.apply_moves(&texts, vectors, &mut clustering.labels, config.codebook.carry);
    if moved > 0 {
        // A cluster a move emptied is dropped; the others renumbered by size.
        clustering.labels = cluster::renumber(&clustering.labels);
    }
    if joined + moved > 0 {
        // Each cluster keeps the category most of its passages had.
        let k = clustering.n_clusters();
        let mut votes = vec![BTreeMap::<i32, usize>::new(); k];
        for (&l, &c) in clustering.labels.iter().zip(&categories) {
            if l >= 0 {
                *votes[l as usize].entry(c).or_default() += 1;
            }
        }
        clustering.category_of = votes
            .iter()
            .map(|v| v.iter().max_by_key(|(c, n)| (**n, -**c)).map_or(-1, |(c, _)| *c))
            .collect();
        let centroids = cluster::centroids(vectors, &clustering.labels, clustering.n_clusters());
        for (i, &l) in clustering.labels.iter().enumerate() {
            if l >= 0 {
                clustering.strength[i] = embed::cosine(&vectors[i], &centroids[l as usize]);
            }
        }
    }
    let mut frame =
        DataFrame::new(
            passages.len(),
            vec![
                passage_ids(passages),
                Column::new("cluster".into(), clustering.labels.clone()),
                Column::new("category".into(), clustering.categories()),
                Column::new("strength".into(), clustering.strength.clone()),
                Column::new(
                    "not_coded".into(),
                    (0..passages.len())
                        .map(|i| {
                            clustering.not_coded_mask.get(i).copied().unwrap_or(false).then_some(
                                "fewer than two content words, even with the talk around it",
                            )
                        })
                        .collect::<Vec<Option<&str>>>(),
                ),
            ],
        )?;
    dir.write_parquet(run::CLUSTERS, &mut frame)?;
    Ok(clustering)
}

/// What the describe stage produced.
#[derive(Default)]
struct Described {
    file: CandidatesFile,
    codebook: Option<PathBuf>,
}

/// Describes each cluster as a candidate code, compares it with the codebook and the earlier
/// review (constant comparison), counts saturation; writes `candidates.json`, `candidates.md`,
/// `suggestions.parquet` and the review's starting point.
fn describe(
    dir: &RunDir,
    config: &Config,
    carry: &Carry,
    embedder: &dyn Embedder,
    ingested: &Ingested,
    both: &Vectors,
    clustering: &Clustering,
) -> Result<Described> {
    let passages = &ingested.passages;
    let vectors = &both.passage;
    let (mut candidates, categories) =
        name_candidates(passages, ingested.language, both, clustering, embedder)?;
    let code_vectors = embed_codebook(carry, embedder)?;
    let k = clustering.n_clusters();
    carry.annotate(
        &mut candidates,
        &cluster::centred_centroids(vectors, &clustering.labels, k),
        &code_vectors,
        &config.codebook,
    );
    if !code_vectors.is_empty() {
        // Each passage's codes by its `query: ` vector (see `codebook::matching`); the
        // candidates' by their `passage: ` centroids, which `codebook.fit` was set against.
        let mut frame =
            suggestions(passages, &both.query, &code_vectors, config.codebook.suggestions)?;
        dir.write_parquet(run::SUGGESTIONS, &mut frame)?;
    }
    let mut per_doc: BTreeMap<&str, usize> = BTreeMap::new();
    for p in passages {
        *per_doc.entry(p.document_id.as_str()).or_default() += 1;
    }
    let dated: Vec<label::DatedDocument> = ingested
        .docs
        .iter()
        .map(|d| {
            let n = per_doc.get(d.id.as_str()).copied().unwrap_or(0);
            (d.id.clone(), label::document_date(&d.metadata), n)
        })
        .collect();
    let unassigned = clustering.labels.iter().filter(|&&l| l < 0).count();
    let file = CandidatesFile {
        unassigned,
        not_coded: clustering.not_coded,
        categories,
        codebook_codes: code_vectors.len(),
        saturation: label::saturation(&dated, &candidates, config.codebook.saturation_passages),
        candidates,
    };
    dir.write_json(run::CANDIDATES, &file)?;
    let mut frame = other_codes(passages, &both.query, clustering, &file.candidates)?;
    dir.write_parquet(run::OTHER_CODES, &mut frame)?;
    let md = label::markdown(&file.candidates, &file.categories, unassigned, file.not_coded);
    dir.write_text(run::CANDIDATES_MD, &md)?;
    write_review_start(dir, carry)?;
    Ok(Described { file, codebook: carry.codebook_source.clone() })
}

/// Describes each cluster as a candidate code (key terms, phrases, exemplars) and names the
/// candidates and their categories, reading the passages in `language` (the one ingest found).
pub fn name_candidates(
    passages: &[Passage],
    language: crate::text::TextLanguage,
    vectors: &Vectors,
    clustering: &Clustering,
    embedder: &dyn Embedder,
) -> Result<(Vec<label::Candidate>, Vec<label::Category>)> {
    let analyzer = Analyzer::for_language(language);
    let mut candidates = label::candidates(passages, &vectors.passage, clustering, &analyzer);
    let categories =
        label::name(&mut candidates, passages, &analyzer, clustering, &vectors.query, embedder)?;
    Ok((candidates, categories))
}

/// The codable codes of the codebook, embedded as queries.
fn embed_codebook(carry: &Carry, embedder: &dyn Embedder) -> Result<Vec<(String, Vec<f32>)>> {
    let codes: Vec<&crate::codebook::Code> = carry
        .codebook
        .codes
        .iter()
        .filter(|c| c.codable && c.status != crate::codebook::Status::Retired)
        .collect();
    let texts: Vec<String> =
        codes.iter().map(|c| crate::codebook::code_text(&carry.codebook, c)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (vecs, _) = embed::cache::Cache::in_memory().embed(
        embedder,
        &refs,
        Prefix::Query,
        EMBED_CHUNK,
        |_| {},
    )?;
    Ok(codes.iter().map(|c| c.id.clone()).zip(vecs).collect())
}

/// Compares the clusters with the manual coding and writes `comparison.json`.
fn compare(
    dir: &RunDir,
    config: &Config,
    manual: Option<&crate::manual::ManualCoding>,
    passages: &[Passage],
    clustering: &Clustering,
    described: &Described,
) -> Result<Option<crate::compare::Comparison>> {
    let Some(coding) = manual else { return Ok(None) };
    let spans: Vec<crate::compare::PassageSpan> = passages
        .iter()
        .zip(&clustering.labels)
        .map(|(p, &cluster)| crate::compare::PassageSpan {
            id: p.id.clone(),
            document: p.document_id.clone(),
            start: p.char_start,
            end: p.char_end,
            cluster,
        })
        .collect();
    let names = described.file.names();
    let c = crate::compare::compare(&spans, coding, &names, config.compare.bootstrap, config.seed);
    dir.write_json(run::COMPARISON, &c)?;
    Ok(Some(c))
}

/// Candidate codes other than its own that a passage is close to (a passage may carry more
/// than one code): for every passage, up to `OTHER_CODES_TOP` candidates whose centre (centred
/// `query: ` vectors, as clustered) is within 0.9 of its similarity to its own code's centre.
fn other_codes(
    passages: &[Passage],
    query: &[Vec<f32>],
    clustering: &Clustering,
    candidates: &[label::Candidate],
) -> Result<DataFrame> {
    const OTHER_CODES_TOP: usize = 3;
    let k = clustering.n_clusters();
    let centres = cluster::centred_centroids(query, &clustering.labels, k);
    let mean = crate::codebook::matching::mean(query);
    let id_of: BTreeMap<i32, &str> =
        candidates.iter().map(|c| (c.cluster, c.id.as_str())).collect();
    let ranked: Vec<Vec<(usize, f32)>> = query
        .par_iter()
        .zip(&clustering.labels)
        .map(|(v, &own)| {
            let v = crate::codebook::matching::centre(v, &mean);
            let all = crate::codebook::matching::rank(&v, &centres, OTHER_CODES_TOP + 1);
            let own_sim = all.iter().find(|(c, _)| *c as i32 == own).map(|x| x.1);
            all.into_iter()
                .filter(|(c, s)| {
                    *c as i32 != own && *s > 0.0 && own_sim.is_none_or(|o| *s >= 0.9 * o)
                })
                .take(OTHER_CODES_TOP)
                .collect()
        })
        .collect();
    ranked_table(passages, &ranked, "candidate", |c| {
        id_of.get(&(c as i32)).copied().unwrap_or("").to_string()
    })
}

/// A table of `passage_id`, `rank`, `what` (named by `name`) and `similarity`, from each
/// passage's ranked (index, similarity) list.
fn ranked_table(
    passages: &[Passage],
    ranked: &[Vec<(usize, f32)>],
    what: &str,
    name: impl Fn(usize) -> String,
) -> Result<DataFrame> {
    let (mut ids, mut ranks, mut names, mut sims) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (p, r) in passages.iter().zip(ranked) {
        for (n, (i, s)) in r.iter().enumerate() {
            ids.push(p.id.as_str());
            ranks.push(n as u32 + 1);
            names.push(name(*i));
            sims.push(*s);
        }
    }
    Ok(DataFrame::new(
        ids.len(),
        vec![
            Column::new("passage_id".into(), ids),
            Column::new("rank".into(), ranks),
            Column::new(what.into(), names),
            Column::new("similarity".into(), sims),
        ],
    )?)
}

/// `suggestions.parquet`: for every passage, its most similar codes.
fn suggestions(
    passages: &[Passage],
    vectors: &[Vec<f32>],
    codes: &[(String, Vec<f32>)],
    top: usize,
) -> Result<DataFrame> {
    let code_vecs: Vec<Vec<f32>> = codes.iter().map(|(_, v)| v.clone()).collect();
    let mean = crate::codebook::matching::mean(vectors);
    let ranked: Vec<Vec<(usize, f32)>> = vectors
        .par_iter()
        .map(|v| {
            let v = crate::codebook::matching::centre(v, &mean);
            crate::codebook::matching::rank(&v, &code_vecs, top)
        })
        .collect();
    ranked_table(passages, &ranked, "code", |i| codes[i].0.clone())
}

/// What a review of this run starts from: the codebook as `codebook-v0.toml` and every earlier
/// decision as `decisions-carried.jsonl`. (The directory's own earlier review was read into
/// `carry` and kept under `history/` by [`RunDir::prepare`].)
fn write_review_start(dir: &RunDir, carry: &Carry) -> Result<()> {
    if !carry.history.is_empty() {
        let mut text = String::new();
        for d in &carry.history {
            text.push_str(&serde_json::to_string(d)?);
            text.push('\n');
        }
        dir.write_text(run::CARRIED, &text)?;
    }
    carry.codebook.write(&dir.file(run::CODEBOOK_V0))
}
