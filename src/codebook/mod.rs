//! The study's codebook, after MacQueen et al.'s codebook entry (name, short and full
//! definition, when to use, when not to use, examples), plus what a grounded-theory team
//! tracks: hierarchy, status, colour and where each code came from.
//!
//! Three formats, chosen by extension: `.toml` (the one an analyst edits by hand), `.csv` (a
//! spreadsheet), and REFI-QDA `.qdc` (ATLAS.ti, NVivo, MAXQDA and QualCoder exchange
//! codebooks in it). REFI has only a name, a colour and a description per code, so the other
//! fields travel inside `Description` as labelled sections and come back on import.

pub mod matching;
pub mod qdc;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub use qdc::{from_qdc, to_qdc};

/// Where a code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Suggested, not yet agreed.
    Proposed,
    /// Agreed by the team: the default for a codebook written by hand.
    #[default]
    Confirmed,
    /// No longer used; kept so old codings stay readable.
    Retired,
}

impl Status {
    /// The word used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Proposed => "proposed",
            Status::Confirmed => "confirmed",
            Status::Retired => "retired",
        }
    }

    /// Parses the word used in files.
    pub fn parse(s: &str) -> Option<Status> {
        match s.trim().to_lowercase().as_str() {
            "proposed" => Some(Status::Proposed),
            "confirmed" | "" => Some(Status::Confirmed),
            "retired" => Some(Status::Retired),
            _ => None,
        }
    }
}

/// Which run and which review decision created a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The run directory's name.
    pub run: String,
    /// The decision's number in that run's `decisions.jsonl`.
    pub decision: u64,
}

impl Provenance {
    /// `run NAME, decision N`, as written in CSV and QDC.
    pub fn to_text(&self) -> String {
        format!("run {}, decision {}", self.run, self.decision)
    }

    /// Parses [`Provenance::to_text`].
    pub fn parse(s: &str) -> Option<Provenance> {
        let (run, decision) = s.trim().strip_prefix("run ")?.rsplit_once(", decision ")?;
        Some(Provenance { run: run.to_string(), decision: decision.trim().parse().ok()? })
    }
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_confirmed(s: &Status) -> bool {
    *s == Status::Confirmed
}

/// One codebook entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Code {
    /// Short, stable identifier (a slug of the first name by default).
    pub id: String,
    /// The code's name, as analysts see it.
    pub name: String,
    /// REFI-QDA GUID; derived from the id when missing and never changed afterwards.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub guid: String,
    /// The parent code's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Short definition: one line.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub short: String,
    /// Full definition.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub definition: String,
    /// When to use it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub when_to_use: String,
    /// When not to use it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub when_not_to_use: String,
    /// Example quotes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Proposed, confirmed or retired.
    #[serde(default, skip_serializing_if = "is_confirmed")]
    pub status: Status,
    /// `#RRGGBB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Whether passages can be coded with it (false for a pure grouping code).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub codable: bool,
    /// Which run and decision created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl Code {
    /// A code with just an id and a name; everything else empty.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Code {
        Code {
            id: id.into(),
            name: name.into(),
            guid: String::new(),
            parent: None,
            short: String::new(),
            definition: String::new(),
            when_to_use: String::new(),
            when_not_to_use: String::new(),
            examples: Vec::new(),
            status: Status::Confirmed,
            color: None,
            codable: true,
            provenance: None,
        }
    }
}

/// A codebook: codes in depth-first order (every parent before its children).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Codebook {
    /// Which tool wrote it (REFI `origin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The codes.
    #[serde(default, rename = "code")]
    pub codes: Vec<Code>,
}

/// Ids handed out while a codebook is read: the taken ones, and for each name the next number
/// to try, so that a long codebook (or one with thousands of codes of one name) is read in
/// linear time.
#[derive(Debug, Default)]
pub struct FreshIds {
    taken: BTreeSet<String>,
    next: BTreeMap<String, usize>,
}

impl FreshIds {
    /// The ids `book` already uses.
    pub fn new(book: &Codebook) -> FreshIds {
        FreshIds { taken: book.codes.iter().map(|c| c.id.clone()).collect(), ..FreshIds::default() }
    }

    /// Marks `id` as taken.
    pub fn take(&mut self, id: &str) {
        self.taken.insert(id.to_string());
    }

