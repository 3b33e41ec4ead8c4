//! WebVTT and SRT, what automatic transcription produces. The speaker comes from a `<v Name>`
//! voice tag or a `Name:` prefix that recurs; a cue without one continues the previous speaker.
//! The canonical text is one `Speaker: text` line per cue.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::{CanonicalBuilder, Document, Format};
use crate::error::{Error, Result};

static TIMING: LazyLock<Regex> = LazyLock::new(|| {
    let t = r"((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})";
    Regex::new(&format!(r"^\s*{t}\s*-->\s*{t}(?:\s.*)?$")).expect("valid regex")
});
static VOICE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<v(?:\.[^ >]*)?\s+([^>]+)>").expect("valid regex"));
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^>]*>").expect("valid regex"));
static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([\p{L}\p{N}][\p{L}\p{N}_.\-' ]{0,39}?)\s*:\s+(.*)$").expect("valid regex")
});

struct Cue {
    start: f64,
    end: f64,
    voice: Option<String>,
    text: String,
}

/// Reads a `.vtt` (`vtt == true`) or `.srt` file.
pub(crate) fn read(path: &Path, text: &str, vtt: bool) -> Result<Document> {
    let cues = parse(path, text, vtt)?;
    if cues.is_empty() {
        return Err(Error::input(
            path,
            None,
            "no cues found (no `00:00:01.000 --> 00:00:02.000` lines)",
        ));
    }
    // `Name:` prefixes count as speakers when the same name starts at least two cues.
    let mut prefix_count = std::collections::BTreeMap::<String, usize>::new();
    for cue in cues.iter().filter(|c| c.voice.is_none()) {
        if let Some(c) = PREFIX.captures(&cue.text) {
            *prefix_count.entry(c[1].trim().to_string()).or_default() += 1;
        }
    }
    let mut builder = CanonicalBuilder::new();
    let mut speaker: Option<String> = None;
    let mut unnamed = 0;
    for cue in &cues {
        let mut speech = cue.text.as_str();
        if let Some(v) = &cue.voice {
            speaker = Some(v.clone());
        } else if let Some(c) = PREFIX.captures(&cue.text) {
            let name = c[1].trim();
            if prefix_count.get(name).is_some_and(|&n| n >= 2) {
                speaker = Some(name.to_string());
                speech = c.get(2).expect("group 2").as_str();
            }
        }
        if speech.trim().is_empty() {
            continue;
        }
        let name = speaker.clone().unwrap_or_else(|| {
            unnamed += 1;
            "Speaker".to_string()
        });
        builder.turn(&name, speech, (Some(cue.start), Some(cue.end)), None);
    }
    let mut doc = builder.finish(path, if vtt { Format::Vtt } else { Format::Srt });
    if unnamed == cues.len() {
        doc.warnings
            .push("no speaker names in the cues: every cue is attributed to `Speaker`".into());
    } else if unnamed > 0 {
        doc.warnings
            .push(format!("{unnamed} cues before the first speaker name attributed to `Speaker`"));
    }
    if doc.turns.is_empty() {
        return Err(Error::input(path, None, "the cues hold no text"));
    }
    Ok(doc)
}

fn seconds(path: &Path, line: usize, s: &str) -> Result<f64> {
    let s = s.replace(',', ".");
    let mut total = 0.0;
    let parts: Vec<&str> = s.split(':').collect();
    for (i, part) in parts.iter().enumerate() {
        let v: f64 = part.parse().map_err(|_| bad_time(path, line))?;
        let last = i + 1 == parts.len();
        if (!last && v.fract() != 0.0) || (i > 0 && v >= 60.0) {
            return Err(bad_time(path, line));
        }
        total = total * 60.0 + v;
    }
    // Parts like `NaN`, `inf` or `-5` parse as numbers; no recording lasts 1,000 hours.
    if !(0.0..MAX_SECONDS).contains(&total) {
        return Err(Error::input(
            path,
            Some(line),
            format!("cue time {s:?} is not a time in a recording (0 to 1,000 hours)"),
        ));
    }
    Ok(total)
}

