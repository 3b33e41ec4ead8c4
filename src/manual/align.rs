//! Placing a quoted segment back onto its transcript.
//!
//! Quotes exported from QDA tools (or copied from PDF exports) differ from the transcript in
//! whitespace, line breaks, punctuation, quotes and apostrophes, and sometimes carry page marks
//! or line numbers. Both texts are reduced to their lowercase letters and digits, with a map back
//! to code points; an exact match of the reduced quote is taken first. Otherwise the 8-character
//! pieces of the quote (every fourth position) are looked up in the transcript, and the longest
//! chain of pieces found in the same order in both texts gives the place, when it holds enough of
//! the quote.

use std::collections::HashMap;

/// Letters and digits of a text, lowercased, each with its code-point offset in the original.
#[derive(Debug, Clone, Default)]
pub struct Reduced {
    chars: Vec<char>,
    pos: Vec<usize>,
}

impl Reduced {
    /// Reduces `text`.
    pub fn new(text: &str) -> Reduced {
        let mut r = Reduced::default();
        for (i, c) in text.chars().enumerate() {
            if c.is_alphanumeric() {
                for l in c.to_lowercase() {
                    r.chars.push(l);
                    r.pos.push(i);
                }
            }
        }
        r
    }

    /// Reduced length.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Code-point span of the reduced range `[a, b)`.
    fn span(&self, a: usize, b: usize) -> (usize, usize) {
        (self.pos[a], self.pos[b - 1] + 1)
    }
}

const Q: usize = 8;
const STRIDE: usize = 4;

/// A transcript prepared for many quotes.
#[derive(Debug)]
pub struct Target {
    text: Reduced,
    grams: HashMap<u64, Vec<u32>>,
}

fn hash(chars: &[char]) -> u64 {
    chars.iter().fold(0xcbf29ce484222325u64, |h, &c| (h ^ c as u64).wrapping_mul(0x100000001b3))
}

/// Where a quote was placed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Code-point start in the transcript.
    pub start: usize,
    /// Code-point end (exclusive).
    pub end: usize,
    /// Share of the quote found at that place (1 for an exact match).
    pub score: f64,
    /// Whether the reduced quote was found as it is.
    pub exact: bool,
}

impl Target {
    /// Prepares a transcript.
    pub fn new(text: &str) -> Target {
        let text = Reduced::new(text);
        let mut grams: HashMap<u64, Vec<u32>> = HashMap::new();
        for i in 0..text.len().saturating_sub(Q - 1) {
            grams.entry(hash(&text.chars[i..i + Q])).or_default().push(i as u32);
        }
        Target { text, grams }
    }

    /// Places `quote`; a miss when less than `min_score` of it is found in one place, or when
    /// it is found as it is in more than one place and `near` (a code-point position the quote
    /// is known to be close to) does not say which.
    pub fn place(
        &self,
        quote: &str,
        min_score: f64,
        near: Option<usize>,
    ) -> Result<Placement, Miss> {
        let q = Reduced::new(quote);
        if q.is_empty() || self.text.is_empty() {
            return Err(Miss::NotFound);
        }
        let found = find_all(&self.text.chars, &q.chars);
        if !found.is_empty() {
            let spans: Vec<(usize, usize)> =
                found.iter().map(|&at| self.text.span(at, at + q.len())).collect();
            let (start, end) = match (spans.len(), near) {
                (1, _) => spans[0],
                (n, None) => return Err(Miss::Ambiguous(n)),
                (n, Some(h)) => {
                    // The occurrence nearest the hint, when no other is as near.
                    let mut by: Vec<(usize, (usize, usize))> =
                        spans.iter().map(|&s| (s.0.abs_diff(h), s)).collect();
                    by.sort();
                    if by[0].0 == by[1].0 {
                        return Err(Miss::Ambiguous(n));
                    }
                    by[0].1
                }
            };
            return Ok(Placement { start, end, score: 1.0, exact: true });
        }
        self.place_fuzzy(&q, min_score).ok_or(Miss::NotFound)
    }

