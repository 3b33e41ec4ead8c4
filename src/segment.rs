//! Segment: turns become passages.
//!
//! A passage is one speaker's contiguous talk (a run of turns by the same speaker), cut at
//! sentence boundaries into windows of at most `max_words` words. A transcription unit's end
//! counts as a sentence boundary. A window too short to stand alone is joined to its neighbour
//! in the same run. Every passage keeps its provenance: the code-point span in the canonical
//! text runs from its first word to the end of its last, and its `text` is that span with
//! what is not speech (labels, stamps, page marks) left out and white space made single spaces.
//! Turns of interviewers and facilitators are not passages by default, but each passage records
//! the question that preceded it in `prompt`.

use std::collections::BTreeMap;

use crate::ingest::{CharIndex, Document, Format, Role, Row, Word};
use crate::text::Analyzer;
use serde::{Deserialize, Serialize};

/// One passage, ready for embedding and clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// `<document_id>:<n>`, n counting from 1 in document order.
    pub id: String,
    /// The document's id.
    pub document_id: String,
    /// The speaker label.
    pub speaker: String,
    /// The speaker's role.
    pub role: Role,
    /// Index in [`Document::turns`] of the first turn the passage covers.
    pub turn: usize,
    /// Code-point span in the canonical text, end exclusive.
    pub char_start: usize,
    /// End of the span.
    pub char_end: usize,
    /// Seconds, where the source has times.
    pub time_start: Option<f64>,
    /// Seconds, where the source has times.
    pub time_end: Option<f64>,
    /// What the interviewer or facilitator said last before this passage.
    pub prompt: Option<String>,
    /// The passage's text, white space made single spaces.
    pub text: String,
    /// Number of words in `text`.
    pub words: usize,
    /// The content tokens for analysis (stopwords out), space-separated.
    pub analysis: String,
    /// For table inputs: the row's id and other columns.
    pub row: Option<Row>,
}

/// What segmenting one document counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SegmentStats {
    /// Speaker runs (contiguous talk of one speaker).
    pub runs: usize,
    /// Back-channel passages left out.
    pub backchannels_dropped: usize,
    /// Words of the passages.
    pub words: usize,
}

/// Cuts a document into passages.
pub fn segment(
    doc: &Document,
    config: &SegmentConfig,
    analyzer: &Analyzer,
) -> (Vec<Passage>, SegmentStats) {
    let index = CharIndex::new(&doc.text);
    let mut stats = SegmentStats::default();
    let mut passages: Vec<Passage> = Vec::new();
    let mut prompt: Option<String> = None;
    let is_table = doc.format == Format::Table;
    let mut i = 0;
    while i < doc.turns.len() {
        // A run: consecutive turns of one speaker (a table row is a run of its own).
        let mut j = i + 1;
        while !is_table
            && j < doc.turns.len()
            && doc.turns[j].speaker == doc.turns[i].speaker
            && doc.turns[j].role == doc.turns[i].role
        {
            j += 1;
        }
        stats.runs += 1;
        let run = &doc.turns[i..j];
        let role = run[0].role;
        let mut words: Vec<(usize, Word)> = Vec::new();
        for (k, turn) in run.iter().enumerate() {
            let before = words.len();
            doc.for_each_word(&index, turn.char_start, turn.char_end, |w| {
                words.push((i + k, Word { boundary: ends_sentence(w.text), ..w }))
            });
            if words.len() > before {
                if let Some(last) = words.last_mut() {
                    last.1.boundary = true;
                }
            }
        }
        if words.is_empty() {
            i = j;
            continue;
        }
        if role.asks() && !config.roles.contains(&role) {
            let text = join(words.iter().map(|w| &w.1));
            if text.ends_with('?') || analyzer.words(&text).len() >= config.min_words {
                prompt = Some(last_chars(&text, 600));
            }
            i = j;
            continue;
        }
        if !config.roles.contains(&role) {
            i = j;
            continue;
        }
        let windows = if is_table {
            std::iter::once(0..words.len()).collect()
        } else {
            windows(&words, config.max_words)
        };
        let mut pieces: Vec<(std::ops::Range<usize>, usize)> = windows
            .into_iter()
            .map(|r| {
                let text = join(words[r.clone()].iter().map(|w| &w.1));
                (r, substance(analyzer, &text, config.min_words))
            })
            .collect();
        if config.backchannels != Backchannels::Keep && pieces.len() > 1 {
            pieces = merge_short(pieces, config.min_words);
        }
        for (range, content) in pieces {
            if content < config.min_words && config.backchannels == Backchannels::Drop && !is_table
            {
                stats.backchannels_dropped += 1;
                continue;
            }
            let ws = &words[range];
            let (first_turn, first) = ws[0];
            let (last_turn, last) = ws[ws.len() - 1];
            let text = join(ws.iter().map(|w| &w.1));
            let tokens = analyzer.tokens(&text);
            stats.words += ws.len();
            passages.push(Passage {
                id: format!("{}:{}", doc.id, passages.len() + 1),
                document_id: doc.id.clone(),
                speaker: run[0].speaker.clone(),
                role,
                turn: first_turn,
                char_start: first.start,
                char_end: last.end,
                time_start: doc.turns[first_turn].time_start,
                time_end: doc.turns[last_turn].time_end,
                prompt: prompt.clone(),
                words: ws.len(),
                analysis: tokens.iter().map(|t| t.surface.as_str()).collect::<Vec<_>>().join(" "),
                text,
                row: doc.turns[first_turn].row.clone(),
            });
        }
        i = j;
    }
    (passages, stats)
}