    /// A new id for `name` (its slug, else the slug with the next free number), now taken.
    pub fn fresh(&mut self, name: &str) -> String {
        let base = slug(name);
        let id = if self.taken.contains(&base) {
            let n = self.next.entry(base.clone()).or_insert(2);
            loop {
                let id = format!("{base}-{n}");
                *n += 1;
                if !self.taken.contains(&id) {
                    break id;
                }
            }
        } else {
            base
        };
        self.taken.insert(id.clone());
        id
    }
}

/// A GUID derived from a code id: the same id always gets the same GUID, so exports stay
/// stable without storing anything.
pub fn guid_for(id: &str) -> String {
    let h = Sha256::digest(format!("terreno code {id}").as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    // Marked as a name-based (version 5 style) UUID with the RFC 4122 variant.
    format!(
        "{}-{}-5{}-{:x}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        (u8::from_str_radix(&hex[16..17], 16).unwrap_or(0) & 0x3) | 0x8,
        &hex[17..20],
        &hex[20..32]
    )
}

/// Whether `s` is a REFI GUID (`8-4-4-4-12` hex, optionally in braces).
pub fn is_guid(s: &str) -> bool {
    let s = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(s);
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A lowercase ASCII identifier from a name: `Supporto tra pari` → `supporto-tra-pari`,
/// accents folded (`è` → `e`).
pub fn slug(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut s = String::new();
    for c in name.nfd() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if (c.is_whitespace() || c.is_ascii_punctuation()) && !s.ends_with('-') {
            s.push('-');
        }
    }
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "code".into()
    } else {
        s
    }
}

impl Codebook {
    /// The code with this id.
    pub fn get(&self, id: &str) -> Option<&Code> {
        self.codes.iter().find(|c| c.id == id)
    }

    /// A new id for `name`, unique in this codebook.
    pub fn fresh_id(&self, name: &str) -> String {
        FreshIds::new(self).fresh(name)
    }

    /// `Parent > Child` for a code.
    pub fn path(&self, id: &str) -> String {
        let mut names = Vec::new();
        let mut cur = self.get(id);
        let mut guard = 0;
        while let Some(c) = cur {
            names.push(c.name.as_str());
            cur = c.parent.as_deref().and_then(|p| self.get(p));
            guard += 1;
            if guard > self.codes.len() {
                break;
            }
        }
        names.reverse();
        names.join(" > ")
    }

