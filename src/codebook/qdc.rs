//! REFI-QDA codebook exchange (`.qdc`, namespace `urn:QDA-XML:codebook:1.0`).
//!
//! The fields REFI lacks travel in `Description` as labelled sections, one per line start:
//!
//! ```text
//! Short definition: …
//! Definition: …
//! When to use: …
//! When not to use: …
//! Examples:
//! - …
//! Status: proposed
//! Provenance: run NAME, decision N
//! terreno id: …
//! ```
//!
//! A code with only a definition is written as that text alone, so a codebook that came from
//! another tool goes back to it unchanged; a description without these labels is read as the
//! definition.

use std::path::Path;

use super::{slug, Code, Codebook, Provenance, Status};
use crate::error::{Error, Result};

/// The namespace of REFI-QDA codebooks.
pub const NAMESPACE: &str = "urn:QDA-XML:codebook:1.0";

const SHORT: &str = "Short definition:";
const DEFINITION: &str = "Definition:";
const WHEN: &str = "When to use:";
const WHEN_NOT: &str = "When not to use:";
const EXAMPLES: &str = "Examples:";
const STATUS: &str = "Status:";
const PROVENANCE: &str = "Provenance:";
const ID: &str = "terreno id:";
const LABELS: [&str; 8] = [SHORT, DEFINITION, WHEN, WHEN_NOT, EXAMPLES, STATUS, PROVENANCE, ID];

pub use crate::xml::escape;

/// The `Description` of a code, or `None` when it has nothing to say.
pub fn describe(code: &Code) -> Option<String> {
    let only_definition = code.short.is_empty()
        && code.when_to_use.is_empty()
        && code.when_not_to_use.is_empty()
        && code.examples.is_empty()
        && code.status == Status::Confirmed
        && code.provenance.is_none()
        && code.id == slug(&code.name)
        && !LABELS.iter().any(|l| code.definition.starts_with(l));
    if only_definition {
        return (!code.definition.is_empty()).then(|| code.definition.clone());
    }
    let mut lines = Vec::new();
    for (label, value) in [
        (SHORT, &code.short),
        (DEFINITION, &code.definition),
        (WHEN, &code.when_to_use),
        (WHEN_NOT, &code.when_not_to_use),
    ] {
        if !value.is_empty() {
            lines.push(format!("{label} {value}"));
        }
    }
    if !code.examples.is_empty() {
        lines.push(EXAMPLES.to_string());
        lines.extend(code.examples.iter().map(|e| format!("- {e}")));
    }
    if code.status != Status::Confirmed {
        lines.push(format!("{STATUS} {}", code.status.as_str()));
    }
    if let Some(p) = &code.provenance {
        lines.push(format!("{PROVENANCE} {}", p.to_text()));
    }
    if code.id != slug(&code.name) {
        lines.push(format!("{ID} {}", code.id));
    }
    Some(lines.join("\n"))
}

/// Fills a code's fields from its `Description`; returns the `terreno id` section, if any.
fn undescribe(code: &mut Code, text: &str) -> std::result::Result<Option<String>, String> {
    let starts = |line: &str| LABELS.iter().find(|l| line.starts_with(**l)).copied();
    if text.lines().find(|l| !l.trim().is_empty()).and_then(starts).is_none() {
        code.definition = text.trim().to_string();
        return Ok(None);
    }
    let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        match starts(line) {
            Some(label) => sections.push((label, vec![line[label.len()..].trim_start()])),
            None => {
                if let Some((_, lines)) = sections.last_mut() {
                    lines.push(line);
                }
            }
        }
    }
    let mut id = None;
    for (label, lines) in sections {
        let value = lines.join("\n").trim().to_string();
        match label {
            SHORT => code.short = value,
            DEFINITION => code.definition = value,
            WHEN => code.when_to_use = value,
            WHEN_NOT => code.when_not_to_use = value,
            EXAMPLES => {
                for line in &lines {
                    if let Some(item) = line.strip_prefix("- ") {
                        code.examples.push(item.trim().to_string());
                    } else if let Some(last) = code.examples.last_mut() {
                        if !line.trim().is_empty() {
                            last.push('\n');
                            last.push_str(line.trim());
                        }
                    }
                }
            }
            STATUS => {
                code.status =
                    Status::parse(&value).ok_or_else(|| format!("unknown status {value:?}"))?
            }
            PROVENANCE => {
                code.provenance =
                    Some(Provenance::parse(&value).ok_or_else(|| {
                        format!("provenance {value:?} is not `run NAME, decision N`")
                    })?)
            }
            _ => id = Some(value),
        }
    }
    Ok(id)
}

/// The codebook as a REFI-QDA `.qdc` document.
pub fn to_qdc(book: &Codebook) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    s.push_str(&format!("<CodeBook xmlns=\"{NAMESPACE}\""));
    if let Some(o) = &book.origin {
        s.push_str(&format!(" origin=\"{}\"", escape(o, true)));
    }
    s.push_str(">\n  <Codes>\n");
    write_codes(book, None, 2, &mut s);
    s.push_str("  </Codes>\n</CodeBook>\n");
    s
}

