//! Ingest: every input format becomes the same [`Document`].
//!
//! One module per format. Each reads one file and returns a document whose canonical `text` is
//! what `sources/<document_id>.txt` holds in the run directory; every [`Turn`] points into that
//! text with a code-point span, and the spans of what is not speech (speaker labels, time
//! stamps, page marks) are listed in [`Document::skipped`].

mod docx;
mod eaf;
mod plain;
mod subtitles;
mod table;
pub use table::csv_reader;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use globset::{GlobBuilder, GlobMatcher};
use std::sync::OnceLock;

pub use crate::decode::{decode, Decoded};

/// What a speaker does in the conversation, after the role rules of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Asks the questions in an interview.
    Interviewer,
    /// Leads a focus group.
    Facilitator,
    /// Everyone whose talk is analysed.
    Participant,
}

impl Role {
    /// The lowercase name written in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Interviewer => "interviewer",
            Role::Facilitator => "facilitator",
            Role::Participant => "participant",
        }
    }

    /// Interviewers and facilitators ask; their turns give passages their `prompt`.
    pub fn asks(self) -> bool {
        !matches!(self, Role::Participant)
    }
}

/// The input formats terreno reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain-text transcript with speaker labels.
    Text,
    /// WebVTT subtitles.
    Vtt,
    /// SubRip subtitles.
    Srt,
    /// Word document.
    Docx,
    /// ELAN annotation file.
    Eaf,
    /// A table of passages (CSV, TSV, Parquet), one passage per row.
    Table,
}

/// One stretch of talk as the source gives it: a line, a cue, an annotation, a table row.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Speaker label as written (after typo merging); empty for table rows without speaker.
    pub speaker: String,
    /// Role from the config's rules.
    pub role: Role,
    /// Code-point span of the speech in the canonical text (end exclusive).
    pub char_start: usize,
    /// End of the span (exclusive).
    pub char_end: usize,
    /// Start time in seconds, where the format has one.
    pub time_start: Option<f64>,
    /// End time in seconds, where the format has one.
    pub time_end: Option<f64>,
    /// For table rows: the row's id and its other columns, in column order.
    pub row: Option<Row>,
}

/// The identity and other columns of a table row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The value of the id column.
    pub id: String,
    /// Every other column but the text, as text (null cells are `None`).
    pub extra: Vec<(String, Option<String>)>,
}

/// A transcript or table, in the one shape every later stage reads.
#[derive(Debug, Clone)]
pub struct Document {
    /// Unique in a run: the file name without extension unless two inputs share it.
    pub id: String,
    /// The file it came from.
    pub source: PathBuf,
    /// Its format.
    pub format: Format,
    /// Attributes from the metadata table (group, site, date, …).
    pub metadata: BTreeMap<String, String>,
    /// The canonical plain text that spans point into.
    pub text: String,
    /// The turns, in the order of the source.
    pub turns: Vec<Turn>,
    /// Code-point spans of the canonical text that are not speech (labels, stamps, page marks),
    /// sorted and disjoint.
    pub skipped: Vec<(usize, usize)>,
    /// What was noticed while reading it (encoding guessed, typo in a label, …).
    pub warnings: Vec<String>,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// A word of a document's canonical text with its code-point span.
#[derive(Debug, Clone, Copy)]
pub struct Word<'a> {
    /// Start (code points).
    pub start: usize,
    /// End (code points, exclusive).
    pub end: usize,
    /// The word as written.
    pub text: &'a str,
    /// A sentence (or transcription unit) ends after this word; set by the segmenter.
    pub boundary: bool,
}

impl Document {
    /// Calls `f` for each whitespace-separated word of the canonical text in the code-point
    /// span `[start, end)`, leaving out what [`Document::skipped`] lists.
    pub fn for_each_word<'a>(
        &'a self,
        index: &CharIndex,
        start: usize,
        end: usize,
        mut f: impl FnMut(Word<'a>),
    ) {
        let first_skip = self.skipped.partition_point(|&(_, e)| e <= start);
        let mut pos = start;
        let mut pieces = Vec::new();
        for &(s, e) in self.skipped[first_skip..].iter().take_while(|&&(s, _)| s < end) {
            if s > pos {
                pieces.push((pos, s));
            }
            pos = pos.max(e);
        }
        if pos < end {
            pieces.push((pos, end));
        }
        for (s, e) in pieces {
            let (bs, be) = (index.byte_at(s), index.byte_at(e));
            let piece = &self.text[bs..be];
            let mut offset = bs;
            for w in piece.split_whitespace() {
                let wb = offset + piece[offset - bs..].find(w).expect("word of the piece");
                offset = wb + w.len();
                f(Word {
                    start: index.char_at(wb),
                    end: index.char_at(offset),
                    text: w,
                    boundary: false,
                });
            }
        }
    }