    /// The densest chain of the quote's pieces, when it holds `min_score` of them.
    fn place_fuzzy(&self, q: &Reduced, min_score: f64) -> Option<Placement> {
        if q.len() < Q * 2 {
            return None;
        }
        // Pieces found: (unused, offset in the quote, position in the transcript).
        let mut votes: Vec<(i64, usize, usize)> = Vec::new();
        let mut pieces = 0usize;
        let mut off = 0;
        while off + Q <= q.len() {
            pieces += 1;
            if let Some(hits) = self.grams.get(&hash(&q.chars[off..off + Q])) {
                // A piece found everywhere ("andthen") says nothing about where the quote is.
                if hits.len() <= 16 {
                    for &p in hits {
                        votes.push((p as i64 - off as i64, off, p as usize));
                    }
                }
            }
            off += STRIDE;
        }
        if votes.is_empty() || votes.len() > 20_000 {
            return None;
        }
        // The longest chain of pieces in order in both texts, where each step may skip text
        // in the transcript (a page mark, a run of line numbers, a speaker label) or in the
        // quote, within limits: the densest consistent placement.
        votes.sort_by_key(|v| (v.1, v.2));
        let max_gap = q.len().max(400) as i64;
        let mut len = vec![1usize; votes.len()];
        let mut prev = vec![usize::MAX; votes.len()];
        for i in 0..votes.len() {
            let (oi, pi) = (votes[i].1 as i64, votes[i].2 as i64);
            for j in (0..i).rev() {
                let (oj, pj) = (votes[j].1 as i64, votes[j].2 as i64);
                let (d_off, d_pos) = (oi - oj, pi - pj);
                if d_off <= 0 || d_pos <= 0 {
                    continue;
                }
                if d_off - d_pos > max_gap || d_pos - d_off > max_gap {
                    continue;
                }
                if len[j] + 1 > len[i] {
                    len[i] = len[j] + 1;
                    prev[i] = j;
                }
            }
        }
        let (end_ix, &best_n) =
            len.iter().enumerate().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?;
        let score = best_n as f64 / pieces as f64;
        if score < min_score {
            return None;
        }
        let mut first_ix = end_ix;
        while prev[first_ix] != usize::MAX {
            first_ix = prev[first_ix];
        }
        let (first, last) = (votes[first_ix], votes[end_ix]);
        let a = first.2.saturating_sub(first.1);
        let b = (last.2 + (q.len() - last.1)).min(self.text.len());
        if b <= a {
            return None;
        }
        let (start, end) = self.text.span(a, b);
        Some(Placement { start, end, score, exact: false })
    }
}

/// Why a quote was not placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// Not enough of it is in the transcript.
    NotFound,
    /// It is in the transcript as it is this many times, and nothing says which is meant.
    Ambiguous(usize),
}

/// Every position of `needle` in `hay` (overlapping ones included).
fn find_all(hay: &[char], needle: &[char]) -> Vec<usize> {
    if needle.len() > hay.len() {
        return Vec::new();
    }
    let first = needle[0];
    (0..=hay.len() - needle.len())
        .filter(|&i| hay[i] == first && hay[i..i + needle.len()] == *needle)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "Dan: So how do you pick features?\nParticipant: We typically use them to \
                     identify trends. Um, and then, you know, we look at\n3/12\nthe partial \
                     dependence plots for the most important features first.";

    #[test]
    fn exact_after_whitespace_and_punctuation() {
        let t = Target::new(T);
        let p = t.place("we  typically use them\nto identify trends", 0.5, None).unwrap();
        let chars: Vec<char> = T.chars().collect();
        let got: String = chars[p.start..p.end].iter().collect();
        assert_eq!(got, "We typically use them to identify trends");
        assert!(p.exact && p.score == 1.0);
    }

    #[test]
    fn fuzzy_across_a_page_mark_and_a_changed_word() {
        let t = Target::new(T);
        let quote = "you know, we look at the partial dependence plot for the most important \
                     features first";
        let p = t.place(quote, 0.5, None).unwrap();
        let chars: Vec<char> = T.chars().collect();
        let got: String = chars[p.start..p.end].iter().collect();
        assert!(got.starts_with("you know, we look at\n3/12\nthe partial"), "{got}");
        assert!(got.ends_with("features first"), "{got}");
        assert!(p.score < 1.0 && p.score > 0.6, "{}", p.score);
    }

    #[test]
    fn text_that_is_not_there_is_not_placed() {
        let t = Target::new(T);
        assert_eq!(
            t.place("Nothing of this sentence appears in the transcript at all.", 0.5, None),
            Err(Miss::NotFound)
        );
        assert_eq!(t.place("", 0.5, None), Err(Miss::NotFound));
    }

    #[test]
    fn a_repeated_quote_is_ambiguous_unless_a_position_tells() {
        let text = "A: okay. B: sì. A: okay, e poi? B: poi basta. A: okay.";
        let t = Target::new(text);
        assert_eq!(t.place("okay", 0.5, None), Err(Miss::Ambiguous(3)));
        let p = t.place("Okay,", 0.5, Some(20)).unwrap();
        assert_eq!((p.start, p.end), (19, 23));
        assert_eq!(t.place("okay", 0.5, Some(50)).unwrap().start, 49);
        // Equally near two of them: still ambiguous.
        assert_eq!(t.place("okay", 0.5, Some(11)), Err(Miss::Ambiguous(3)));
        assert!(t.place("poi basta", 0.5, None).is_ok());
    }
}
