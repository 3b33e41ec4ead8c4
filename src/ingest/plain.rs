//! Plain-text transcripts with speaker labels.
//!
//! Three conventions, detected once per file (never guessed line by line):
//! - **tab**: `LABEL<TAB>text`, one transcription unit per line (ParlaTO's linear format);
//! - **colon**: `LABEL: text` lines, or a label alone on its line (`Dan:`) followed by the turn's
//!   lines, as PDF and Word exports give it.
//!
//! Lines without a label continue the turn above. Page marks (`2/5`) and the runs of line numbers
//! that PDF exports leave behind are not speech; nor is what comes before the first label (a
//! title). Optional `[hh:mm:ss]` stamps before or after a label give the turn's start time.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::{CharIndex, Document, Format, Role, Turn};
use crate::error::{Error, Result};

static STAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[\[(]((?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d+)?)[\])]\s*").expect("valid regex")
});
static COLON_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    let word = r"[\p{L}\p{N}][\p{L}\p{N}_.\-'’]*";
    Regex::new(&format!(r"^({word}(?: {word}){{0,3}})\s*:(?:\s|$)")).expect("valid regex")
});
static TAB_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^\s:]{1,40})\t").expect("valid regex"));
static PAGE_MARK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*\d{1,4}\s*/\s*\d{1,4}\s*$").expect("valid regex"));
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(\d{1,5})\s*$").expect("valid regex"));

#[derive(Debug, Clone, Copy, PartialEq)]
enum Convention {
    Tab,
    Colon,
}

/// One line of the file: byte offsets of its content (without the line break).
struct Line<'a> {
    start: usize,
    text: &'a str,
}

/// What the label part of a line is.
struct Labelled<'a> {
    label: &'a str,
    /// Byte offset (in the file) where the label starts and where its marks end.
    label_span: (usize, usize),
    /// Time stamp, seconds, and its byte span.
    stamp: Option<(f64, (usize, usize))>,
    /// Byte offset where the speech starts.
    speech_start: usize,
}

/// Reads a plain-text transcript; the canonical text is the decoded file itself.
pub(crate) fn read(path: &Path, text: &str, format: Format) -> Result<Document> {
    let lines = split_lines(text);
    let furniture = furniture_lines(&lines);
    let convention = detect(&lines, &furniture).ok_or_else(|| {
        Error::input(
            path,
            None,
            "no speaker labels found: terreno expects `NAME: text` lines, `NAME<TAB>text` lines, \
             or a `NAME:` line before each turn; for text without speakers use a table with \
             `id` and `text` columns",
        )
    })?;
    let known = known_labels(&lines, &furniture, convention);
    let aliases = typo_aliases(&known);
    let mut warnings = Vec::new();

    let index = CharIndex::new(text);
    let ch = |b: usize| index.char_at(b);
    let mut turns: Vec<Turn> = Vec::new();
    let mut skipped: Vec<(usize, usize)> = Vec::new();
    // Byte span of the current turn's speech, extended by continuation lines.
    let mut open: Option<(usize, usize)> = None;
    let mut preamble: Vec<usize> = Vec::new();
    let close = |open: &mut Option<(usize, usize)>, turns: &mut Vec<Turn>| {
        if let (Some((s, e)), Some(turn)) = (open.take(), turns.last_mut()) {
            turn.char_start = ch(s);
            turn.char_end = ch(e);
        }
    };
    for (i, line) in lines.iter().enumerate() {
        if furniture[i] {
            if !line.text.trim().is_empty() {
                skipped.push((ch(line.start), ch(line.start + line.text.len())));
            }
            continue;
        }
        if line.text.trim().is_empty() {
            continue;
        }
        match parse_label(line, convention, &known) {
            Some(l) => {
                close(&mut open, &mut turns);
                // A labelled line with no speech yet: its turn stays open for the next lines.
                if turns.last().is_some_and(|t| t.char_end == usize::MAX) {
                    turns.pop();
                }
                skipped.push((ch(l.label_span.0), ch(l.label_span.1)));
                if let Some((_, (s, e))) = l.stamp {
                    skipped.push((ch(s), ch(e)));
                }
                let speaker = aliases.get(l.label).copied().unwrap_or(l.label);
                if speaker != l.label {
                    warnings.push(format!(
                        "line {}: speaker label {:?} taken as {:?} (a likely typo)",
                        i + 1,
                        l.label,
                        speaker
                    ));
                }
                turns.push(Turn {
                    speaker: speaker.to_string(),
                    role: Role::Participant,
                    char_start: usize::MAX,
                    char_end: usize::MAX,
                    time_start: l.stamp.map(|s| s.0),
                    time_end: None,
                    row: None,
                });
                let rest = &text[l.speech_start..line.start + line.text.len()];
                if !rest.trim().is_empty() {
                    let s = l.speech_start + (rest.len() - rest.trim_start().len());
                    open = Some((s, l.speech_start + rest.trim_end().len()));
                }
            }
            None if turns.is_empty() => preamble.push(i),
            None => {
                let s = line.start + (line.text.len() - line.text.trim_start().len());
                let e = line.start + line.text.trim_end().len();
                open = Some(match open {
                    Some((os, _)) => (os, e),
                    None => (s, e),
                });
            }
        }
    }
    close(&mut open, &mut turns);
    turns.retain(|t| t.char_end != usize::MAX);
    if turns.is_empty() {
        return Err(Error::input(path, None, "speaker labels found, but no speech after them"));
    }
    if !preamble.is_empty() {
        let first = &lines[preamble[0]];
        let last = &lines[*preamble.last().expect("not empty")];
        skipped.push((ch(first.start), ch(last.start + last.text.len())));
        warnings.push(format!(
            "line{} {} before the first speaker label skipped as a title: {:?}",
            if preamble.len() > 1 { "s" } else { "" },
            if preamble.len() > 1 {
                format!("{}-{}", preamble[0] + 1, preamble.last().expect("not empty") + 1)
            } else {
                format!("{}", preamble[0] + 1)
            },
            preamble.iter().map(|&i| lines[i].text.trim()).collect::<Vec<_>>().join(" / ")
        ));
    }
    skipped.sort_unstable();
    Ok(Document {
        id: String::new(),
        source: path.to_path_buf(),
        format,
        metadata: BTreeMap::new(),
        text: text.to_string(),
        turns,
        skipped,
        warnings,
        sha256: String::new(),
        bytes: 0,
    })
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        let content = piece.strip_suffix('\n').unwrap_or(piece);
        let content = content.strip_suffix('\r').unwrap_or(content);
        out.push(Line { start, text: content });
        start += piece.len();
    }
    out
}

