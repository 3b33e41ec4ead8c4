//! The `terreno` binary: parse the command line and dispatch to the library and to
//! [`commands`], report, exit.
//!
//! Exit codes: 0 success; 1 failure (I/O, configuration, model); 2 usage error; 3 bad input
//! (the message names the file and line).

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use terreno::cli::{Cli, CodebookCommand, Command, ModelCommand};
use terreno::embed::{self, Embedder};
use terreno::pipeline::{self, RunOptions};
use terreno::run::RunDir;

mod commands;

fn main() -> ExitCode {
    // A closed pipe (`terreno model info | head -1`) ends the program quietly, as it does any
    // Unix tool, instead of a panic on the next line printed. Rust ignores SIGPIPE by default;
    // this restores the system's default action, before any thread starts.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default touches no Rust state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Each cause once (an I/O error's message already holds the OS's words), and no
            // control character from a file name reaches the terminal.
            let mut message = err.to_string();
            for cause in err.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message = format!("{message}: {cause}");
                }
            }
            eprintln!("error: {}", terreno::error::shown(&message));
            let input = err
                .chain()
                .any(|e| e.downcast_ref::<terreno::Error>().is_some_and(|e| e.is_input()));
            ExitCode::from(if input { 3 } else { 1 })
        }
    }
}

fn threads(n: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = n.filter(|&n| n > 0) {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot set up the worker threads")?;
    }
    Ok(())
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let config = args.config()?;
            threads(Some(config.threads))?;
            let opts = RunOptions {
                inputs: args.inputs.clone(),
                out: args.out.clone(),
                force: args.force,
                keep_going: args.keep_going,
                quiet: args.quiet,
                command: std::env::args().collect(),
                shard: args.shard,
            };
            let model = if config.embed.skip {
                None
            } else {
                let dir = config.embed.model_dir.clone().unwrap_or_else(embed::default_model_dir);
                Some(embed::e5::E5::load_at(&dir, config.embed.precision)?)
            };
            let summary =
                pipeline::run(&config, &opts, model.as_ref().map(|m| m as &dyn Embedder))?;
            match args.shard {
                Some((i, n)) => {
                    let p = terreno::shard::progress(&args.out)?;
                    println!(
                        "shard {i}/{n}: {} documents, {} passages read and embedded into {}; \
                         {} of {n} shards done{}",
                        summary.manifest.counts.documents,
                        summary.manifest.counts.passages,
                        summary.out.display(),
                        p.finished.len(),
                        if p.finished.len() == n {
                            format!(": `terreno merge {}` does the rest", args.out.display())
                        } else {
                            String::new()
                        }
                    );
                }
                None => print!("{}", terreno::report::summary_text(&summary)),
            }
        }
        Command::Merge(args) => {
            threads(args.threads)?;
            let dir = args.model_dir.clone().unwrap_or_else(embed::default_model_dir);
            // The precision the shards embedded at, for the texts embedded here.
            let model = embed::e5::E5::load_at(&dir, terreno::shard::precision(&args.run)?)?;
            let summary =
                terreno::shard::merge(&args.run, &model, args.quiet, std::env::args().collect())?;
            print!("{}", terreno::report::summary_text(&summary));
        }
        Command::Slurm(args) => commands::slurm(&args)?,
        Command::Embed(args) => commands::embed_texts(&args)?,
        Command::Review(args) => commands::review(&args)?,
        Command::Compare(args) => commands::compare(&args)?,
        Command::Export(args) => commands::export(&args)?,
        Command::Report(args) => {
            let dir = RunDir::new(&args.run);
            let _lock = dir.lock()?;
            let path = terreno::html::write_report(&dir, args.language)?;
            println!("report written to {}", path.display());
        }
        Command::Codebook(CodebookCommand::Convert { input, output }) => {
            let book = terreno::codebook::convert(&input, &output)?;
            println!(
                "{} codes from {} written to {}",
                book.codes.len(),
                input.display(),
                output.display()
            );
        }
        Command::Model(ModelCommand::Fetch { dir }) => {
            let dir = dir.unwrap_or_else(embed::default_model_dir);
            match embed::fetch::fetch(&dir)? {
                embed::fetch::Fetched::AlreadyThere => {
                    println!("model already in {} (checksums verified)", dir.display())
                }
                embed::fetch::Fetched::Downloaded => {
                    println!("model fetched into {} (checksums verified)", dir.display())
                }
            }
        }
        Command::Model(ModelCommand::Info { dir }) => commands::model_info(dir)?,
    }
    Ok(())
}
