//! terreno mines interview and focus-group transcripts (Italian first) for grounded-theory open
//! coding.
//!
//! The data flow: [`ingest`] reads each transcript (plain text with speaker labels, WebVTT,
//! SRT, Word, ELAN, or a table of passages) into a [`ingest::Document`] whose turns point into
//! a canonical text; [`segment`] cuts each speaker's contiguous talk into passages that keep
//! their exact provenance; [`text`] normalises Italian for analysis; [`run`] writes the run
//! directory (`passages.parquet`, `manifest.json`, `sources/`). [`embed`] turns passages into
//! vectors, [`cluster`] groups them and [`label`] describes each group as a candidate code.
//! [`codebook`] is the study's codebook (TOML, CSV, REFI-QDA), [`review`] the analyst's
//! decisions and what carries into the next run, [`manual`] and [`compare`] the team's own
//! coding and its agreement with the clusters, [`export`] the REFI-QDA project, [`html`] the
//! report. [`pipeline`] alone knows the order of the stages.
//!
//! ```
//! use terreno::text::Analyzer;
//! let a = Analyzer::new();
//! let words = a.words("e::h lavoro per una ditta: pr~ privata");
//! assert_eq!(words, ["lavoro", "per", "una", "ditta", "privata"]);
//! ```
#![warn(missing_docs)]

pub mod cli;
pub mod cluster;
pub mod codebook;
pub mod compare;
pub mod config;
pub mod decode;
pub mod embed;
pub mod error;
pub mod export;
pub mod files;
pub mod html;
pub mod ingest;
pub mod label;
pub mod limits;
pub mod manual;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod review;
pub mod run;
pub mod segment;
pub mod shard;
pub mod slurm;
pub mod text;
pub mod vectors;
pub mod wordclass;
pub mod xml;

pub use error::{Error, Result};