/// Page marks (`2/5`) and runs of at least two consecutive line numbers.
fn furniture_lines(lines: &[Line]) -> Vec<bool> {
    let mut out: Vec<bool> = lines.iter().map(|l| PAGE_MARK.is_match(l.text)).collect();
    let number = |i: usize| -> Option<u64> {
        NUMBER.captures(lines[i].text).and_then(|c| c[1].parse().ok())
    };
    let mut i = 0;
    while i < lines.len() {
        if let Some(first) = number(i) {
            let mut j = i + 1;
            while j < lines.len() && number(j) == Some(first + (j - i) as u64) {
                j += 1;
            }
            if j - i >= 2 {
                out[i..j].iter_mut().for_each(|f| *f = true);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Strips a leading time stamp from `text` at byte offset `at`.
fn stamp(text: &str, at: usize) -> Option<(f64, (usize, usize), usize)> {
    let c = STAMP.captures(text)?;
    let whole = c.get(0).expect("group 0");
    let inner = c.get(1).expect("group 1").as_str().replace(',', ".");
    let mut seconds = 0.0;
    for part in inner.split(':') {
        seconds = seconds * 60.0 + part.parse::<f64>().ok()?;
    }
    let end = at + whole.as_str().trim_end().len();
    Some((seconds, (at, end), at + whole.len()))
}

/// The label of a line under `convention`, before considering which labels are known.
fn raw_label<'a>(line: &Line<'a>, convention: Convention) -> Option<Labelled<'a>> {
    let mut at = line.start;
    let mut rest = line.text;
    let mut time = None;
    if let Some((secs, span, next)) = stamp(rest, at) {
        time = Some((secs, span));
        rest = &line.text[next - line.start..];
        at = next;
    }
    let (label, marks_end) = match convention {
        Convention::Tab => {
            let c = TAB_LABEL.captures(rest)?;
            let m = c.get(1).expect("group 1");
            (m.as_str(), at + m.end())
        }
        Convention::Colon => {
            let c = COLON_LABEL.captures(rest)?;
            let m = c.get(1).expect("group 1");
            let colon = rest[m.end()..].find(':').expect("the regex matched a colon") + m.end();
            (m.as_str(), at + colon + 1)
        }
    };
    let mut speech_start = marks_end;
    let after = &line.text[marks_end - line.start..];
    let trimmed = after.trim_start();
    if time.is_none() {
        let offset = marks_end + (after.len() - trimmed.len());
        if let Some((secs, span, next)) = stamp(trimmed, offset) {
            time = Some((secs, span));
            speech_start = next;
        }
    }
    Some(Labelled { label, label_span: (at, marks_end), stamp: time, speech_start })
}

fn parse_label<'a>(
    line: &Line<'a>,
    convention: Convention,
    known: &BTreeMap<String, usize>,
) -> Option<Labelled<'a>> {
    raw_label(line, convention).filter(|l| known.contains_key(l.label))
}

