//! The run's configuration: one TOML file plus the command line, merged into one validated
//! [`Config`] (command line beats file beats defaults). Unknown keys are an error, so a typo in
//! the file never silently falls back to a default.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::Role;

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
    pub language: crate::html::Language,
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
            carry: 0.8,
            suggestions: 3,
            saturation_passages: 2,
        }
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

/// How inputs are read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Id column of table inputs.
    pub id_column: String,
    /// Text column of table inputs.
    pub text_column: String,
    /// Optional CSV/TSV of document attributes; first column is the document id. Relative to
    /// the config file.
    pub metadata: Option<PathBuf>,
    /// Speaker-role rules, first match wins; speakers no rule matches are participants.
    /// Patterns are case-insensitive globs (`TOR*`, `Dan`, `Moderat*`).
    pub roles: Vec<RoleRule>,
    #[serde(skip)]
    compiled: OnceLock<Vec<(GlobMatcher, Role)>>,
}

/// One speaker-role rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// Glob over the speaker label, case-insensitive.
    pub pattern: String,
    /// The role of the speakers it matches.
    pub role: Role,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let rule = |pattern: &str, role| RoleRule { pattern: pattern.into(), role };
        IngestConfig {
            id_column: "id".into(),
            text_column: "text".into(),
            metadata: None,
            roles: vec![
                rule("TOR*", Role::Interviewer),
                rule("Interv*", Role::Interviewer),
                rule("INT", Role::Interviewer),
                rule("I", Role::Interviewer),
                rule("MOD*", Role::Facilitator),
                rule("Facilitat*", Role::Facilitator),
            ],
            compiled: OnceLock::new(),
        }
    }
}

impl IngestConfig {
    fn matchers(&self) -> &[(GlobMatcher, Role)] {
        self.compiled.get_or_init(|| {
            self.roles.iter().filter_map(|r| Some((compile(&r.pattern).ok()?, r.role))).collect()
        })
    }

    /// Replaces the role rules.
    pub fn set_roles(&mut self, roles: Vec<RoleRule>) {
        self.roles = roles;
        self.compiled = OnceLock::new();
    }

    /// The role of a speaker label under the rules.
    pub fn role_of(&self, speaker: &str) -> Role {
        self.matchers()
            .iter()
            .find(|(m, _)| m.is_match(speaker))
            .map(|(_, role)| *role)
            .unwrap_or(Role::Participant)
    }
}

fn compile(pattern: &str) -> std::result::Result<GlobMatcher, globset::Error> {
    Ok(GlobBuilder::new(pattern).case_insensitive(true).build()?.compile_matcher())
}

/// What happens to back-channels ("sì", "mhmh", "okay"), see [`SegmentConfig::min_words`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backchannels {
    /// Left out of the passages (counted in the summary).
    Drop,
    /// Joined to the speaker's neighbouring passage in the same turn; kept alone where the
    /// turn has nothing else.
    Merge,
    /// Kept as passages of their own.
    Keep,
}

/// How turns become passages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentConfig {
    /// Most words in one passage; longer talk is cut at sentence boundaries. The default keeps
    /// passages well inside the model's 512-token window.
    pub max_words: usize,
    /// Passages with fewer analysis words than this (fillers aside), or with no content word
    /// at all ("sì sì certo"), are back-channels.
    pub min_words: usize,
    /// What to do with back-channels.
    pub backchannels: Backchannels,
    /// Roles whose talk becomes passages (by default participants only).
    pub roles: Vec<Role>,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            max_words: 150,
            min_words: 3,
            backchannels: Backchannels::Drop,
            roles: vec![Role::Participant],
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
        if s.roles.is_empty() {
            return Err(Error::Config(
                "segment.roles is empty: no talk would become passages".into(),
            ));
        }
        for rule in &self.ingest.roles {
            compile(&rule.pattern).map_err(|e| {
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
    compile(pattern.trim()).map_err(|e| e.to_string())?;
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
    fn role_flag() {
        assert_eq!(parse_role_rule("Dan=interviewer").unwrap().role, Role::Interviewer);
        assert!(parse_role_rule("Dan").is_err());
    }
}