    /// The speech of a turn: its span without what is not speech, white space made single.
    pub fn turn_text(&self, index: &CharIndex, turn: &Turn) -> String {
        let mut out = Vec::new();
        self.for_each_word(index, turn.char_start, turn.char_end, |w| out.push(w.text));
        out.join(" ")
    }
}

/// Extensions terreno reads, lowercase.
pub const EXTENSIONS: &[&str] = &["txt", "vtt", "srt", "docx", "eaf", "csv", "tsv", "parquet"];

/// Reads one file into a [`Document`], choosing the reader by extension.
pub fn read_file(path: &Path, config: &IngestConfig) -> Result<Document> {
    let ext = extension(path);
    if !EXTENSIONS.contains(&ext.as_str()) {
        let shown = if ext.is_empty() { "no extension".to_string() } else { format!(".{ext}") };
        return Err(Error::input(
            path,
            None,
            format!(
                "unknown file type ({shown}); terreno reads {} files",
                EXTENSIONS.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(" ")
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let sha256 = hex(&Sha256::digest(&bytes));
    let mut doc = match ext.as_str() {
        "docx" => docx::read(path, &bytes)?,
        "parquet" => table::read_parquet(path, &bytes, config)?,
        _ => {
            let decoded = decode(path, &bytes)?;
            let mut doc = match ext.as_str() {
                "txt" => plain::read(path, &decoded.text, Format::Text)?,
                "vtt" | "srt" => subtitles::read(path, &decoded.text, ext == "vtt")?,
                "eaf" => eaf::read(path, &decoded.text)?,
                "csv" => table::read_delimited(path, &decoded.text, b',', config)?,
                "tsv" => {
                    if table::has_columns(&decoded.text, b'\t', config) {
                        table::read_delimited(path, &decoded.text, b'\t', config)?
                    } else {
                        plain::read(path, &decoded.text, Format::Text)?
                    }
                }
                _ => unreachable!("extension checked above"),
            };
            doc.warnings.splice(0..0, decoded.warning);
            doc
        }
    };
    doc.sha256 = sha256;
    doc.bytes = bytes.len() as u64;
    for turn in &mut doc.turns {
        if doc.format != Format::Table || !turn.speaker.is_empty() {
            turn.role = config.role_of(&turn.speaker);
        }
    }
    Ok(doc)
}

/// The lowercase extension of `path`, or "".
pub fn extension(path: &Path) -> String {
    path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default()
}

/// Expands the inputs (files and folders, folders recursively) into a sorted list of files.
///
/// A file named explicitly is always returned, whatever its extension, so that an unknown type
/// is reported rather than ignored; inside folders only known extensions are taken, hidden
/// files and folders are skipped. Symbolic links are followed; a link that loops back to a
/// folder above it, or leads nowhere, is left out and named in the notes returned beside the
/// files, and a file reached twice (through a link) is read once.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            let walker =
                walkdir::WalkDir::new(input).follow_links(true).sort_by_file_name().into_iter();
            for entry in walker.filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name())) {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) if e.loop_ancestor().is_some() => {
                        let at = e.path().unwrap_or(input).display().to_string();
                        notes.push(format!(
                            "{}: a link back to a folder above it, not followed",
                            crate::error::shown(&at)
                        ));
                        continue;
                    }
                    Err(e) if e.path().is_some_and(|p| p.is_symlink()) => {
                        let at = e.path().unwrap_or(input).display().to_string();
                        notes.push(format!(
                            "{}: a link that leads nowhere, skipped",
                            crate::error::shown(&at)
                        ));
                        continue;
                    }
                    Err(e) => {
                        let path = e.path().unwrap_or(input).to_path_buf();
                        return Err(Error::io(path, e.into()));
                    }
                };
                if entry.file_type().is_file()
                    && EXTENSIONS.contains(&extension(entry.path()).as_str())
                {
                    files.push(entry.into_path());
                }
            }
        } else {
            files.push(input.clone());
        }
    }
    files.sort();
    files.dedup();
    // The same file through two paths (a link beside its target) is read once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| match std::fs::canonicalize(f) {
        Ok(real) if !seen.insert(real.clone()) => {
            notes.push(format!(
                "{}: the same file as {}, read once",
                crate::error::shown(&f.display().to_string()),
                crate::error::shown(&real.display().to_string())
            ));
            false
        }
        _ => true,
    });
    Ok((files, notes))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// Gives every document a unique id: its file stem (`P1`), or, where two inputs share one
