//! XML text and attribute escaping, for the REFI-QDA files and the HTML report, and parsing
//! with a bound on nesting for every XML reader. A leaf module.

use std::path::Path;

use crate::error::{Error, Result};

/// Escapes text for XML content or a double-quoted attribute.
pub fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for one line of Markdown: HTML is shown, never run (`<` `>` `&` as entities),
/// Markdown's punctuation is taken literally (backslash-escaped), and line breaks become spaces
/// so a quote cannot leave its block.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        // A tilde can only open strikethrough before a non-space: transcripts' truncation
        // mark (`tu~ tutto`, ParlaTO's and Jefferson's) stays as it is, readable.
        let opens = chars.peek().is_some_and(|n| !n.is_whitespace());
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '~' if !opens => out.push(c),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Parses an XML document after checking that its elements nest no deeper than
/// [`crate::limits::Limits::xml_depth`] (the parser recurses once per level, so a crafted file
/// nested thousands deep would otherwise overflow the stack). `what` names the part of the file
/// in messages ("ELAN XML", "word/document.xml").
pub fn parse<'a>(path: &Path, what: &str, text: &'a str) -> Result<roxmltree::Document<'a>> {
    let limit = crate::limits::limits().xml_depth;
    if let Some(at) = too_deep(text.as_bytes(), limit) {
        let line = text.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(Error::input(
            path,
            Some(line),
            format!(
                "{what}: elements nested more than {limit} deep; this is not a file terreno \
                 reads (to read it anyway, set {}=N)",
                crate::limits::XML_DEPTH
            ),
        ));
    }
    roxmltree::Document::parse(text).map_err(|e| {
        Error::input(path, Some(e.pos().row as usize), format!("{what}: not well-formed XML: {e}"))
    })
}

/// The byte offset of the first start tag nested deeper than `limit`, if any. A linear scan
/// that knows comments, CDATA, processing instructions, declarations and quoted attribute
/// values; it decides nothing about well-formedness (the parser does that afterwards).
fn too_deep(b: &[u8], limit: usize) -> Option<usize> {
    let skip_to = |from: usize, end: &[u8]| -> usize {
        b[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(b.len(), |p| from + p + end.len())
    };
    let (mut i, mut depth) = (0, 0usize);
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            i = skip_to(i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_to(i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_to(i + 2, b"?>");
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") {
            depth = depth.saturating_sub(usize::from(rest.starts_with(b"</")));
            i = skip_to(i + 2, b">");
        } else {
            // A start tag: find its end outside quoted attribute values.
            let start = i;
            let mut quote = None;
            i += 1;
            while i < b.len() {
                match (quote, b[i]) {
                    (None, b'"' | b'\'') => quote = Some(b[i]),
                    (Some(q), c) if c == q => quote = None,
                    (None, b'>') => break,
                    _ => {}
                }
                i += 1;
            }
            if b.get(i.wrapping_sub(1)) != Some(&b'/') {
                depth += 1;
                if depth > limit {
                    return Some(start);
                }
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_shows_html_and_punctuation_as_text() {
        assert_eq!(
            markdown("<script>alert(1)</script> *a* [x](y)\n# h & `c`"),
            "&lt;script&gt;alert(1)&lt;/script&gt; \\*a\\* \\[x\\](y) \\# h &amp; \\`c\\`"
        );
        assert_eq!(markdown("tu~ tutto ~~via~~ no!"), "tu~ tutto \\~\\~via\\~~ no!");
    }

    #[test]
    fn depth_counts_elements_only() {
        let ok = "<?xml version='1.0'?><!-- <a><a><a> --><a x='>' y=\"<b>\"><b/><![CDATA[<c><c>]]>\
                  <b>t</b></a>";
        assert_eq!(too_deep(ok.as_bytes(), 2), None);
        assert_eq!(too_deep(ok.as_bytes(), 1), Some(ok.find("<b>t").unwrap()));
        let deep = "<a>".repeat(300) + &"</a>".repeat(300);
        assert_eq!(too_deep(deep.as_bytes(), 300), None);
        assert_eq!(too_deep(deep.as_bytes(), 299), Some(299 * 3));
    }

    #[test]
    fn a_deep_file_is_an_error_naming_its_line() {
        let text = format!("<r>\n{}{}</r>", "<x>".repeat(5000), "</x>".repeat(5000));
        let e = parse(Path::new("a.eaf"), "ELAN XML", &text).unwrap_err().to_string();
        assert!(e.starts_with("a.eaf line 2: ELAN XML: elements nested more than 256"), "{e}");
        assert!(e.contains("TERRENO_MAX_XML_DEPTH"), "{e}");
        assert!(parse(Path::new("a.eaf"), "x", "<a><b/></a>").is_ok());
    }
}