    /// Children of `parent` (top-level codes for `None`), in order.
    pub fn children<'a>(&'a self, parent: Option<&'a str>) -> impl Iterator<Item = &'a Code> + 'a {
        self.codes.iter().filter(move |c| c.parent.as_deref() == parent)
    }

    /// Fills in missing GUIDs, then checks ids, parents, GUIDs and colours, and puts the codes
    /// in depth-first order. `where_` names the file in errors; `line_of` finds a code's line.
    fn finish(mut self, path: &Path, line_of: &dyn Fn(&str) -> Option<usize>) -> Result<Codebook> {
        let bad = |id: &str, msg: String| Error::input(path, line_of(id), msg);
        let mut ids = BTreeSet::new();
        let mut guids = BTreeSet::new();
        for c in &mut self.codes {
            // Surrounding whitespace carries no meaning in any format; dropping it keeps round
            // trips exact.
            for f in [
                &mut c.id,
                &mut c.name,
                &mut c.short,
                &mut c.definition,
                &mut c.when_to_use,
                &mut c.when_not_to_use,
            ] {
                *f = f.trim().to_string();
            }
            c.examples =
                c.examples.iter().map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect();
            if c.id.is_empty() {
                return Err(bad(&c.name, format!("code {:?} has no id", c.name)));
            }
            if c.name.trim().is_empty() {
                return Err(bad(&c.id, format!("code {:?} has no name", c.id)));
            }
            if !ids.insert(c.id.clone()) {
                return Err(bad(&c.id, format!("two codes have the id {:?}", c.id)));
            }
            if c.guid.is_empty() {
                c.guid = guid_for(&c.id);
            } else if !is_guid(&c.guid) {
                return Err(bad(
                    &c.id,
                    format!("code {:?}: guid {:?} is not 8-4-4-4-12 hexadecimal", c.id, c.guid),
                ));
            }
            if !guids.insert(c.guid.to_lowercase()) {
                return Err(bad(&c.id, format!("code {:?}: its guid is used twice", c.id)));
            }
            if let Some(col) = &c.color {
                let hex = col.strip_prefix('#').unwrap_or("");
                if !(matches!(hex.len(), 3 | 6) && hex.chars().all(|h| h.is_ascii_hexdigit())) {
                    return Err(bad(
                        &c.id,
                        format!("code {:?}: color {col:?} is not #RRGGBB", c.id),
                    ));
                }
            }
        }
        for c in &self.codes {
            if let Some(p) = &c.parent {
                if !ids.contains(p) {
                    return Err(bad(
                        &c.id,
                        format!("code {:?}: no code has the parent id {p:?}", c.id),
                    ));
                }
            }
        }
        // Depth-first order, keeping the file's order among siblings; a cycle leaves codes out.
        // Iterative, with the children listed once: a crafted chain of codes can neither
        // overflow the stack nor take quadratic time.
        let mut children: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
        for (i, c) in self.codes.iter().enumerate() {
            children.entry(c.parent.as_deref()).or_default().push(i);
        }
        let max_depth = crate::limits::limits().code_depth;
        let mut ordered = Vec::with_capacity(self.codes.len());
        let mut stack: Vec<(usize, usize)> =
            children.get(&None).into_iter().flatten().rev().map(|&i| (i, 1)).collect();
        while let Some((i, depth)) = stack.pop() {
            let c = &self.codes[i];
            if depth > max_depth {
                return Err(bad(
                    &c.id,
                    format!(
                        "code {:?} is nested {depth} deep; codebooks are read to {max_depth} \
                         levels (set {}=N to read deeper ones)",
                        c.id,
                        crate::limits::CODE_DEPTH
                    ),
                ));
            }
            ordered.push(c.clone());
            let kids = children.get(&Some(c.id.as_str())).into_iter().flatten();
            stack.extend(kids.rev().map(|&k| (k, depth + 1)));
        }
        if ordered.len() != self.codes.len() {
            let placed: BTreeSet<&str> = ordered.iter().map(|c| c.id.as_str()).collect();
            let lost = self.codes.iter().find(|c| !placed.contains(c.id.as_str())).unwrap();
            return Err(bad(&lost.id, format!("code {:?} is its own ancestor", lost.id)));
        }
        self.codes = ordered;
        Ok(self)
    }

    /// Reads a codebook; the format comes from the extension (`.toml`, `.csv`, `.qdc`).
    pub fn read(path: &Path) -> Result<Codebook> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = crate::ingest::decode(path, &bytes)?.text;
        let ext = crate::ingest::extension(path);
        let line_of = |key: &str| -> Option<usize> {
            let quoted = format!("\"{key}\"");
            let find = |k: &str| text.lines().position(|l| l.contains(k)).map(|i| i + 1);
            find(&quoted).or_else(|| find(key))
        };
        let book = match ext.as_str() {
            "toml" => toml::from_str::<Codebook>(&text).map_err(|e| {
                let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
                Error::input(path, line, e.message().to_string())
            })?,
            "csv" | "tsv" => table::from_csv(path, &text, if ext == "tsv" { b'\t' } else { b',' })?,
            "qdc" => from_qdc(path, &text)?,
            other => {
                return Err(Error::input(
                    path,
                    None,
                    format!("a codebook is .toml, .csv or .qdc, not .{other}"),
                ))
            }
        };
        book.finish(path, &line_of)
    }

    /// Checks a codebook built in memory (as [`Codebook::read`] does for files).
    pub fn validated(self, what: &Path) -> Result<Codebook> {
        self.finish(what, &|_| None)
    }

    /// The codebook in a format.
    pub fn to_format(&self, ext: &str) -> Result<String> {
        match ext {
            "toml" => Ok(self.to_toml()),
            "csv" => table::to_csv(self, b','),
            "tsv" => table::to_csv(self, b'\t'),
            "qdc" => Ok(to_qdc(self)),
            other => Err(Error::Config(format!("a codebook is .toml, .csv or .qdc, not .{other}"))),
        }
    }

    /// Writes the codebook; the format comes from the extension.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = self.to_format(&crate::ingest::extension(path))?;
        crate::files::write_atomic(path, |f| {
            std::io::Write::write_all(f, text.as_bytes()).map_err(|e| Error::io(path, e))
        })
    }

    /// TOML an analyst can edit: one `[[code]]` table per code.
    pub fn to_toml(&self) -> String {
        let mut s = String::from(
            "# terreno codebook: one [[code]] per code, parents before their children.\n\
             # Fields: id, name, parent, short, definition, when_to_use, when_not_to_use,\n\
             # examples, status (proposed | confirmed | retired), color, codable, guid.\n",
        );
        if let Some(o) = &self.origin {
            s.push_str(&format!("origin = {}\n", toml_string(o)));
        }
        for c in &self.codes {
            s.push('\n');
            // Each table through the toml crate, so quoting is always right.
            #[derive(Serialize)]
            struct One<'a> {
                code: [&'a Code; 1],
            }
            let t = toml::to_string(&One { code: [c] }).unwrap_or_default();
            s.push_str(&t);
        }
        s
    }

    /// Codes added, changed and removed from `old` to `self`, as readable lines.
    pub fn changes_from(&self, old: &Codebook) -> Vec<String> {
        let old_by: BTreeMap<&str, &Code> = old.codes.iter().map(|c| (c.id.as_str(), c)).collect();
        let new_by: BTreeMap<&str, &Code> = self.codes.iter().map(|c| (c.id.as_str(), c)).collect();
        let mut out = Vec::new();
        for c in &self.codes {
            match old_by.get(c.id.as_str()) {
                None => out.push(format!("+ {} ({}): {}", c.name, c.id, first_line(&c.definition))),
                Some(o) if *o != c => {
                    let mut what = Vec::new();
                    if o.name != c.name {
                        what.push(format!("renamed from {:?}", o.name));
                    }
                    if o.status != c.status {
                        what.push(format!("{} → {}", o.status.as_str(), c.status.as_str()));
                    }
                    if o.definition != c.definition || o.short != c.short {
                        what.push("definition changed".into());
                    }
                    if o.examples != c.examples {
                        what.push(format!("{} → {} examples", o.examples.len(), c.examples.len()));
                    }
                    if o.parent != c.parent {
                        what.push("moved".into());
                    }
                    if what.is_empty() {
                        what.push("edited".into());
                    }
                    out.push(format!("~ {} ({}): {}", c.name, c.id, what.join(", ")));
                }
                Some(_) => {}
            }
        }
        for c in &old.codes {
            if !new_by.contains_key(c.id.as_str()) {
                out.push(format!("- {} ({})", c.name, c.id));
            }
        }
        out
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Converts a codebook file into another format (`terreno codebook convert`).
pub fn convert(input: &Path, output: &Path) -> Result<Codebook> {
    let book = Codebook::read(input)?;
    book.write(output)?;
    Ok(book)
}

/// The text a code is embedded from (as an e5 query): its path, definitions and examples.
pub fn code_text(book: &Codebook, code: &Code) -> String {
    let mut parts = vec![book.path(&code.id)];
    for field in [&code.short, &code.definition, &code.when_to_use] {
        if !field.trim().is_empty() {
            parts.push(field.trim().to_string());
        }
    }
    for e in code.examples.iter().take(3) {
        parts.push(e.trim().to_string());
    }
    parts.join(". ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_stable_and_valid() {
        // The GUID an export of this id has always had (sha256 of "terreno code <id>", worked
        // out outside terreno): a change here would give every analyst's codes new GUIDs.
        let g = guid_for("supporto-tra-pari");
        assert_eq!(g, "f2ed6532-b790-521d-9f21-331ace86750a");
        assert_ne!(g, guid_for("stigma"));
        assert!(is_guid(&g), "{g}");
        assert!(is_guid("{0A1B2C3D-0000-4000-8000-123456789abc}"));
        assert!(!is_guid("0A1B2C3D-0000-4000-8000-123456789ab"));
    }

    #[test]
    fn slugs_fold_accents_and_punctuation() {
        assert_eq!(slug("Perché l'ansia è così?"), "perche-l-ansia-e-cosi");
        assert_eq!(slug("  "), "code");
    }

    #[test]
    fn provenance_text_round_trips() {
        let p = Provenance { run: "runs/2026, notte".into(), decision: 12 };
        assert_eq!(Provenance::parse(&p.to_text()), Some(p));
    }
}