/// (ignoring case, as some file systems do), as many of their folders as it takes to tell them
/// apart (`siteA/interviews/P1`, `siteB/interviews/P1`), `/`-separated; files that differ only
/// by extension keep it (`P1.txt`, `P1.TXT`). Two inputs that would still share an id are an
/// error naming both, never one overwriting the other. Documents come back sorted by id.
pub fn assign_ids(docs: &mut [Document]) -> Result<()> {
    struct Name {
        folders: Vec<String>,
        stem: String,
        file: String,
        depth: usize,
        with_extension: bool,
    }
    impl Name {
        fn id(&self) -> String {
            let last = if self.with_extension { &self.file } else { &self.stem };
            let from = self.folders.len() - self.depth.min(self.folders.len());
            let mut parts: Vec<&str> = self.folders[from..].iter().map(String::as_str).collect();
            parts.push(last);
            parts.join("/")
        }
    }
    let mut names: Vec<Name> = docs
        .iter()
        .map(|d| {
            let abs = std::path::absolute(&d.source).unwrap_or_else(|_| d.source.clone());
            let part =
                |s: Option<&std::ffi::OsStr>| s.unwrap_or_default().to_string_lossy().into_owned();
            let folders = abs
                .parent()
                .map(|p| {
                    p.components()
                        .filter_map(|c| match c {
                            std::path::Component::Normal(s) => {
                                Some(s.to_string_lossy().into_owned())
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            Name {
                folders,
                stem: part(abs.file_stem()),
                file: part(abs.file_name()),
                depth: 0,
                with_extension: false,
            }
        })
        .collect();
    // Lengthen colliding ids a folder at a time; where no folder tells them apart, the extension.
    loop {
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, n) in names.iter().enumerate() {
            // Ids are told apart ignoring case until the extension is all that differs.
            let key = if n.with_extension { n.id() } else { n.id().to_lowercase() };
            groups.entry(key).or_default().push(i);
        }
        let mut changed = false;
        for group in groups.values().filter(|g| g.len() > 1) {
            let mut grew = false;
            for &i in group {
                if names[i].depth < names[i].folders.len() {
                    names[i].depth += 1;
                    grew = true;
                }
            }
            if !grew {
                for &i in group {
                    if !names[i].with_extension {
                        names[i].with_extension = true;
                        names[i].depth = 0;
                        grew = true;
                    }
                }
            }
            changed |= grew;
        }
        if !changed {
            break;
        }
    }
    let ids: Vec<String> = names.iter().map(Name::id).collect();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        if let Some(&j) = seen.get(id.as_str()) {
            return Err(Error::input(
                &docs[i].source,
                None,
                format!(
                    "gets the same document id {id:?} as {}; rename one of the two files",
                    docs[j].source.display()
                ),
            ));
        }
        seen.insert(id, i);
    }
    for (d, id) in docs.iter_mut().zip(ids) {
        d.id = id;
    }
    docs.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.source.cmp(&b.source)));
    Ok(())
}

/// The document a user's table names (a metadata row, a manual coding's document column): its
/// id, its id with an extension, or, where only one document has it, its file name or stem
/// (`P1.txt` or `P1` for `siteA/P1`).
pub fn resolve_document<'a>(ids: &[&'a str], name: &str) -> Option<&'a str> {
    let name = name.trim().replace('\\', "/");
    if let Some(id) = ids.iter().find(|id| **id == name) {
        return Some(id);
    }
    let stripped = Path::new(&name).with_extension("");
    let stripped = stripped.to_string_lossy().replace('\\', "/");
    if let Some(id) = ids.iter().find(|id| **id == stripped) {
        return Some(id);
    }
    let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let (name_last, stem_last) = (last(&name), last(&stripped));
    let matches: Vec<&'a str> = ids
        .iter()
        .copied()
        .filter(|id| {
            let l = last(id);
            l == name_last || l == stem_last || (id.ends_with(&format!("/{stripped}")))
        })
        .collect();
    match matches.as_slice() {
        [one] => Some(one),
        _ => None,
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

pub(crate) fn compile(pattern: &str) -> std::result::Result<GlobMatcher, globset::Error> {
    Ok(GlobBuilder::new(pattern).case_insensitive(true).build()?.compile_matcher())
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Maps byte offsets of a string to code-point offsets.
pub struct CharIndex {
    /// `starts[i]` is the byte offset of char `i`; one extra entry for the end.
    starts: Vec<usize>,
}

impl CharIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        let mut starts: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        starts.push(text.len());
        CharIndex { starts }
    }

    /// The code-point offset of byte offset `byte` (which must be a char boundary).
    pub fn char_at(&self, byte: usize) -> usize {
        self.starts.partition_point(|&b| b < byte)
    }

    /// The byte offset of code point `ch`.
    pub fn byte_at(&self, ch: usize) -> usize {
        self.starts[ch.min(self.starts.len() - 1)]
    }
}

