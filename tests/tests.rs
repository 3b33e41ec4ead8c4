//! All integration tests, one binary (see STYLE.md).

mod util;

mod cli;
mod cluster;
mod codebook;
mod compare;
mod corpora;
mod embed;
mod formats;
mod hostile;
mod layers;
mod report;
mod review;
mod rundir;
mod shard;
mod slurm;
mod web;
