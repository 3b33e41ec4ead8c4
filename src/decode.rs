//! Bytes to text: UTF-8 (with or without BOM), UTF-16 with a BOM, and Windows-1252/Latin-1,
//! which Italian text saved on Windows often is. A guess is always reported as a warning; what
//! cannot be decoded faithfully is an error naming the line, never mangled text.
//!
//! Not `chardetng`: it guesses among dozens of encodings by statistics, while the only legacy
//! encoding these transcripts come in is Windows-1252, and a wrong guess must be an error.

use std::path::Path;

use crate::error::{Error, Result};

/// A decoded text file.
#[derive(Debug)]
pub struct Decoded {
    /// The text, without BOM.
    pub text: String,
    /// Set when the encoding was not UTF-8.
    pub warning: Option<String>,
}

/// Decodes a text file's bytes; `path` is for messages.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Decoded> {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        if encoding != encoding_rs::UTF_8 {
            let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom..]);
            if had_errors {
                return Err(Error::input(
                    path,
                    None,
                    format!("not valid {} text; re-save the file as UTF-8", encoding.name()),
                ));
            }
            return check_text(
                path,
                text.into_owned(),
                Some(format!("decoded as {}", encoding.name())),
            );
        }
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::input(path, None, "the file is empty"));
    }
    if let Some(pos) = body.iter().position(|&b| b == 0) {
        return Err(Error::input(
            path,
            Some(line_of(body, pos)),
            "this looks like a binary file (it contains NUL bytes), not a transcript",
        ));
    }
    match std::str::from_utf8(body) {
        Ok(text) => check_text(path, text.to_string(), None),
        Err(err) => {
            let bad = err.valid_up_to();
            // A file with well-formed multi-byte UTF-8 and also invalid bytes mixes encodings:
            // no single decoding is right, so say where.
            let has_utf8_multibyte = String::from_utf8_lossy(body)
                .chars()
                .any(|c| !c.is_ascii() && c != char::REPLACEMENT_CHARACTER);
            let undefined_1252 = body.iter().any(|b| matches!(b, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D));
            if has_utf8_multibyte || undefined_1252 {
                return Err(Error::input(
                    path,
                    Some(line_of(body, bad)),
                    "invalid UTF-8 (the file mixes encodings or is not text); re-save it as UTF-8",
                ));
            }
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(body);
            check_text(
                path,
                text.into_owned(),
                Some(format!(
                    "not UTF-8 (first at line {}): decoded as Windows-1252/Latin-1; check accented letters",
                    line_of(body, bad)
                )),
            )
        }
    }
}

/// Rejects text that is mostly control characters (a binary file that happens to decode).
fn check_text(path: &Path, text: String, warning: Option<String>) -> Result<Decoded> {
    let total = text.chars().count().max(1);
    let control = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0C'))
        .count();
    if control * 20 > total {
        return Err(Error::input(path, None, "this looks like a binary file, not a transcript"));
    }
    if text.trim().is_empty() {
        return Err(Error::input(path, None, "the file is empty"));
    }
    Ok(Decoded { text, warning })
}

fn line_of(bytes: &[u8], pos: usize) -> usize {
    bytes[..pos].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_decoded_with_a_warning() {
        let d = decode(Path::new("x.txt"), b"A: perch\xe9 no\nB: citt\xe0").unwrap();
        assert_eq!(d.text, "A: perché no\nB: città");
        assert!(d.warning.unwrap().contains("line 1"));
    }

    #[test]
    fn bom_is_stripped() {
        let d = decode(Path::new("x.txt"), "\u{feff}A: sì".as_bytes()).unwrap();
        assert_eq!(d.text, "A: sì");
        assert!(d.warning.is_none());
    }

    #[test]
    fn mixed_encodings_name_the_line() {
        let mut bytes = "A: città\nB: perch".as_bytes().to_vec();
        bytes.push(0xE9);
        let err = decode(Path::new("x.txt"), &bytes).unwrap_err();
        assert!(err.to_string().contains("x.txt line 2"), "{err}");
    }

    #[test]
    fn utf16_with_bom_is_read() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "A: già".encode_utf16() {
            bytes.extend(u.to_le_bytes());
        }
        assert_eq!(decode(Path::new("x.txt"), &bytes).unwrap().text, "A: già");
    }
}
