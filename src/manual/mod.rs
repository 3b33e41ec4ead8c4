//! The coding a team did by hand, read back onto a run's transcripts.
//!
//! Three forms: a CSV/TSV with spans (`document, start, end, code`, code points, end
//! exclusive), a CSV/TSV with quoted text (`document, code, segment`) placed by
//! [`align`], and a REFI-QDA project `.qdpx` (codes, sources and `PlainTextSelection` codings)
//! as ATLAS.ti, NVivo, MAXQDA and QualCoder export it. Documents are named by their terreno
//! `document_id` (the file name without its extension); codes are paths, `Parent > Child`.
//! Every segment that cannot be placed is reported with its line and why, never dropped.

pub mod align;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codebook::Codebook;
use crate::error::{Error, Result};

/// The separator of hierarchical code paths.
pub const PATH_SEP: &str = " > ";

/// A coded segment placed on a document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CodedSegment {
    /// The document.
    pub document: String,
    /// Code-point start in the run's `sources/<document>.txt`.
    pub start: usize,
    /// End, exclusive.
    pub end: usize,
    /// The code's path, `Parent > Child`.
    pub code: String,
}

/// A segment that could not be placed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unplaced {
    /// The line of the coding file (the selection's GUID for a project).
    pub at: String,
    /// The document named.
    pub document: String,
    /// The code.
    pub code: String,
    /// Why it could not be placed.
    pub reason: String,
    /// The start of its text.
    pub excerpt: String,
}

/// A manual coding read onto a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ManualCoding {
    /// The file read.
    pub source: PathBuf,
    /// Segments in the file.
    pub total: usize,
    /// Segments placed, sorted.
    pub segments: Vec<CodedSegment>,
    /// Segments placed by fuzzy matching (not exactly).
    pub fuzzy: usize,
    /// Segments that could not be placed.
    pub unplaced: Vec<Unplaced>,
    /// What the analyst should know about how the segments were placed.
    pub warnings: Vec<String>,
    /// The codebook, for a project (its codes' paths are the segments' codes).
    #[serde(skip)]
    pub codebook: Option<Codebook>,
}

/// The share of a quote that must be found in one place for a fuzzy match.
pub const MIN_SCORE: f64 = 0.5;

/// The run's documents: id → canonical text.
pub type Texts = BTreeMap<String, String>;

/// The run's document a coding names: its id, or a file name or stem that only one has.
fn resolve<'a>(texts: &'a Texts, name: &str) -> Option<&'a str> {
    let ids: Vec<&'a str> = texts.keys().map(String::as_str).collect();
    crate::ingest::resolve_document(&ids, name)
}

fn excerpt(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut e: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        e.push('…');
    }
    e
}

/// Reads a manual coding (format by extension: `.csv`, `.tsv`, `.qdpx`) onto the run's texts.
pub fn load(path: &Path, texts: &Texts) -> Result<ManualCoding> {
    let mut coding = match crate::ingest::extension(path).as_str() {
        "qdpx" => from_qdpx(path, texts)?,
        "csv" | "tsv" | "txt" => from_table(path, texts)?,
        other => {
            return Err(Error::input(
                path,
                None,
                format!("a manual coding is a .csv/.tsv of coded segments or a REFI-QDA .qdpx, not .{other}"),
            ))
        }
    };
    coding.source = path.to_path_buf();
    coding.segments.sort();
    coding.segments.dedup();
    Ok(coding)
}