/// Builds a document's canonical text turn by turn, as `Speaker: text` lines, recording spans.
/// Used by the formats whose source is not already plain text.
pub(crate) struct CanonicalBuilder {
    text: String,
    chars: usize,
    turns: Vec<Turn>,
    skipped: Vec<(usize, usize)>,
}

impl CanonicalBuilder {
    pub(crate) fn new() -> Self {
        CanonicalBuilder { text: String::new(), chars: 0, turns: Vec::new(), skipped: Vec::new() }
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.chars += s.chars().count();
    }

    /// Appends one turn as a line; `speech` has its white space kept as it is, bar line breaks.
    pub(crate) fn turn(
        &mut self,
        speaker: &str,
        speech: &str,
        time: (Option<f64>, Option<f64>),
        row: Option<Row>,
    ) {
        if !self.text.is_empty() {
            self.push("\n");
        }
        if !speaker.is_empty() {
            let start = self.chars;
            self.push(speaker);
            self.push(":");
            self.skipped.push((start, self.chars));
            self.push(" ");
        }
        let start = self.chars;
        self.push(speech.trim());
        self.turns.push(Turn {
            speaker: speaker.to_string(),
            role: Role::Participant,
            char_start: start,
            char_end: self.chars,
            time_start: time.0,
            time_end: time.1,
            row,
        });
    }

    pub(crate) fn finish(self, path: &Path, format: Format) -> Document {
        Document {
            id: String::new(),
            source: path.to_path_buf(),
            format,
            metadata: BTreeMap::new(),
            text: self.text,
            turns: self.turns,
            skipped: self.skipped,
            warnings: Vec::new(),
            sha256: String::new(),
            bytes: 0,
        }
    }
}

#[cfg(test)]
pub(crate) fn read_text_for_tests(path: &Path, text: &str) -> Document {
    plain::read(path, text, Format::Text).expect("a valid transcript")
}

/// Reads the metadata table (CSV or TSV, first column the document id) into document → attributes.
pub fn read_metadata(path: &Path) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let decoded = decode(path, &bytes)?;
    let delimiter = if extension(path) == "tsv"
        || decoded.text.lines().next().is_some_and(|l| l.contains('\t'))
    {
        b'\t'
    } else {
        b','
    };
    table::check_quotes(path, &decoded.text, delimiter)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(decoded.text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::input(path, csv_line(&e), format!("cannot read the header: {e}")))?
        .clone();
    if headers.len() < 2 {
        return Err(Error::input(
            path,
            Some(1),
            "the metadata table needs a document column and at least one attribute column",
        ));
    }
    let mut out = BTreeMap::new();
    for record in reader.records() {
        let record =
            record.map_err(|e| Error::input(path, csv_line(&e), format!("malformed row: {e}")))?;
        let doc = record.get(0).unwrap_or_default().trim().to_string();
        let attrs = headers
            .iter()
            .zip(record.iter())
            .skip(1)
            .map(|(h, v)| (h.trim().to_string(), v.trim().to_string()))
            .collect();
        out.insert(doc, attrs);
    }
    Ok(out)
}

/// The 1-based line of a csv error, where it has one.
pub(crate) fn csv_line(e: &csv::Error) -> Option<usize> {
    e.position().map(|p| p.line() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_index_maps_bytes_to_code_points() {
        let idx = CharIndex::new("però è");
        assert_eq!(idx.char_at(0), 0);
        assert_eq!(idx.char_at(5), 4); // "però" is 5 bytes, 4 chars
        assert_eq!(idx.byte_at(5), 6);
        assert_eq!(idx.char_at(8), 6);
    }

    #[test]
    fn ids_are_paths_under_the_common_folder() {
        let doc = |p: &str| CanonicalBuilder::new().finish(Path::new(p), Format::Text);
        let mut docs = vec![
            doc("s/siteB/int/P1.txt"),
            doc("s/siteA/int/P1.txt"),
            doc("s/siteA/int/P2.txt"),
            doc("s/siteA/int/P2.TXT"),
        ];
        assign_ids(&mut docs).unwrap();
        let ids: Vec<_> = docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["P2.TXT", "P2.txt", "siteA/int/P1", "siteB/int/P1"]);
        let mut one = vec![doc("s/siteA/int/P1.txt")];
        assign_ids(&mut one).unwrap();
        assert_eq!(one[0].id, "P1");
        let names = ["siteA/int/P1", "siteB/int/P1", "siteA/int/P3"];
        assert_eq!(resolve_document(&names, "P3.txt"), Some("siteA/int/P3"));
        assert_eq!(resolve_document(&names, "P1"), None, "two documents are P1");
        assert_eq!(resolve_document(&names, "siteB/int/P1.txt"), Some("siteB/int/P1"));
        assert_eq!(resolve_document(&names, "int/P1"), None);
        assert_eq!(resolve_document(&names, "siteB/int/P1"), Some("siteB/int/P1"));
    }
}