/// Chooses the convention: tab when nearly every line is `LABEL<TAB>…`, else colon when labels
/// recur (or stand alone on their lines); `None` when the file has no speaker labels.
fn detect(lines: &[Line], furniture: &[bool]) -> Option<Convention> {
    let content: Vec<&Line> = lines
        .iter()
        .zip(furniture)
        .filter(|(l, f)| !**f && !l.text.trim().is_empty())
        .map(|(l, _)| l)
        .collect();
    let tab = content.iter().filter(|l| raw_label(l, Convention::Tab).is_some()).count();
    if !content.is_empty() && tab * 10 >= content.len() * 8 {
        return Some(Convention::Tab);
    }
    let known = known_labels(lines, furniture, Convention::Colon);
    (!known.is_empty()).then_some(Convention::Colon)
}

/// Labels with their line counts. Under the colon convention a label counts when it stands
/// alone on its line, starts at least two lines, or is one capitalised word (`Marco:`); a
/// single `Nota bene: …` is speech, not a speaker.
fn known_labels(
    lines: &[Line],
    furniture: &[bool],
    convention: Convention,
) -> BTreeMap<String, usize> {
    let mut count: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    for (line, _) in lines.iter().zip(furniture).filter(|(_, f)| !**f) {
        if let Some(l) = raw_label(line, convention) {
            let alone = line.text[l.speech_start - line.start..].trim().is_empty();
            let entry = count.entry(l.label.to_string()).or_default();
            entry.0 += 1;
            entry.1 |= alone;
        }
    }
    count
        .into_iter()
        .filter(|(label, (n, alone))| {
            convention == Convention::Tab
                || *alone
                || *n >= 2
                || (!label.contains(' ') && label.chars().next().is_some_and(char::is_uppercase))
        })
        .map(|(k, (n, _))| (k, n))
        .collect()
}

/// Labels that are one dropped, added or swapped letter away from a label used at least five
/// times as often (`Particpant` for `Participant`), mapped to it. Labels with digits are never
/// merged (`TOI001`, `TOI002` are different people), nor short ones.
/// Candidates are found through one-letter deletions (the labels a deletion, insertion or
/// swap away from a label are looked up, never compared with every other), so 40,000 distinct
/// labels take time in proportion to their number.
fn typo_aliases(known: &BTreeMap<String, usize>) -> BTreeMap<String, &str> {
    fn deletions(s: &str) -> impl Iterator<Item = String> + '_ {
        s.char_indices().map(|(i, c)| format!("{}{}", &s[..i], &s[i + c.len_utf8()..]))
    }
    fn swaps(s: &str) -> impl Iterator<Item = String> + '_ {
        let chars: Vec<char> = s.chars().collect();
        (1..chars.len()).map(move |i| {
            let mut c = chars.clone();
            c.swap(i - 1, i);
            c.into_iter().collect()
        })
    }
    // Labels used at least five times, by each of their one-letter deletions.
    let mut by_deletion: std::collections::HashMap<String, Vec<&str>> = Default::default();
    for (label, _) in known.iter().filter(|(_, &m)| m >= 5) {
        for d in deletions(label) {
            by_deletion.entry(d).or_default().push(label);
        }
    }
    let mut aliases = BTreeMap::new();
    for (rare, &n) in known {
        if rare.chars().count() < 6 || rare.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        let mut candidates: Vec<&str> = by_deletion.get(rare).cloned().unwrap_or_default();
        for v in deletions(rare).chain(swaps(rare)) {
            if let Some((other, _)) = known.get_key_value(&v) {
                candidates.push(other);
            }
        }
        candidates.sort();
        candidates.dedup();
        let target = candidates
            .into_iter()
            .filter(|other| {
                *other != rare && known[*other] >= 5 * n && one_indel_or_swap(rare, other)
            })
            .max_by_key(|other| known[*other]);
        if let Some(other) = target {
            aliases.insert(rare.clone(), other);
        }
    }
    aliases
}

