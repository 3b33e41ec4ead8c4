//! Limits on what one input file may make terreno do, so that a crafted or damaged file gets a
//! clear error (and `--keep-going` skips it) instead of exhausting the stack or the memory. Each
//! limit is far above what real transcripts, codebooks and projects need, and can be raised for
//! one run with an environment variable (named in the error it gives). A leaf module.

use std::sync::OnceLock;

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of XML elements (`.eaf`, `.docx`, `.qdc`, `.qdpx`):
    /// `TERRENO_MAX_XML_DEPTH`, default 256 (ELAN and Word files nest about 10 deep).
    pub xml_depth: usize,
    /// Largest size of one member of a zip (`.docx`, `.qdpx`) once inflated, in MiB:
    /// `TERRENO_MAX_UNZIPPED_MB`, default 1024.
    pub unzipped_mb: u64,
    /// Largest ratio of a zip member's inflated to compressed size, for members over 16 MiB:
    /// `TERRENO_MAX_ZIP_RATIO`, default 200 (text XML compresses 5–30 fold; a zip bomb by
    /// thousands).
    pub zip_ratio: u64,
    /// Deepest nesting of codes in a codebook: `TERRENO_MAX_CODE_DEPTH`, default 64.
    pub code_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { xml_depth: 256, unzipped_mb: 1024, zip_ratio: 200, code_depth: 64 }
    }
}

/// The limits, read once from the environment (an unset or unreadable variable keeps the
/// default).
pub fn limits() -> Limits {
    static LIMITS: OnceLock<Limits> = OnceLock::new();
    *LIMITS.get_or_init(|| {
        let d = Limits::default();
        let var = |name: &str, default: u64| {
            std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
        };
        Limits {
            xml_depth: var(XML_DEPTH, d.xml_depth as u64) as usize,
            unzipped_mb: var(UNZIPPED_MB, d.unzipped_mb),
            zip_ratio: var(ZIP_RATIO, d.zip_ratio),
            code_depth: var(CODE_DEPTH, d.code_depth as u64) as usize,
        }
    })
}

/// The environment variable of [`Limits::xml_depth`].
pub const XML_DEPTH: &str = "TERRENO_MAX_XML_DEPTH";
/// The environment variable of [`Limits::unzipped_mb`].
pub const UNZIPPED_MB: &str = "TERRENO_MAX_UNZIPPED_MB";
/// The environment variable of [`Limits::zip_ratio`].
pub const ZIP_RATIO: &str = "TERRENO_MAX_ZIP_RATIO";
/// The environment variable of [`Limits::code_depth`].
pub const CODE_DEPTH: &str = "TERRENO_MAX_CODE_DEPTH";