fn from_table(path: &Path, texts: &Texts) -> Result<ManualCoding> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = crate::ingest::decode(path, &bytes)?.text;
    let first = text.lines().next().unwrap_or_default();
    let delimiter =
        if first.matches('\t').count() >= first.matches(',').count() && first.contains('\t') {
            b'\t'
        } else {
            b','
        };
    let (mut reader, headers) = crate::ingest::csv_reader(path, &text, delimiter)?;
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let doc_col = col(&["document", "doc", "document_id", "file", "source"]);
    let code_col = col(&["code", "codes", "code_path"]);
    let (Some(doc_col), Some(code_col)) = (doc_col, code_col) else {
        return Err(Error::input(
            path,
            Some(1),
            "a coding table needs a `document` (or `doc`) and a `code` column, and either \
             `start`/`end` or the quoted `segment`",
        ));
    };
    let start_col = col(&["start", "start_position", "begin"]);
    let end_col = col(&["end", "end_position"]);
    let text_col = col(&["segment", "text", "quote", "quotation", "coded_text"]);
    if text_col.is_none() && (start_col.is_none() || end_col.is_none()) {
        return Err(Error::input(
            path,
            Some(1),
            "no `segment` column and no `start`/`end` columns",
        ));
    }
    let mut placer = Placer { texts, targets: BTreeMap::new() };
    let mut coding = ManualCoding::default();
    for record in reader.records() {
        let record = record.map_err(|e| {
            Error::input(path, e.position().map(|p| p.line() as usize), e.to_string())
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let get =
            |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or_default().trim().to_string();
        let document = get(Some(doc_col));
        let code = normalise_path(&get(Some(code_col)));
        let quote = get(text_col);
        if document.is_empty() && code.is_empty() && quote.is_empty() {
            continue;
        }
        coding.total += 1;
        let unplaced = |reason: String| Unplaced {
            at: format!("line {line}"),
            document: document.clone(),
            code: code.clone(),
            reason,
            excerpt: excerpt(&quote),
        };
        if code.is_empty() {
            return Err(Error::input(path, Some(line), "a coded segment without a code"));
        }
        let Some(doc) = resolve(texts, &document) else {
            coding.unplaced.push(unplaced(format!("no document {document:?} in the run")));
            continue;
        };
        let (start, end) = (get(start_col), get(end_col));
        if !start.is_empty() && !end.is_empty() {
            let parse = |s: &str| {
                s.parse::<usize>().map_err(|_| {
                    Error::input(path, Some(line), format!("{s:?} is not a character position"))
                })
            };
            let (a, b) = (parse(&start)?, parse(&end)?);
            let len = texts[doc].chars().count();
            if a >= b || b > len {
                coding
                    .unplaced
                    .push(unplaced(format!("span {a}-{b} is not inside {doc} ({len} characters)")));
                continue;
            }
            coding.segments.push(CodedSegment {
                document: doc.to_string(),
                start: a,
                end: b,
                code,
            });
            continue;
        }
        if let Err(why) = placer.place(&mut coding, doc, &quote, None, code.clone()) {
            coding.unplaced.push(unplaced(why));
        }
    }
    Ok(coding)
}

/// Places quotes on the run's documents, each document prepared once.
struct Placer<'t> {
    texts: &'t Texts,
    targets: BTreeMap<String, align::Target>,
}

impl Placer<'_> {
    /// Places `quote` on `doc` (near the code-point position `near`, where one is known) and
    /// records the segment; otherwise says why not, for the unplaced list.
    fn place(
        &mut self,
        coding: &mut ManualCoding,
        doc: &str,
        quote: &str,
        near: Option<usize>,
        code: String,
    ) -> std::result::Result<(), String> {
        let texts = self.texts;
        let target =
            self.targets.entry(doc.to_string()).or_insert_with(|| align::Target::new(&texts[doc]));
        match target.place(quote, MIN_SCORE, near) {
            Ok(p) => {
                coding.fuzzy += !p.exact as usize;
                coding.segments.push(CodedSegment {
                    document: doc.to_string(),
                    start: p.start,
                    end: p.end,
                    code,
                });
                Ok(())
            }
            Err(align::Miss::Ambiguous(n)) => Err(format!(
                "the text occurs {n} times in {doc} and nothing tells which is meant; give its \
                 start and end, or quote more of it"
            )),
            Err(align::Miss::NotFound) if quote.trim().is_empty() => {
                Err("no text and no span".into())
            }
            Err(align::Miss::NotFound) => Err(format!(
                "the text is not in {doc} (less than {:.0}% of it found in one place)",
                MIN_SCORE * 100.0
            )),
        }
    }
}

/// `A>B`, `A / B`, `A::B` → `A > B`.
fn normalise_path(code: &str) -> String {
    let parts: Vec<&str> = if code.contains('>') {
        code.split('>').collect()
    } else if code.contains("::") {
        code.split("::").collect()
    } else {
        vec![code]
    };
    parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(PATH_SEP)
}

