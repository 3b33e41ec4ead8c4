//! The run's configuration: one TOML file plus the command line, merged into one validated
//! [`Config`] (command line beats file beats defaults). Unknown keys are an error, so a typo in
//! the file never silently falls back to a default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::ingest::{IngestConfig, Role, RoleRule};
pub use crate::segment::{Backchannels, SegmentConfig};

/// Everything a run needs besides its inputs; echoed into the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Seed for every random choice (clustering, sampling).
    pub seed: u64,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// How inputs are read.
    pub ingest: IngestConfig,
    /// How turns are cut into passages.
    pub segment: SegmentConfig,
    /// How passages are embedded.
    pub embed: EmbedConfig,
    /// How passages are clustered.
    pub cluster: crate::cluster::ClusterConfig,
    /// The codebook candidates are compared with, and the earlier review carried forward.
    pub codebook: CodebookConfig,
    /// The manual coding the clusters are compared with.
    pub compare: CompareConfig,
    /// The HTML report.
    pub report: ReportConfig,
}

/// The HTML report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// `it` or `en`: the language of the report's headings.
    pub language: Language,
}

/// The language of the report's headings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Italian.
    #[default]
    It,
    /// English.
    En,
}

/// The manual coding a run is compared with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompareConfig {
    /// Coded segments (`.csv`/`.tsv` with spans or quotes) or a REFI-QDA `.qdpx`. Relative to
    /// the config file.
    pub manual: Option<PathBuf>,
    /// Bootstrap resamples for the intervals of kappa, alpha and AC1.
    pub bootstrap: usize,
}

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig { manual: None, bootstrap: 1000 }
    }
}

/// The codebook and the earlier review a run starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodebookConfig {
    /// The study's codebook (`.toml`, `.csv` or `.qdc`). Relative to the config file.
    pub path: Option<PathBuf>,
    /// An earlier run: its latest codebook version (unless `path` is given) and its review
    /// decisions are carried into this run. Relative to the config file.
    pub from: Option<PathBuf>,
    /// A candidate fits an existing code when its centred centroid's similarity to the code
    /// is at least this (about 0 is unrelated).
    pub fit: f32,
    /// A candidate also fits its closest code when its similarity to that code is at least
    /// this much above its similarity to the next one: clearly this code and no other, even
    /// where the similarities are small (see `codebook::matching`). 1 or more: `fit` alone.
    pub lead: f32,
    /// A candidate is the same as one an earlier review decided about when their centred
    /// centroids' similarity is at least this (the same cluster found again on 70% of its
    /// passages scores about 0.96; different clusters of one corpus score below 0.2).
    pub carry: f32,
    /// Codes suggested per passage.
    pub suggestions: usize,
    /// A candidate counts as present in a document (for saturation) from this many passages.
    pub saturation_passages: usize,
}

impl Default for CodebookConfig {
    fn default() -> Self {
        CodebookConfig {
            path: None,
            from: None,
            fit: 0.15,
            lead: 0.04,
            carry: 0.8,
            suggestions: 3,
            saturation_passages: 2,
        }
    }
}

impl CodebookConfig {
    /// Whether a candidate fits its best code: `best` its similarity to that code, `next` to
    /// the next one (none in a codebook of one code: no lead over another).
    pub fn fits(&self, best: f32, next: Option<f32>) -> bool {
        best >= self.fit || next.is_some_and(|n| best - n >= self.lead)
    }
}

/// How passages are embedded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedConfig {
    /// Skip embedding (a quick check of the transcripts).
    pub skip: bool,
    /// Folder with `e5-small-q4.bin` and `tokenizer.json` (default: the project's
    /// `models/multilingual-e5-small`, or `$TERRENO_MODEL_DIR`). Relative to the config file.
    pub model_dir: Option<PathBuf>,
    /// Folder of the embedding cache, shared by runs (default: `.cache` beside the run
    /// directory). Relative to the config file.
    pub cache_dir: Option<PathBuf>,
    /// Arithmetic of the model's linear layers: `f32` (default, the reference) or `int8`
    /// (about 2.7 times as fast with AVX-512 VNNI, vectors within 0.998 cosine of f32's). Part
    /// of the cache key: the two never mix.
    pub precision: crate::embed::Precision,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 42,
            threads: 0,
            ingest: IngestConfig::default(),
            segment: SegmentConfig::default(),
            embed: EmbedConfig::default(),
            cluster: crate::cluster::ClusterConfig::default(),
            codebook: CodebookConfig::default(),
            compare: CompareConfig::default(),
            report: ReportConfig::default(),
        }
    }
}