fn ends_sentence(word: &str) -> bool {
    word.trim_end_matches(['"', '»', '”', ')', '\'']).ends_with(['.', '?', '!', '…'])
}

fn join<'a>(words: impl Iterator<Item = &'a Word<'a>>) -> String {
    let mut out = String::new();
    for w in words {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w.text);
    }
    out
}

/// Greedy windows of whole sentences, at most `max` words each; a sentence longer than `max`
/// is cut into equal parts.
fn windows(words: &[(usize, Word)], max: usize) -> Vec<std::ops::Range<usize>> {
    let mut sentences = Vec::new();
    let mut start = 0;
    for (k, (_, w)) in words.iter().enumerate() {
        if w.boundary || k + 1 == words.len() {
            let len = k + 1 - start;
            let parts = len.div_ceil(max);
            for p in 0..parts {
                sentences.push(start + p * len / parts..start + (p + 1) * len / parts);
            }
            start = k + 1;
        }
    }
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for s in sentences {
        match out.last_mut() {
            Some(cur) if s.end - cur.start <= max => cur.end = s.end,
            _ => out.push(s),
        }
    }
    out
}

/// How much a piece of talk says: its analysis words, or 0 when none is a content word
/// ("sì sì certo"). Below `min` it is a back-channel.
fn substance(analyzer: &Analyzer, text: &str, min: usize) -> usize {
    let words = analyzer.words(text);
    if words.len() < min || !words.iter().any(|w| analyzer.is_content(w)) {
        return 0;
    }
    words.len()
}

/// Joins windows with fewer than `min` analysis words to a neighbour (the previous one, or the
/// next for the first).
fn merge_short(
    pieces: Vec<(std::ops::Range<usize>, usize)>,
    min: usize,
) -> Vec<(std::ops::Range<usize>, usize)> {
    let mut out: Vec<(std::ops::Range<usize>, usize)> = Vec::new();
    let mut carry: Option<(std::ops::Range<usize>, usize)> = None;
    for (r, n) in pieces {
        let (r, n) = match carry.take() {
            Some((cr, cn)) => (cr.start..r.end, cn + n),
            None => (r, n),
        };
        if n < min {
            match out.last_mut() {
                Some(prev) => {
                    prev.0.end = r.end;
                    prev.1 += n;
                }
                None => carry = Some((r, n)),
            }
        } else {
            out.push((r, n));
        }
    }
    if let Some(c) = carry {
        out.push(c);
    }
    out
}

