//! The codebook as a spreadsheet: one row per code. Columns are found by name, in any order;
//! only `name` is required. `parent` may hold the parent's id or its name. Examples are one per
//! line inside their cell.

use std::path::Path;

use super::{Code, Codebook, Provenance, Status};
use crate::error::{Error, Result};

const COLUMNS: [&str; 13] = [
    "id",
    "name",
    "parent",
    "short",
    "definition",
    "when_to_use",
    "when_not_to_use",
    "examples",
    "status",
    "color",
    "codable",
    "guid",
    "provenance",
];

/// Other names of the columns, as codebooks written by hand (MacQueen et al.'s entry: code,
/// brief definition, full definition, when to use, when not to use, example) and the exports
/// of QDA tools (NVivo, ATLAS.ti, MAXQDA, QualCoder) call them. Headers are compared
/// lowercased, with spaces and hyphens as underscores.
const ALIASES: [(&str, &[&str]); 9] = [
    ("name", &["code", "code_name", "label", "codename"]),
    ("parent", &["parent_code", "parent_id", "parent_name"]),
    ("short", &["short_definition", "brief_definition", "short_description", "summary"]),
    ("definition", &["full_definition", "description", "memo", "comment", "long_definition"]),
    ("when_to_use", &["inclusion", "inclusion_criteria", "use_when"]),
    ("when_not_to_use", &["exclusion", "exclusion_criteria", "do_not_use_when"]),
    ("examples", &["example", "exemplars", "typical_exemplars", "example_quotes", "quotes"]),
    ("color", &["colour", "code_color", "code_colour"]),
    ("guid", &["uuid"]),
];

/// Columns of QDA tools' exports that describe a code's use, not its meaning (counts, dates,
/// authors): recognised and left out.
const IGNORED: [&str; 14] = [
    "files",
    "references",
    "number_of_files",
    "number_of_references",
    "coding_references",
    "created_on",
    "created_by",
    "modified_on",
    "modified_by",
    "aggregate",
    "hidden",
    "groundedness",
    "density",
    "code_groups",
];

/// Reads a codebook table.
pub fn from_csv(path: &Path, text: &str, delimiter: u8) -> Result<Codebook> {
    let (mut reader, headers) = crate::ingest::csv_reader(path, text, delimiter)?;
    // Each header as the field it fills; a column no one knows is an error, never dropped.
    let mut headers: Vec<String> = headers.iter().map(|h| h.replace([' ', '-'], "_")).collect();
    for h in &mut headers {
        if let Some((field, _)) = ALIASES.iter().find(|(_, other)| other.contains(&h.as_str())) {
            *h = field.to_string();
        }
    }
    let unknown: Vec<&str> = headers
        .iter()
        .map(String::as_str)
        .filter(|h| !h.is_empty() && !COLUMNS.contains(h) && !IGNORED.contains(h))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::input(
            path,
            Some(1),
            format!(
                "unknown column{} {}: terreno reads {} (and their common names, e.g. \
                 short_definition, example); rename the column{0} or remove {}",
                if unknown.len() > 1 { "s" } else { "" },
                unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
                COLUMNS.join(", "),
                if unknown.len() > 1 { "them" } else { "it" },
            ),
        ));
    }
    for (i, h) in headers.iter().enumerate() {
        if COLUMNS.contains(&h.as_str()) && headers[..i].contains(h) {
            return Err(Error::input(
                path,
                Some(1),
                format!("two columns give the code's `{h}` (one may be another name for it)"),
            ));
        }
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let name_col = col("name").ok_or_else(|| {
        Error::input(path, Some(1), format!("no `name` column (columns: {})", COLUMNS.join(", ")))
    })?;
    let mut book = Codebook::default();
    let mut parents: Vec<(usize, String, usize)> = Vec::new();
    let mut ids = super::FreshIds::default();
    for record in reader.records() {
        let record = record.map_err(|e| {
            Error::input(path, e.position().map(|p| p.line() as usize), e.to_string())
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let get = |name: &str| {
            col(name).and_then(|i| record.get(i)).map(str::trim).unwrap_or_default().to_string()
        };
        let name = record.get(name_col).unwrap_or_default().trim().to_string();
        if name.is_empty() {
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            return Err(Error::input(path, Some(line), "a code without a name"));
        }
        let id = get("id");
        let id = if id.is_empty() { ids.fresh(&name) } else { id };
        ids.take(&id);
        let mut code = Code::new(id, name.clone());
        code.guid = get("guid");
        code.short = get("short");
        code.definition = get("definition");
        code.when_to_use = get("when_to_use");
        code.when_not_to_use = get("when_not_to_use");
        code.examples = get("examples")
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let status = get("status");
        code.status = Status::parse(&status).ok_or_else(|| {
            Error::input(
                path,
                Some(line),
                format!("status {status:?}: use proposed, confirmed or retired"),
            )
        })?;
        let color = get("color");
        code.color = (!color.is_empty()).then_some(color);
        code.codable = !matches!(get("codable").to_lowercase().as_str(), "false" | "no" | "0");
        let prov = get("provenance");
        if !prov.is_empty() {
            code.provenance = Some(Provenance::parse(&prov).ok_or_else(|| {
                Error::input(
                    path,
                    Some(line),
                    format!("provenance {prov:?} is not `run NAME, decision N`"),
                )
            })?);
        }
        let parent = get("parent");
        if !parent.is_empty() {
            parents.push((book.codes.len(), parent, line));
        }
        book.codes.push(code);
    }
    // A parent may be named by id or by name, and may come later in the table (looked up in
    // maps: a long table must not take quadratic time).
    let mut by_id: std::collections::HashMap<&str, usize> = Default::default();
    let mut by_name: std::collections::HashMap<&str, usize> = Default::default();
    for (i, c) in book.codes.iter().enumerate() {
        by_id.entry(c.id.as_str()).or_insert(i);
        by_name.entry(c.name.as_str()).or_insert(i);
    }
    let mut resolved = Vec::with_capacity(parents.len());
    for (i, parent, line) in parents {
        let id = by_id
            .get(parent.as_str())
            .or_else(|| by_name.get(parent.as_str()))
            .map(|&j| book.codes[j].id.clone())
            .ok_or_else(|| {
                Error::input(
                    path,
                    Some(line),
                    format!("parent {parent:?} is neither an id nor a name"),
                )
            })?;
        resolved.push((i, id));
    }
    for (i, id) in resolved {
        book.codes[i].parent = Some(id);
    }
    Ok(book)
}

/// Writes a codebook table.
pub fn to_csv(book: &Codebook, delimiter: u8) -> Result<String> {
    let mut w = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
    let csv_err = |e: csv::Error| Error::Config(format!("cannot write the codebook table: {e}"));
    w.write_record(COLUMNS).map_err(csv_err)?;
    for c in &book.codes {
        let codable = c.codable.to_string();
        let examples =
            c.examples.iter().map(|e| e.replace('\n', " ")).collect::<Vec<_>>().join("\n");
        let provenance = c.provenance.as_ref().map(Provenance::to_text).unwrap_or_default();
        w.write_record([
            c.id.as_str(),
            &c.name,
            c.parent.as_deref().unwrap_or(""),
            &c.short,
            &c.definition,
            &c.when_to_use,
            &c.when_not_to_use,
            &examples,
            c.status.as_str(),
            c.color.as_deref().unwrap_or(""),
            &codable,
            &c.guid,
            &provenance,
        ])
        .map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Config(e.to_string()))?;
    Ok(String::from_utf8(bytes).unwrap_or_default())
}