/// Reads `project.qde` (or `<name>.qde`) and the sources of a `.qdpx`.
fn from_qdpx(path: &Path, texts: &Texts) -> Result<ManualCoding> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| Error::input(path, None, format!("not a REFI-QDA project (zip): {e}")))?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let qde_name = names
        .iter()
        .find(|n| n.as_str() == "project.qde")
        .or_else(|| names.iter().find(|n| n.ends_with(".qde") && !n.contains('/')))
        .or_else(|| names.iter().find(|n| n.ends_with(".qde")))
        .cloned()
        .ok_or_else(|| Error::input(path, None, "no .qde file inside: not a REFI-QDA project"))?;
    let xml = crate::files::read_zip_text(path, &mut zip, &qde_name)?.unwrap_or_default();
    let inner = path.join(&qde_name);
    let doc = crate::xml::parse(&inner, "REFI-QDA project", &xml)?;
    let root = doc.root_element();
    let mut book = Codebook::default();
    if let Some(codes) = root
        .children()
        .find(|n| n.tag_name().name() == "CodeBook")
        .and_then(|cb| cb.children().find(|n| n.tag_name().name() == "Codes"))
    {
        crate::codebook::qdc::read_codes(&inner, &doc, codes, None, &mut book)?;
    }
    let by_guid: BTreeMap<String, String> =
        book.codes.iter().map(|c| (c.guid.to_lowercase(), book.path(&c.id))).collect();

    let mut coding = ManualCoding::default();
    let mut placer = Placer { texts, targets: BTreeMap::new() };
    let sources = root.children().find(|n| n.tag_name().name() == "Sources");
    for source in
        sources.iter().flat_map(|s| s.children()).filter(|n| n.tag_name().name() == "TextSource")
    {
        let name = source.attribute("name").unwrap_or_default().to_string();
        // The source's own text, inline or in the zip.
        // The source's own text, inline or in the zip, without a byte-order mark (QualCoder
        // writes one; its positions count from after it).
        let own: Option<String> = match source
            .children()
            .find(|n| n.tag_name().name() == "PlainTextContent")
            .and_then(|n| n.text())
        {
            Some(t) => Some(t.strip_prefix('\u{feff}').unwrap_or(t).to_string()),
            None => match source
                .attribute("plainTextPath")
                .and_then(|p| p.strip_prefix("internal://"))
            {
                Some(g) => crate::files::read_zip_text(path, &mut zip, &format!("sources/{g}"))?,
                None => None,
            },
        };
        let own_chars: Vec<char> = own.as_deref().unwrap_or_default().chars().collect();
        let same_text = resolve(texts, &name).is_some_and(|d| own.as_deref() == Some(&texts[d]));
        let mut by_text = 0usize;
        for sel in source.children().filter(|n| n.tag_name().name() == "PlainTextSelection") {
            let line = doc.text_pos_at(sel.range().start).row as usize;
            let bad = |m: String| Error::input(&inner, Some(line), m);
            let pos = |a: &str| -> Result<usize> {
                sel.attribute(a)
                    .ok_or_else(|| bad(format!("PlainTextSelection without {a}")))?
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("{a} is not a number")))
            };
            let (a, b) = (pos("startPosition")?, pos("endPosition")?);
            // 0 <= start < end <= length of the text the positions count in.
            let span_ok = own.is_some() && a < b && b <= own_chars.len();
            let quote: String =
                if span_ok { own_chars[a..b].iter().collect() } else { String::new() };
            let codings: Vec<String> = sel
                .children()
                .filter(|n| n.tag_name().name() == "Coding")
                .filter_map(|c| c.children().find(|r| r.tag_name().name() == "CodeRef"))
                .filter_map(|r| r.attribute("targetGUID"))
                .map(|g| by_guid.get(&g.to_lowercase()).cloned().unwrap_or_else(|| format!("?{g}")))
                .collect();
            for code in codings {
                coding.total += 1;
                let unplaced = |reason: String| Unplaced {
                    at: format!("line {line}"),
                    document: name.clone(),
                    code: code.clone(),
                    reason,
                    excerpt: excerpt(&quote),
                };
                if code.starts_with('?') {
                    coding
                        .unplaced
                        .push(unplaced("its code is not in the project's codebook".into()));
                    continue;
                }
                let Some(doc_id) = resolve(texts, &name) else {
                    coding.unplaced.push(unplaced(format!("no document {name:?} in the run")));
                    continue;
                };
                if !span_ok {
                    let why = match &own {
                        None => format!("the project has no text for {name:?}"),
                        Some(_) => format!(
                            "selection {a}-{b} is not a span of the project's text of {name:?} \
                             ({} characters)",
                            own_chars.len()
                        ),
                    };
                    coding.unplaced.push(unplaced(why));
                    continue;
                }
                // Same text: the positions hold as they are; else the selected text is placed,
                // near where the project had it.
                if same_text {
                    coding.segments.push(CodedSegment {
                        document: doc_id.to_string(),
                        start: a,
                        end: b,
                        code,
                    });
                    continue;
                }
                by_text += 1;
                if let Err(why) = placer.place(&mut coding, doc_id, &quote, Some(a), code.clone()) {
                    coding.unplaced.push(unplaced(format!(
                        "the project's text of {name:?} differs from the run's, and {why}"
                    )));
                }
            }
        }
        if by_text > 0 {
            coding.warnings.push(format!(
                "the project's text of {name:?} differs from the run's: its {by_text} codings \
                 were placed by their text, not by their positions"
            ));
        }
    }
    coding.codebook = Some(book);
    Ok(coding)
}

/// A code path at a level: `top` keeps the first part, `leaf` the whole path.
pub fn at_level(code: &str, level: Level) -> &str {
    match level {
        Level::Top => code.split(PATH_SEP).next().unwrap_or(code),
        Level::Leaf => code,
    }
}

/// Which level of the code hierarchy a comparison uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The top-level codes (themes).
    Top,
    /// The full paths (the codes as applied).
    Leaf,
}