fn one_indel_or_swap(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    match long.len() - short.len() {
        1 => (0..long.len()).any(|skip| {
            long.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, c)| c).eq(short.iter())
        }),
        0 => {
            let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            diff.len() == 2
                && diff[1] == diff[0] + 1
                && a[diff[0]] == b[diff[1]]
                && a[diff[1]] == b[diff[0]]
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech(doc: &Document) -> Vec<(String, String)> {
        let idx = CharIndex::new(&doc.text);
        doc.turns
            .iter()
            .map(|t| {
                let s = &doc.text[idx.byte_at(t.char_start)..idx.byte_at(t.char_end)];
                (t.speaker.clone(), s.split_whitespace().collect::<Vec<_>>().join(" "))
            })
            .collect()
    }

    #[test]
    fn colon_lines_with_continuations() {
        let text = "Intervistatrice: come sta?\nMarco: bene, grazie.\nsono contento\n\nIntervistatrice: bene\n";
        let doc = read(Path::new("t.txt"), text, Format::Text).unwrap();
        assert_eq!(
            speech(&doc),
            [
                ("Intervistatrice".into(), "come sta?".into()),
                ("Marco".into(), "bene, grazie. sono contento".into()),
                ("Intervistatrice".into(), "bene".into())
            ]
        );
    }

    #[test]
    fn a_single_colon_in_speech_is_not_a_speaker() {
        let text = "A: dico una cosa\nNota bene: questa è speech\nB: sì\nA: ok\nB: no\n";
        let doc = read(Path::new("t.txt"), text, Format::Text).unwrap();
        assert_eq!(doc.turns.len(), 4);
        assert_eq!(speech(&doc)[0].1, "dico una cosa Nota bene: questa è speech");
    }

    #[test]
    fn tab_lines_are_units() {
        let text = "TOI001\tdimmi tutto\nTOR001\tokay\nTOR001\tallora\n";
        let doc = read(Path::new("t.txt"), text, Format::Text).unwrap();
        assert_eq!(doc.turns.len(), 3);
        assert_eq!(speech(&doc)[2], ("TOR001".into(), "allora".into()));
    }

    #[test]
    fn block_labels_page_marks_and_typos() {
        let mut text = String::from("1/2\nInterview\n");
        for _ in 0..5 {
            text.push_str("Dan:\t\n\tHow do you\tuse it?\nParticipant:\t\n\tDaily.\n");
        }
        text.push_str("Particpant:\t\n\tAnd\tmore\n1\n2\n3\n2/2\nwords after the page.\n");
        let doc = read(Path::new("t.txt"), &text, Format::Text).unwrap();
        let s = speech(&doc);
        assert_eq!(s.len(), 11);
        assert_eq!(
            s[10],
            ("Participant".into(), "And more 1 2 3 2/2 words after the page.".into())
        );
        assert!(doc.warnings.iter().any(|w| w.contains("Particpant")), "{:?}", doc.warnings);
        assert!(doc.warnings.iter().any(|w| w.contains("Interview")), "{:?}", doc.warnings);
        // The page mark and the numbers are skipped, not speech.
        let idx = CharIndex::new(&doc.text);
        let mark = doc.text.find("2/2").unwrap();
        assert!(doc.skipped.iter().any(|&(s, e)| s <= idx.char_at(mark) && idx.char_at(mark) < e));
    }

    #[test]
    fn time_stamps_give_start_times() {
        let text = "[00:01:05] A: ciao\nB: [00:01:07.5] ciao a te\n";
        let doc = read(Path::new("t.txt"), text, Format::Text).unwrap();
        assert_eq!(doc.turns[0].time_start, Some(65.0));
        assert_eq!(doc.turns[1].time_start, Some(67.5));
        assert_eq!(speech(&doc)[1].1, "ciao a te");
    }

    #[test]
    fn no_labels_is_an_error_naming_the_file() {
        let err = read(Path::new("nolabels.txt"), "just some text\nand more\n", Format::Text)
            .unwrap_err();
        assert!(err.to_string().starts_with("nolabels.txt: no speaker labels"), "{err}");
    }

    #[test]
    fn typo_distance() {
        assert!(one_indel_or_swap("Particpant", "Participant"));
        assert!(one_indel_or_swap("Partiicpant", "Participant"));
        assert!(!one_indel_or_swap("Marco", "Mario"));
    }
}
