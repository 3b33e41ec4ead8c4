//! Word `.docx`, as transcription services deliver it: the paragraphs of `word/document.xml`,
//! one per line, read as a plain-text transcript (`NAME: text` prefixes). The canonical text is
//! that list of paragraphs.

use std::path::Path;

use super::{plain, Document, Format};
use crate::error::{Error, Result};

/// Reads a `.docx` file from its bytes.
pub(crate) fn read(path: &Path, bytes: &[u8]) -> Result<Document> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|_| {
        Error::input(
            path,
            None,
            "not a Word .docx document (it is not a zip archive); save it from Word as .docx, or \
             export it as plain text",
        )
    })?;
    let xml =
        crate::files::read_zip_text(path, &mut archive, "word/document.xml")?.ok_or_else(|| {
            Error::input(path, None, "a zip archive without word/document.xml: not a .docx")
        })?;
    let text = paragraphs(path, &xml)?;
    if text.trim().is_empty() {
        return Err(Error::input(path, None, "the document has no text"));
    }
    plain::read(path, &text, Format::Docx)
}

/// The text of every paragraph, one per line; a tab stays a tab, a line break becomes a space.
fn paragraphs(path: &Path, xml: &str) -> Result<String> {
    let doc = crate::xml::parse(path, "word/document.xml", xml)?;
    let mut out = Vec::new();
    for p in doc.descendants().filter(|n| n.tag_name().name() == "p") {
        let mut line = String::new();
        for n in p.descendants() {
            match n.tag_name().name() {
                "t" => line.push_str(n.text().unwrap_or("")),
                "tab" => line.push('\t'),
                "br" | "cr" => line.push(' '),
                _ => {}
            }
        }
        out.push(line);
    }
    Ok(out.join("\n"))
}