/// The latest time a cue may have: 1,000 hours.
const MAX_SECONDS: f64 = 1000.0 * 3600.0;

fn bad_time(path: &Path, line: usize) -> Error {
    Error::input(path, Some(line), "malformed cue timing; expected `hh:mm:ss.mmm --> hh:mm:ss.mmm`")
}

fn parse(path: &Path, text: &str, vtt: bool) -> Result<Vec<Cue>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    if vtt {
        if !lines.first().is_some_and(|l| l.trim_start_matches('\u{feff}').starts_with("WEBVTT")) {
            return Err(Error::input(path, Some(1), "a WebVTT file must start with `WEBVTT`"));
        }
        // Skip the header block.
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
    }
    let mut cues = Vec::new();
    while i < lines.len() {
        // One block: lines up to a blank line.
        while i < lines.len() && lines[i].trim().is_empty() {
            i += 1;
        }
        let start = i;
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
        let block = &lines[start..i];
        if block.is_empty() {
            break;
        }
        if vtt && ["NOTE", "STYLE", "REGION"].iter().any(|k| block[0].starts_with(k)) {
            continue;
        }
        let Some(t) = block.iter().position(|l| l.contains("-->")) else {
            return Err(Error::input(
                path,
                Some(start + 1),
                "a cue without a timing line (`00:00:01.000 --> 00:00:02.000`)",
            ));
        };
        if t > 1 {
            return Err(bad_time(path, start + 1));
        }
        let line_no = start + t + 1;
        let caps = TIMING.captures(block[t]).ok_or_else(|| bad_time(path, line_no))?;
        let (from, to) = (seconds(path, line_no, &caps[1])?, seconds(path, line_no, &caps[2])?);
        if to < from {
            return Err(Error::input(path, Some(line_no), "the cue ends before it starts"));
        }
        let raw = block[t + 1..].join(" ");
        let voice = VOICE.captures(&raw).map(|c| c[1].trim().to_string());
        let text = TAG.replace_all(&raw, "");
        let text = decode_entities(&text);
        cues.push(Cue { start: from, end: to, voice, text });
    }
    Ok(cues)
}

fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", " ").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtt_voices() {
        let vtt = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.500\n<v Moderatrice>Come state?</v>\n\n00:00:04.000 --> 00:00:06.000\n<v.loud Anna>Bene, <i>grazie</i>.\n\n00:00:06.000 --> 00:00:07.000\ne voi?\n";
        let doc = read(Path::new("a.vtt"), vtt, true).unwrap();
        assert_eq!(doc.text, "Moderatrice: Come state?\nAnna: Bene, grazie.\nAnna: e voi?");
        assert_eq!(doc.turns[1].time_start, Some(4.0));
        assert_eq!(doc.turns[2].speaker, "Anna");
    }

    #[test]
    fn srt_prefixes() {
        let srt = "1\n00:00:01,000 --> 00:00:02,000\nLuca: ciao\n\n2\n00:00:02,500 --> 00:00:03,000\nSara: ciao Luca\n\n3\n00:01:02,500 --> 00:01:03,000\nLuca: come va\n\n4\n00:01:03,500 --> 00:01:04,000\nSara: bene\n";
        let doc = read(Path::new("a.srt"), srt, false).unwrap();
        assert_eq!(doc.turns.len(), 4);
        assert_eq!(doc.turns[2].time_start, Some(62.5));
        assert_eq!(doc.turns[3].speaker, "Sara");
    }

    #[test]
    fn malformed_timing_names_file_and_line() {
        let vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA: x\n\n00:00:xx.000 --> 00:00:03.000\nA: y\n";
        let err = read(Path::new("bad.vtt"), vtt, true).unwrap_err();
        assert!(err.to_string().starts_with("bad.vtt line 6: malformed cue timing"), "{err}");
    }
}