/// Writes `<Code>` elements for the children of `parent`, nested; shared with the project
/// export.
pub fn write_codes(book: &Codebook, parent: Option<&str>, depth: usize, s: &mut String) {
    for c in book.children(parent) {
        let pad = "  ".repeat(depth);
        s.push_str(&format!(
            "{pad}<Code guid=\"{}\" name=\"{}\" isCodable=\"{}\"",
            escape(&c.guid, true),
            escape(&c.name, true),
            c.codable
        ));
        if let Some(col) = &c.color {
            s.push_str(&format!(" color=\"{}\"", escape(col, true)));
        }
        let description = describe(c);
        let has_children = book.children(Some(&c.id)).next().is_some();
        if description.is_none() && !has_children {
            s.push_str("/>\n");
            continue;
        }
        s.push_str(">\n");
        if let Some(d) = description {
            s.push_str(&format!("{pad}  <Description>{}</Description>\n", escape(&d, false)));
        }
        write_codes(book, Some(&c.id), depth + 1, s);
        s.push_str(&format!("{pad}</Code>\n"));
    }
}

/// Reads a REFI-QDA `.qdc` document (or the `CodeBook` of a project).
pub fn from_qdc(path: &Path, text: &str) -> Result<Codebook> {
    let doc = crate::xml::parse(path, "REFI-QDA codebook", text)?;
    let root = doc.root_element();
    let book_node = if root.tag_name().name() == "CodeBook" {
        root
    } else {
        root.children().find(|n| n.tag_name().name() == "CodeBook").ok_or_else(|| {
            Error::input(path, Some(1), "no <CodeBook> element: not a REFI-QDA codebook")
        })?
    };
    let mut book =
        Codebook { origin: book_node.attribute("origin").map(str::to_string), codes: Vec::new() };
    let codes = book_node.children().find(|n| n.tag_name().name() == "Codes");
    if let Some(codes) = codes {
        read_codes(path, &doc, codes, None, &mut book)?;
    }
    Ok(book)
}

/// Reads the `<Code>` children of `node` into `book`, depth-first; shared with the project
/// import.
pub fn read_codes(
    path: &Path,
    doc: &roxmltree::Document,
    node: roxmltree::Node,
    parent: Option<&str>,
    book: &mut Codebook,
) -> Result<()> {
    let mut ids = super::FreshIds::new(book);
    read_codes_into(path, doc, node, parent, book, &mut ids)
}

/// [`read_codes`], with the ids taken so far (so a long codebook is read in linear time).
fn read_codes_into(
    path: &Path,
    doc: &roxmltree::Document,
    node: roxmltree::Node,
    parent: Option<&str>,
    book: &mut Codebook,
    ids: &mut super::FreshIds,
) -> Result<()> {
    for n in node.children().filter(|n| n.tag_name().name() == "Code") {
        let line = doc.text_pos_at(n.range().start).row as usize;
        let bad = |m: String| Error::input(path, Some(line), m);
        let name = n.attribute("name").ok_or_else(|| bad("<Code> without a name".into()))?;
        let guid = n.attribute("guid").ok_or_else(|| bad(format!("code {name:?} has no guid")))?;
        let mut code = Code::new(String::new(), name);
        code.guid = guid.to_string();
        code.parent = parent.map(str::to_string);
        code.color = n.attribute("color").map(str::to_string);
        code.codable = !matches!(n.attribute("isCodable"), Some("false" | "0"));
        let description = n
            .children()
            .find(|c| c.tag_name().name() == "Description")
            .map(|d| d.text().unwrap_or_default().to_string())
            .unwrap_or_default();
        let id =
            undescribe(&mut code, &description).map_err(|m| bad(format!("code {name:?}: {m}")))?;
        code.id = id.unwrap_or_else(|| ids.fresh(name));
        let id = code.id.clone();
        ids.take(&id);
        book.codes.push(code);
        read_codes_into(path, doc, n, Some(&id), book, ids)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_description_is_the_definition_both_ways() {
        let mut c = Code::new("fiducia", "Fiducia");
        c.definition = "Quando si fidano (o no) dei servizi.".into();
        assert_eq!(describe(&c).as_deref(), Some("Quando si fidano (o no) dei servizi."));
        let mut back = Code::new("", "Fiducia");
        assert_eq!(undescribe(&mut back, "Quando si fidano (o no) dei servizi.").unwrap(), None);
        assert_eq!(back.definition, c.definition);
    }

    #[test]
    fn labelled_sections_come_back_as_fields() {
        let mut c = Code::new("x-7", "Fiducia");
        c.short = "Fidarsi.".into();
        c.definition = "Riga uno\nriga due".into();
        c.examples = vec!["«sì»".into(), "no".into()];
        c.status = Status::Proposed;
        let text = describe(&c).unwrap();
        let mut back = Code::new("", "Fiducia");
        let id = undescribe(&mut back, &text).unwrap();
        assert_eq!(id.as_deref(), Some("x-7"));
        back.id = "x-7".into();
        assert_eq!(back, c);
    }
}