impl Config {
    /// Reads a TOML config file; unknown keys are errors that name the file and line.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            Error::input(path, line, e.message().to_string())
        })?;
        // Paths in the file are relative to the file.
        if let Some(dir) = path.parent() {
            for p in [
                &mut config.ingest.metadata,
                &mut config.embed.model_dir,
                &mut config.embed.cache_dir,
                &mut config.codebook.path,
                &mut config.codebook.from,
                &mut config.compare.manual,
            ] {
                if let Some(rel) = p.as_ref().filter(|p| p.is_relative()) {
                    *p = Some(dir.join(rel));
                }
            }
        }
        Ok(config)
    }

    /// Checks the values that have limits.
    pub fn validate(&self) -> Result<()> {
        let s = &self.segment;
        if !(10..=400).contains(&s.max_words) {
            return Err(Error::Config(format!(
                "segment.max_words = {} is outside 10..=400 (the model reads at most 512 tokens at once)",
                s.max_words
            )));
        }
        if s.min_words >= s.max_words {
            return Err(Error::Config("segment.min_words must be below segment.max_words".into()));
        }
        let c = &self.cluster;
        if !(c.attach_outliers.is_finite() && c.attach_outliers >= -1.0) {
            return Err(Error::Config(
                "cluster.attach_outliers must be a cosine similarity (≤ 1; 1 attaches none)".into(),
            ));
        }
        let k = &self.codebook;
        for (name, v) in [("codebook.fit", k.fit), ("codebook.carry", k.carry)] {
            if !(v.is_finite() && (-1.0..=1.0).contains(&v)) {
                return Err(Error::Config(format!(
                    "{name} = {v} is not a cosine similarity (-1..=1)"
                )));
            }
        }
        if !(k.lead.is_finite() && k.lead >= 0.0) {
            return Err(Error::Config(format!(
                "codebook.lead = {} is not a difference of similarities (0 or more)",
                k.lead
            )));
        }
        if s.roles.is_empty() {
            return Err(Error::Config(
                "segment.roles is empty: no talk would become passages".into(),
            ));
        }
        for rule in &self.ingest.roles {
            crate::ingest::compile(&rule.pattern).map_err(|e| {
                Error::Config(format!("ingest.roles pattern {:?}: {e}", rule.pattern))
            })?;
        }
        Ok(())
    }
}

/// Parses `PATTERN=ROLE` (the `--role` flag).
pub fn parse_role_rule(s: &str) -> std::result::Result<RoleRule, String> {
    let (pattern, role) =
        s.rsplit_once('=').ok_or("expected PATTERN=ROLE, e.g. Dan=interviewer")?;
    let role = match role.trim().to_lowercase().as_str() {
        "interviewer" => Role::Interviewer,
        "facilitator" | "moderator" => Role::Facilitator,
        "participant" => Role::Participant,
        other => {
            return Err(format!("unknown role {other:?}: interviewer, facilitator or participant"))
        }
    };
    crate::ingest::compile(pattern.trim()).map_err(|e| e.to_string())?;
    Ok(RoleRule { pattern: pattern.trim().to_string(), role })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roles() {
        let c = IngestConfig::default();
        assert_eq!(c.role_of("TOR001"), Role::Interviewer);
        assert_eq!(c.role_of("TOI001"), Role::Participant);
        assert_eq!(c.role_of("Moderatrice"), Role::Facilitator);
        assert_eq!(c.role_of("Intervistatore"), Role::Interviewer);
    }

    #[test]
    fn unknown_keys_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "seed = 1\n[segment]\nmax_wrds = 10\n").unwrap();
        let err = Config::from_file(&p).unwrap_err().to_string();
        assert!(err.contains("c.toml line 3"), "{err}");
        assert!(err.contains("max_wrds"), "{err}");
    }

    #[test]
    fn the_codebook_lead_is_a_difference_of_similarities() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        c.codebook.lead = -0.1;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("codebook.lead = -0.1"), "{err}");
        c.codebook.lead = 1.0; // `fit` alone
        assert!(c.validate().is_ok());
    }

    #[test]
    fn role_flag() {
        assert_eq!(parse_role_rule("Dan=interviewer").unwrap().role, Role::Interviewer);
        assert!(parse_role_rule("Dan").is_err());
    }
}