/// The last `n` characters of `s`, cut at a word, with a leading ellipsis when cut.
fn last_chars(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_string();
    }
    let tail: String = s.chars().skip(count - n).collect();
    let tail = tail.split_once(' ').map(|(_, t)| t).unwrap_or(&tail);
    format!("… {tail}")
}

/// Speakers of the passages, per document (for the summary).
pub fn speakers(passages: &[Passage]) -> BTreeMap<&str, std::collections::BTreeSet<&str>> {
    let mut out: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for p in passages {
        out.entry(p.document_id.as_str()).or_default().insert(p.speaker.as_str());
    }
    out
}

/// What happens to back-channels ("sì", "mhmh", "okay"), see [`SegmentConfig::min_words`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backchannels {
    /// Left out of the passages (counted in the summary).
    Drop,
    /// Joined to the speaker's neighbouring passage in the same turn; kept alone where the
    /// turn has nothing else.
    Merge,
    /// Kept as passages of their own.
    Keep,
}

/// How turns become passages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentConfig {
    /// Most words in one passage; longer talk is cut at sentence boundaries. The default keeps
    /// passages well inside the model's 512-token window.
    pub max_words: usize,
    /// Passages with fewer analysis words than this (fillers aside), or with no content word
    /// at all ("sì sì certo"), are back-channels.
    pub min_words: usize,
    /// What to do with back-channels.
    pub backchannels: Backchannels,
    /// Roles whose talk becomes passages (by default participants only).
    pub roles: Vec<Role>,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            max_words: 150,
            min_words: 3,
            backchannels: Backchannels::Drop,
            roles: vec![Role::Participant],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::IngestConfig;
    use std::path::Path;

    fn doc(text: &str) -> Document {
        let mut d = crate::ingest::read_text_for_tests(Path::new("d.txt"), text);
        let cfg = IngestConfig::default();
        for t in &mut d.turns {
            t.role = cfg.role_of(&t.speaker);
        }
        d.id = "d".into();
        d
    }

    #[test]
    fn runs_become_passages_with_prompts() {
        let d = doc("TOR001\tche lavoro fai?\nTOI001\taggiusto macchine da caffè\nTOI001\tda dieci anni ormai\nTOR001\tmhmh\nTOI001\tsì\n");
        let (p, stats) = segment(&d, &SegmentConfig::default(), &Analyzer::new());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].text, "aggiusto macchine da caffè da dieci anni ormai");
        assert_eq!(p[0].prompt.as_deref(), Some("che lavoro fai?"));
        assert_eq!(p[0].turn, 1);
        assert_eq!(stats.backchannels_dropped, 1);
        let idx = CharIndex::new(&d.text);
        let span = &d.text[idx.byte_at(p[0].char_start)..idx.byte_at(p[0].char_end)];
        assert_eq!(span, "aggiusto macchine da caffè\nTOI001\tda dieci anni ormai");
    }

    #[test]
    fn long_talk_is_cut_at_sentences() {
        let sentence = "il lavoro in fabbrica era duro ma pagava bene. ";
        let d = doc(&format!("A: {}\n", sentence.repeat(10)));
        let cfg = SegmentConfig { max_words: 30, ..SegmentConfig::default() };
        let (p, _) = segment(&d, &cfg, &Analyzer::new());
        assert_eq!(p.len(), 4);
        assert!(p.iter().all(|p| p.words <= 30 && p.text.ends_with('.')));
        assert_eq!(p.iter().map(|p| p.words).sum::<usize>(), 90);
    }

    #[test]
    fn backchannels_kept_on_request() {
        let d = doc("TOR001\tdomanda lunga sul lavoro?\nTOI001\tmhmh\n");
        let cfg = SegmentConfig { backchannels: Backchannels::Keep, ..SegmentConfig::default() };
        let (p, _) = segment(&d, &cfg, &Analyzer::new());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].text, "mhmh");
    }
}
