//! The `terreno` binary: parse the command line, run the library, report, exit.
//!
//! Exit codes: 0 success; 1 failure (I/O, configuration); 2 usage error; 3 bad input (the
//! message names the file and line).

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use terreno::cli::{Cli, Command};
use terreno::pipeline::{self, RunOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            let input = err
                .chain()
                .any(|e| e.downcast_ref::<terreno::Error>().is_some_and(|e| e.is_input()));
            ExitCode::from(if input { 3 } else { 1 })
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let config = args.config()?;
            if config.threads > 0 {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(config.threads)
                    .build_global()
                    .context("cannot set up the worker threads")?;
            }
            let opts = RunOptions {
                inputs: args.inputs.clone(),
                out: args.out.clone(),
                force: args.force,
                keep_going: args.keep_going,
                quiet: args.quiet,
                command: std::env::args().collect(),
            };
            let summary = pipeline::run(&config, &opts)?;
            print!("{}", terreno::report::summary_text(&summary));
            Ok(())
        }
    }
}
