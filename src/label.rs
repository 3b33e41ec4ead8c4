//! Label: each cluster becomes a candidate open code an analyst can judge in seconds.
//!
//! - key terms: class-based TF-IDF over the Italian analysis tokens (stems; n-grams up to 3
//!   of consecutive content words), diversified so no two terms are variants of one word, shown
//!   in their most frequent surface form; the label is the first two or three;
//! - in-vivo phrases: phrases of two to five words the participants themselves used, said by
//!   at least two different speakers in the cluster, ranked by how distinctive they are of it;
//! - exemplars: the passages most similar to the cluster's centroid, from different speakers
//!   and documents where possible;
//! - size, cohesion, spread over documents and speakers, and a flag when one speaker says most
//!   of it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::cluster::Clustering;
use crate::codebook::matching::{CodeMatch, Prior, Proposal};
use crate::segment::Passage;
use crate::text::{Analyzer, SurfaceForms};
use crate::xml::markdown as md;

/// An exemplar quote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exemplar {
    /// The passage.
    pub passage_id: String,
    /// Its document.
    pub document_id: String,
    /// Its speaker.
    pub speaker: String,
    /// Code-point span in `sources/<document>.txt`.
    pub char_start: usize,
    /// End of the span.
    pub char_end: usize,
    /// Seconds, where known.
    pub time_start: Option<f64>,
    /// What was asked before it.
    pub prompt: Option<String>,
    /// The quote.
    pub text: String,
    /// Cosine similarity to the centroid.
    pub similarity: f32,
}

/// A candidate open code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Candidate {
    /// `C01`, `C02`, … in order of size.
    pub id: String,
    /// The cluster it describes.
    pub cluster: i32,
    /// A short label from the key terms.
    pub label: String,
    /// 5-10 key terms, most distinctive first.
    pub key_terms: Vec<String>,
    /// Phrases in the participants' own words.
    pub in_vivo: Vec<String>,
    /// The most central passages.
    pub exemplars: Vec<Exemplar>,
    /// Passages in the cluster.
    pub size: usize,
    /// The members' mean strength: their similarity to the code's centre, as clustered
    /// (centred vectors: about 0 is unrelated).
    pub cohesion: f32,
    /// Documents it spans.
    pub documents: usize,
    /// Speakers it spans.
    pub speakers: usize,
    /// Share of the passages said by its most frequent speaker.
    pub top_speaker_share: f32,
    /// Set when one speaker says most of it (more than 60%) in a corpus with several.
    pub single_speaker: bool,
    /// Every member passage.
    pub passage_ids: Vec<String>,
    /// What terreno proposes: a new code, an existing one, or what an earlier review decided.
    #[serde(default)]
    pub proposal: Proposal,
    /// The code it fits or was made into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The best matching codes of the codebook, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<CodeMatch>,
    /// The earlier review decision it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<Prior>,
    /// Its category (index into the run's categories; -1: none).
    #[serde(default = "no_category")]
    pub category: i32,
    /// Phrases its passages use, which its name is chosen from (not saved).
    #[serde(skip)]
    pub phrases: Vec<String>,
    /// Phrases said once in it with one of its key words, which its name is chosen from too
    /// (not saved).
    #[serde(skip)]
    pub once: Vec<String>,
}

impl Candidate {
    /// What the description says of its speakers, when one says most of it: "one speaker
    /// only" or "mostly one speaker".
    pub fn speaker_note(&self) -> Option<&'static str> {
        match (self.single_speaker, self.speakers) {
            (false, _) => None,
            (true, 1) => Some("one speaker only"),
            (true, _) => Some("mostly one speaker"),
        }
    }
}

fn no_category() -> i32 {
    -1
}

/// A category: candidate codes grouped for axial coding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Category {
    /// `K01`, `K02`, … by decreasing size.
    pub id: String,
    /// Its index (the `category` column of `clusters.parquet`).
    pub index: i32,
    /// Its name: a phrase.
    pub name: String,
    /// Passages.
    pub size: usize,
    /// Its codes' ids, largest first.
    pub codes: Vec<String>,
}

/// Exemplars shorter than this come only after the longer ones.
const MIN_EXEMPLAR_WORDS: usize = 8;

/// The function words a name's middle may be: prepositions, articles, conjunctions and "che"
/// ("casa al mare", "quartiere che cambia", "importance of features"). Any other function word
/// there (an auxiliary, a pronoun) makes a fragment across a clause ("giù ho cucina", "lavoro
/// ero impegnata", "behavior we might").
const LINKING: &[&str] = &[
    "di", "a", "da", "in", "con", "su", "per", "tra", "fra", "e", "o", "del", "dello", "della",
    "dei", "degli", "delle", "dell'", "al", "allo", "alla", "ai", "agli", "alle", "all'", "dal",
    "dallo", "dalla", "dai", "dagli", "dalle", "dall'", "nel", "nello", "nella", "nei", "negli",
    "nelle", "nell'", "sul", "sullo", "sulla", "sui", "sugli", "sulle", "sull'", "col", "il", "lo",
    "la", "i", "gli", "le", "l'", "un", "uno", "una", "un'", "che", "of", "in", "on", "for", "to",
    "with", "and", "or", "the", "an", "at", "by", "from", "about", "as", "into",
];

/// Simple prepositions: what may open a name's middle of two or three function words
/// ("rapporto con i colleghi", "importance of the features").
const PREPOSITIONS: &[&str] = &[
    "di", "a", "da", "in", "con", "su", "per", "tra", "fra", "of", "in", "on", "for", "to", "with",
    "at", "by", "from", "about", "into",
];

/// Articles and possessives: what follows the preposition in a name's middle of two or three
/// function words ("rapporto con i miei colleghi").
const DETERMINERS: &[&str] = &[
    "il", "lo", "la", "i", "gli", "le", "l'", "un", "uno", "una", "un'", "mio", "mia", "miei",
    "mie", "tuo", "tua", "tuoi", "tue", "suo", "sua", "suoi", "sue", "nostro", "nostra", "nostri",
    "nostre", "vostro", "vostra", "vostri", "vostre", "loro", "the", "a", "an", "my", "our",
    "their", "his", "her", "your",
];

/// `n` and the noun, singular for one ("1 speaker", "3 speakers").
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Number of key terms per candidate.
const KEY_TERMS: usize = 8;

/// Describes every cluster.
pub fn candidates(
    passages: &[Passage],
    vectors: &[Vec<f32>],
    clustering: &Clustering,
    analyzer: &Analyzer,
) -> Vec<Candidate> {
    let k = clustering.n_clusters();
    let centred = crate::cluster::centred_centroids(vectors, &clustering.labels, k);
    let mean = crate::codebook::matching::mean(vectors);
    // Content tokens and their n-grams, per passage.
    let tokens: Vec<Vec<crate::text::Token>> =
        passages.iter().map(|p| analyzer.tokens(&p.text)).collect();
    let mut forms = SurfaceForms::default();
    let mut gram_forms: HashMap<String, HashMap<String, u32>> = HashMap::new();
    let mut class_tf: Vec<HashMap<String, f64>> = vec![HashMap::new(); k];
    let mut total_tf: HashMap<String, f64> = HashMap::new();
    for (i, toks) in tokens.iter().enumerate() {
        forms.add(toks);
        let l = clustering.labels[i];
        for n in 1..=3 {
            for w in toks.windows(n) {
                let stem = w.iter().map(|t| t.stem.as_str()).collect::<Vec<_>>().join(" ");
                let surface = w.iter().map(|t| t.surface.as_str()).collect::<Vec<_>>().join(" ");
                *gram_forms.entry(stem.clone()).or_default().entry(surface).or_default() += 1;
                *total_tf.entry(stem.clone()).or_default() += 1.0;
                if l >= 0 {
                    *class_tf[l as usize].entry(stem).or_default() += 1.0;
                }
            }
        }
    }
    let avg_words = class_tf.iter().map(|c| c.values().sum::<f64>()).sum::<f64>() / k.max(1) as f64;
    let corpus_len: f64 = total_tf.values().sum::<f64>().max(1.0);
    let display = |stem: &str| -> String {
        gram_forms
            .get(stem)
            .and_then(|f| {
                f.iter()
                    .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                    .map(|(s, _)| s.clone())
            })
            .unwrap_or_else(|| forms.display(stem))
    };
    let in_vivo_counts = phrase_counts(passages, analyzer);
    let corpus_speakers: BTreeSet<(&str, &str)> =
        passages.iter().map(|p| (p.document_id.as_str(), p.speaker.as_str())).collect();

    (0..k)
        .map(|c| {
            let members: Vec<usize> =
                (0..passages.len()).filter(|&i| clustering.labels[i] == c as i32).collect();
            // c-TF-IDF: tf in the class (normalised by its length) × log(1 + A / tf overall),
            // among the terms the class uses at least LIFT times as often as the corpus does:
            // with few or large classes, c-TF-IDF alone ranks words every passage says
            // ("persone", "tempo") above the class's own.
            let class_len: f64 = class_tf[c].values().sum::<f64>().max(1.0);
            let mut scored: Vec<(f64, &String)> = class_tf[c]
                .iter()
                .filter(|(_, &tf)| tf >= 2.0)
                .filter(|(t, &tf)| tf / class_len >= LIFT * total_tf[*t] / corpus_len)
                .map(|(t, &tf)| ((tf / class_len) * (1.0 + avg_words / total_tf[t]).ln(), t))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
            let mut key_terms: Vec<String> = Vec::new();
            let mut covered: BTreeSet<&str> = BTreeSet::new();
            for (_, term) in &scored {
                let stems: Vec<&str> = term.split(' ').collect();
                if stems.iter().all(|s| covered.contains(s)) {
                    continue; // a variant of terms already chosen
                }
                covered.extend(stems);
                key_terms.push(display(term));
                if key_terms.len() == KEY_TERMS {
                    break;
                }
            }
            let label = key_terms.iter().take(3).cloned().collect::<Vec<_>>().join(" · ");
            // Cohesion: the members' mean strength (as clustered: centred vectors, where 0 is
            // unrelated); raw e5 cosines all sit between 0.75 and 1 and said nothing.
            let cohesion = members.iter().map(|&i| clustering.strength[i]).sum::<f32>()
                / members.len().max(1) as f32;
            // Exemplars by centred similarity: the raw one favours short, generic passages
            // that sit near the corpus mean.
            let sims: Vec<(usize, f32)> = members
                .iter()
                .map(|&i| {
                    let v = crate::codebook::matching::centre(&vectors[i], &mean);
                    (i, crate::embed::cosine(&v, &centred[c]))
                })
                .collect();
            let mut by_speaker: BTreeMap<(&str, &str), usize> = BTreeMap::new();
            for &i in &members {
                *by_speaker
                    .entry((passages[i].document_id.as_str(), passages[i].speaker.as_str()))
                    .or_default() += 1;
            }
            let top = by_speaker.values().copied().max().unwrap_or(0);
            let top_speaker_share = top as f32 / members.len().max(1) as f32;
            let documents: BTreeSet<&str> =
                members.iter().map(|&i| passages[i].document_id.as_str()).collect();
            let words: Vec<&str> =
                key_terms.iter().filter(|t| !t.contains(' ')).take(5).map(String::as_str).collect();
            let said = in_vivo(&members, passages, &in_vivo_counts, &words);
            Candidate {
                id: format!("C{:02}", c + 1),
                cluster: c as i32,
                label,
                key_terms,
                in_vivo: said.0,
                phrases: said.1,
                once: said.2,
                exemplars: exemplars(&sims, passages),
                size: members.len(),
                cohesion,
                documents: documents.len(),
                speakers: by_speaker.len(),
                top_speaker_share,
                single_speaker: corpus_speakers.len() > 1 && top_speaker_share > 0.6,
                passage_ids: members.iter().map(|&i| passages[i].id.clone()).collect(),
                proposal: Proposal::New,
                code: None,
                matches: Vec::new(),
                prior: None,
                category: clustering.category_of.get(c).copied().unwrap_or(-1),
            }
        })
        .collect()
}

/// Names each candidate with a phrase, and groups the candidates into named categories.
///
/// The phrases a name is chosen from are the candidate's in-vivo phrases (the participants'
/// own words), its key phrases, the phrases said once with one of its key words, and its first
/// five key words that name something on their own; a phrase must read whole (two or three
/// words, content words at both ends, no article after a noun or verb after a noun: see
/// [`crate::wordclass`]; `passages` are the study's talk it tells verbs by) and is written
/// with its elisions joined ("l'aria"). Each
/// is embedded as an e5 query, centred on the corpus's mean like the passages, and the one
/// closest to the candidate's centre wins (a phrase of two words or more, and what the members
/// say more than once, are preferred by small margins), unless another candidate already has it
/// or one very like it (cosine ≥ 0.9): names stay distinct. A category takes the name of the
/// code whose name is closest to the category's own centre. `query` are the passages' `query: `
/// vectors, as clustered.
pub fn name(
    candidates: &mut [Candidate],
    passages: &[Passage],
    analyzer: &Analyzer,
    clustering: &Clustering,
    query: &[Vec<f32>],
    embedder: &dyn crate::embed::Embedder,
) -> crate::Result<Vec<Category>> {
    let k = clustering.n_clusters();
    let centres = crate::cluster::centred_centroids(query, &clustering.labels, k);
    let mean = crate::codebook::matching::mean(query);
    let word_use =
        crate::wordclass::WordUse::new(passages.iter().map(|p| p.text.as_str()), analyzer);
    // Fillers and stopwords of either language: what no name is made of, whatever the study's.
    let any = Analyzer::new();
    let hidden = placeholders(passages.iter().map(|p| p.text.as_str()));
    let shown = |p: &str| !p.split(' ').any(|w| hidden.contains(w));
    let options: Vec<Vec<String>> = candidates
        .iter()
        .map(|c| {
            // Phrases first: a name is a phrase where the members offer one, of two or three
            // words, both ends content words of three letters or more, none repeated ("bere
            // bere", "tutu tu tutu" are not names). The phrases include those said once with one
            // of the key words
            // ("museo egizio", not "fiat" alone). Measured on SIB-200 (label fidelity, seeds
            // 7 / 42): key words and phrases said twice, 60.1% / 63.5%; with the phrases said
            // once, of up to five words (most of them content words), 75.6% / 78.0%, but names
            // read as sentence fragments ("animali pericolosi che possono"); of up to three
            // words, 71.3% / 70.9% ("animali pericolosi").
            // And it reads whole: no article after a noun ("cina una cultura"), no verb after
            // a noun ("dialetto ascoltavo") (see [`crate::wordclass`]). On all of
            // ParlaTO and on SIB-200 this took 15 fragments out of about 400 names ("1957 il
            // lussemburgo", "incredibile i quartieri", "pista gli stadi") and one good name
            // ("accendi la luce"); label fidelity moved within a name or two: SIB-200 67.3% /
            // 68.9% → 64.6% / 68.9%, ParlaTO codes 21.9% / 22.3% → 20.1% / 22.3%.
            let nameable =
                |p: &&String| nameable(p, &any) && word_use.reads_whole(p, analyzer) && shown(p);
            let mut o: Vec<String> = c.in_vivo.iter().filter(nameable).cloned().collect();
            o.extend(c.phrases.iter().filter(nameable).cloned());
            o.extend(c.key_terms.iter().filter(|t| t.contains(' ')).filter(nameable).cloned());
            o.extend(c.once.iter().filter(nameable).cloned());
            // And the key words that name something on their own ("tubercolosi", "hockey"):
            // offering them beside the phrases raised label fidelity on SIB-200 from 46.8% /
            // 58.1% to 60.1% / 63.5% (seeds 7 / 42); a phrase still wins a near tie.
            o.extend(
                c.key_terms
                    .iter()
                    .filter(|t| !t.contains(' '))
                    .filter(|t| !any.is_filler_any(t) && !crate::text::is_numeral(t))
                    .filter(|t| starts_with_letter(t))
                    // Not an adjective or an adverb alone ("useful", "straightforward").
                    .filter(|t| word_use.reads_whole(t, analyzer) && shown(t))
                    .take(5)
                    .cloned(),
            );
            let mut o: Vec<String> = o.iter().map(|p| joined(p)).collect();
            let mut seen = BTreeSet::new();
            o.retain(|p| seen.insert(p.clone()));
            o
        })
        .collect();
    let mut all: Vec<&str> = options.iter().flatten().map(String::as_str).collect();
    all.sort_unstable();
    all.dedup();
    let (vecs, _) = crate::embed::cache::Cache::in_memory().embed(
        embedder,
        &all,
        crate::embed::Prefix::Query,
        1024,
        |_| {},
    )?;
    let vector: HashMap<&str, Vec<f32>> = all
        .iter()
        .zip(vecs)
        .map(|(p, v)| {
            let mut v = crate::codebook::matching::centre(&v, &mean);
            crate::embed::normalize(&mut v);
            (*p, v)
        })
        .collect();
    let mut taken: Vec<String> = Vec::new();
    for (c, opts) in candidates.iter_mut().zip(&options) {
        let Some(centre) = centres.get(c.cluster as usize) else { continue };
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        // What two of its speakers or more say (the in-vivo phrases), and its key words, win a
        // near tie against the other phrases: PDPilot leaf fidelity 19.9% / 21.3% → 23.9% /
        // 25.1% against no preference. The phrases one speaker says twice had the same
        // preference until measured without it: code-name fidelity SIB-200 64.2% / 69.6% →
        // 65.9% / 71.0% (seeds 1–6 mean 63.6% → 64.4%), ParlaTO 29.0% / 29.7% → 38.1% /
        // 34.6%, PDPilot as before; a name grounded in more than one participant.
        for list in [&mut c.in_vivo, &mut c.phrases, &mut c.once] {
            list.iter_mut().for_each(|p| *p = joined(p));
        }
        let repeated: BTreeSet<&str> =
            c.in_vivo.iter().chain(&c.key_terms).map(String::as_str).collect();
        let extra = |p: &str| if repeated.contains(p) { 0.03 } else { 0.0 };
        if let Some(name) = pick_name(&opts, centre, &vector, &mut taken, extra) {
            c.label = name;
        }
    }
    let mut out = name_categories(candidates, clustering, query, &vector);
    out.retain(|c| c.size > 0);
    out.sort_by(|a, b| b.size.cmp(&a.size).then(a.index.cmp(&b.index)));
    for (i, c) in out.iter_mut().enumerate() {
        c.id = format!("K{:02}", i + 1);
    }
    Ok(out)
}

/// The categories, each named from its codes' names against its own centre.
fn name_categories(
    candidates: &[Candidate],
    clustering: &Clustering,
    query: &[Vec<f32>],
    vector: &HashMap<&str, Vec<f32>>,
) -> Vec<Category> {
    // Categories: their passages' centre, named from their codes' phrases.
    let cats = clustering.category_of.iter().map(|&c| c + 1).max().unwrap_or(0).max(0) as usize;
    let cat_centres = crate::cluster::centred_centroids(query, &clustering.categories(), cats);
    let mut taken_cats: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (j, centre) in cat_centres.iter().enumerate() {
        let members: Vec<&Candidate> =
            candidates.iter().filter(|c| c.category == j as i32).collect();
        // From its codes' names: the category reads as the code that stands for it best.
        let opts: Vec<&str> = members.iter().map(|c| c.label.as_str()).collect();
        let name = pick_name(&opts, centre, vector, &mut taken_cats, |_| 0.0)
            .or_else(|| members.first().map(|c| c.label.clone()))
            .unwrap_or_default();
        out.push(Category {
            id: String::new(),
            index: j as i32,
            name,
            size: members.iter().map(|c| c.size).sum(),
            codes: members.iter().map(|c| c.id.clone()).collect(),
        });
    }
    out
}

/// Whether a phrase (analysis words joined by spaces) can name a code: two or three words,
/// or four or five whose middle is a preposition and articles or possessives ("software per
/// l'insegnamento", "casa di mia madre"), none repeated ("bere bere", "tutu tu tutu" are not
/// names), both ends content words of three letters or more, and a middle word, if any, a
/// content word, one of [`LINKING`] or a possessive ("conosciuto mio marito"; the longer
/// names and the possessives changed 3 of ParlaTO's 143 names, "software" → "software per
/// l'insegnamento", "andavamo a casa" → "conosciuto mio marito", one SIB-200 name and no
/// PDPilot name, with label fidelity as before; an article after the preposition is still
/// refused by [`crate::wordclass::WordUse::reads_whole`] unless the talk uses the preposition
/// as it uses verbs); no word a
/// number ("duemila e quindici", "trecentocinquanta euro" name a quantity, not a code), and
/// every word begins with a letter.
fn nameable(phrase: &str, analyzer: &Analyzer) -> bool {
    let words: Vec<&str> = phrase.split(' ').collect();
    let distinct: BTreeSet<&str> = words.iter().copied().collect();
    let ends = [words[0], words[words.len() - 1]];
    let n = words.len();
    let linked = |middle: &[&str]| {
        PREPOSITIONS.contains(&middle[0]) && middle[1..].iter().all(|w| DETERMINERS.contains(w))
    };
    ((2..=3).contains(&n) || (4..=5).contains(&n) && linked(&words[1..n - 1]))
        && distinct.len() == words.len()
        && words[1..words.len() - 1]
            .iter()
            .all(|w| LINKING.contains(w) || DETERMINERS.contains(w) || !analyzer.is_filler_any(w))
        && ends.iter().all(|w| w.chars().count() > 2 && !analyzer.is_filler_any(w))
        && !words.iter().any(|w| crate::text::is_numeral(w))
        && words.iter().all(|w| starts_with_letter(w))
}

/// Whether a word begins with a letter: not a figure ("19.500 km²") nor a transcript's
/// placeholder for a name it hides ("@nomepaese", "@nomeluogo" in ParlaTO).
fn starts_with_letter(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_alphabetic)
}

/// The words a study's transcripts write as placeholders for what they hide ("@nomepaese",
/// "@nomeluogo" in ParlaTO), lowercased, without the "@": no name has one, even where a
/// transcript writes it without the "@" (14 of ParlaTO's 46 "nomepaese" are; a code was named
/// "nomepaese minchia").
fn placeholders<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    texts
        .into_iter()
        .flat_map(str::split_whitespace)
        .filter_map(|w| w.strip_prefix('@'))
        .map(|w| w.trim_end_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Words cut short with an apostrophe that are not elisions: they keep their space.
const APOCOPES: &[&str] = &["po'", "be'", "mo'", "di'", "fa'", "va'", "sta'", "da'", "to'"];

/// A phrase of analysis words as it is written: an elided word joined to the next
/// ("cambiare l' aria" → "cambiare l'aria"), an apocope not ("un po' di").
fn joined(phrase: &str) -> String {
    let mut out = String::with_capacity(phrase.len());
    let mut words = phrase.split(' ').peekable();
    while let Some(w) = words.next() {
        out.push_str(w);
        let elided = w.ends_with(['\'', '’']) && w.chars().count() > 1 && !APOCOPES.contains(&w);
        if words.peek().is_some() && !elided {
            out.push(' ');
        }
    }
    out
}

/// The phrase of `options` closest to `centre` (phrases of two words or more by a small
/// margin, plus what `extra` adds), unless `taken` has it or one very like it; it is added to
/// `taken`.
fn pick_name(
    options: &[&str],
    centre: &[f32],
    vector: &HashMap<&str, Vec<f32>>,
    taken: &mut Vec<String>,
    extra: impl Fn(&str) -> f32,
) -> Option<String> {
    let mut scored: Vec<(f32, &str)> = options
        .iter()
        .filter_map(|p| {
            let bonus = if p.contains(' ') { 0.03 } else { 0.0 };
            Some((crate::embed::cosine(vector.get(p)?, centre) + bonus + extra(p), *p))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let (_, best) = scored.into_iter().find(|(_, p)| {
        taken.iter().all(|t| {
            t != p
                && vector.get(t.as_str()).is_none_or(|v| crate::embed::cosine(v, &vector[*p]) < 0.9)
        })
    })?;
    taken.push(best.to_string());
    Some(best.to_string())
}

/// Phrases of 2-5 analysis words (stopwords kept inside, not at the ends) of every passage.
fn phrases(text: &str, analyzer: &Analyzer) -> BTreeSet<String> {
    let words = analyzer.words(text);
    let mut out = BTreeSet::new();
    for n in 2..=5 {
        for w in words.windows(n) {
            if analyzer.is_stopword(&w[0]) || analyzer.is_stopword(&w[n - 1]) {
                continue;
            }
            if w.iter().filter(|x| !analyzer.is_stopword(x)).count() < 2 && n < 3 {
                continue;
            }
            out.insert(w.join(" "));
        }
    }
    out
}

/// For each phrase: the passages (indices) that use it.
fn phrase_counts(passages: &[Passage], analyzer: &Analyzer) -> HashMap<String, Vec<usize>> {
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in passages.iter().enumerate() {
        for ph in phrases(&p.text, analyzer) {
            out.entry(ph).or_default().push(i);
        }
    }
    out
}

/// Up to five phrases said by at least two speakers of the cluster, most distinctive first
/// (share of their uses inside the cluster × uses inside), longer phrases preferred to the
/// shorter ones they contain; then up to twelve phrases used in at least two of its passages,
/// whoever said them, in the same order, and the first two such phrases that contain each of
/// `words` (what a name is chosen from: a key word in the phrases it is said in).
fn in_vivo(
    members: &[usize],
    passages: &[Passage],
    uses: &HashMap<String, Vec<usize>>,
    words: &[&str],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let member_set: BTreeSet<usize> = members.iter().copied().collect();
    // One pass over the corpus's phrases: those used in at least two of the members, and
    // those with a key word used in at least one.
    let mut scored: Vec<(f64, usize, &String, usize)> = Vec::new();
    let mut containing: Vec<(f64, &String)> = Vec::new();
    for (ph, idx) in uses {
        let inside: Vec<usize> = idx.iter().copied().filter(|i| member_set.contains(i)).collect();
        if inside.is_empty() {
            continue;
        }
        let n = inside.len() as f64;
        if ph.split(' ').any(|x| words.contains(&x)) {
            containing.push((n * n / idx.len() as f64, ph));
        }
        if inside.len() >= 2 {
            let speakers: BTreeSet<(&str, &str)> = inside
                .iter()
                .map(|&i| (passages[i].document_id.as_str(), passages[i].speaker.as_str()))
                .collect();
            scored.push((n * (n / idx.len() as f64), ph.split(' ').count(), ph, speakers.len()));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then_with(|| a.2.cmp(b.2)));
    let pick = |min_speakers: usize, most: usize| {
        let mut out: Vec<String> = Vec::new();
        for (_, _, ph, speakers) in &scored {
            if *speakers < min_speakers
                || out.iter().any(|o| o.contains(ph.as_str()) || ph.contains(o.as_str()))
            {
                continue;
            }
            out.push(ph.to_string());
            if out.len() == most {
                break;
            }
        }
        out
    };
    // Phrases with a key word, said at least once in the cluster, most distinctive first.
    containing.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut with_words: Vec<String> = Vec::new();
    for w in words {
        with_words.extend(
            containing
                .iter()
                .filter(|(_, ph)| ph.split(' ').any(|x| x == *w))
                .take(4)
                .map(|(_, ph)| ph.to_string()),
        );
    }
    (pick(2, 5), pick(1, 12), with_words)
}

/// The most central passages, new speakers and documents first.
fn exemplars(sims: &[(usize, f32)], passages: &[Passage]) -> Vec<Exemplar> {
    let mut order = sims.to_vec();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<(usize, f32)> = Vec::new();
    let mut speakers = BTreeSet::new();
    let mut documents = BTreeSet::new();
    // Passages of a few words ("sì, nel senso") say little out of context: those of at least
    // `MIN_EXEMPLAR_WORDS` come first.
    for pass in 0..6 {
        for &(i, s) in &order {
            if chosen.len() == 5 {
                break;
            }
            if chosen.iter().any(|c| c.0 == i) {
                continue;
            }
            let p = &passages[i];
            if pass < 3 && p.words < MIN_EXEMPLAR_WORDS {
                continue;
            }
            let pass = pass % 3;
            let new_doc = !documents.contains(p.document_id.as_str());
            let new_speaker = !speakers.contains(&(p.document_id.as_str(), p.speaker.as_str()));
            if (pass == 0 && new_doc && new_speaker) || (pass == 1 && new_speaker) || pass == 2 {
                chosen.push((i, s));
                documents.insert(p.document_id.as_str());
                speakers.insert((p.document_id.as_str(), p.speaker.as_str()));
            }
        }
    }
    chosen.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    chosen
        .into_iter()
        .map(|(i, s)| {
            let p = &passages[i];
            Exemplar {
                passage_id: p.id.clone(),
                document_id: p.document_id.clone(),
                speaker: p.speaker.clone(),
                char_start: p.char_start,
                char_end: p.char_end,
                time_start: p.time_start,
                prompt: p.prompt.clone(),
                text: p.text.clone(),
                similarity: s,
            }
        })
        .collect()
}

/// How a fitting code's lead over the next code is said in [`proposal_line`].
pub const ABOVE_THE_NEXT: &str = "above the next code";

/// What terreno proposes for a candidate, in one line.
pub fn proposal_line(c: &Candidate) -> String {
    let mut s = c.proposal.describe().to_string();
    match (c.proposal, c.matches.first()) {
        (Proposal::Existing, Some(m)) => {
            s.push_str(&format!(": {} ({:.2}", m.name, m.similarity));
            if let Some(next) = c.matches.get(1) {
                let lead = m.similarity - next.similarity;
                s.push_str(&format!(", {lead:.2} {ABOVE_THE_NEXT}"));
            }
            s.push(')');
        }
        _ => {
            if let Some(code) = &c.code {
                s.push_str(&format!(": {code}"));
            }
        }
    }
    if let Some(p) = &c.prior {
        s.push_str(&format!(" ({} {} in {}", p.candidate, p.decision, p.run));
        if !p.reason.is_empty() {
            s.push_str(&format!(": “{}”", p.reason));
        }
        if !p.merged.is_empty() {
            s.push_str(&format!("; merged with {}", p.merged.join(", ")));
        }
        s.push(')');
    }
    s
}

/// How many times more often than the corpus a class must use a term for it to be a key term.
pub const LIFT: f64 = 1.5;

/// `candidates.md`: the candidates as an analyst reads them. Every text from the transcripts,
/// the codebook or the names goes through [`md`], so nothing in them is run or changes the page.
pub fn markdown(
    candidates: &[Candidate],
    categories: &[Category],
    unassigned: usize,
    not_coded: usize,
) -> String {
    use std::fmt::Write;
    let mut s = String::from("# Candidate open codes\n\n");
    let _ = writeln!(
        s,
        "{} candidate codes in {} categories; {} passages unassigned, {} of them not coded (too \
         little to code even with the talk around them). Candidates are proposals: confirm, \
         rename, merge or reject each.\n",
        candidates.len(),
        categories.len(),
        unassigned,
        not_coded
    );
    category_tree(candidates, categories, &mut s);
    let _ = writeln!(s);
    let ordered =
        categories.iter().flat_map(|k| k.codes.iter().map(move |id| (Some(k), id.as_str()))).chain(
            candidates
                .iter()
                .filter(|c| !categories.iter().any(|k| k.codes.contains(&c.id)))
                .map(|c| (None, c.id.as_str())),
        );
    let mut heading: Option<&str> = None;
    for (k, id) in ordered {
        let Some(c) = candidates.iter().find(|c| c.id == id) else { continue };
        if let Some(k) = k.filter(|k| heading != Some(k.id.as_str())) {
            let _ = writeln!(s, "# {} — {}\n", k.id, md(&k.name));
            heading = Some(k.id.as_str());
        }
        let _ = writeln!(s, "## {} — {}\n", c.id, md(&c.label));
        let _ = writeln!(
            s,
            "{} passages, {}, {}, cohesion {:.2}{}\n",
            c.size,
            counted(c.documents, "document", "documents"),
            counted(c.speakers, "speaker", "speakers"),
            c.cohesion,
            match c.speaker_note() {
                Some(note) if c.speakers > 1 => {
                    format!("; **{note}** ({:.0}%)", 100.0 * c.top_speaker_share)
                }
                Some(note) => format!("; **{note}**"),
                None => String::new(),
            }
        );
        let _ = writeln!(s, "- key terms: {}", md(&c.key_terms.join(", ")));
        let _ = writeln!(s, "- proposal: {}", md(&proposal_line(c)));
        if !c.matches.is_empty() {
            let _ = writeln!(
                s,
                "- closest codebook codes: {}",
                c.matches
                    .iter()
                    .map(|m| format!("{} ({:.2})", md(&m.name), m.similarity))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        if !c.in_vivo.is_empty() {
            let _ = writeln!(
                s,
                "- in their words: {}",
                c.in_vivo.iter().map(|p| format!("“{}”", md(p))).collect::<Vec<_>>().join(", ")
            );
        }
        let _ = writeln!(s);
        for e in &c.exemplars {
            let when = e
                .time_start
                .map(|t| {
                    format!(
                        ", {:02}:{:02}:{:02}",
                        (t / 3600.0) as u32,
                        (t / 60.0) as u32 % 60,
                        t as u32 % 60
                    )
                })
                .unwrap_or_default();
            if let Some(q) = &e.prompt {
                let _ = writeln!(s, "> *Q: {}*  ", md(q));
            }
            let _ = writeln!(
                s,
                "> {}  \n> — {}, {}{} (chars {}-{})\n",
                md(&e.text),
                md(&e.speaker),
                md(&e.document_id),
                when,
                e.char_start,
                e.char_end
            );
        }
    }
    s
}

/// The category → codes tree of `candidates.md`.
fn category_tree(candidates: &[Candidate], categories: &[Category], s: &mut String) {
    use std::fmt::Write;
    for k in categories {
        let _ = writeln!(s, "- **{} {}** ({} passages)", k.id, md(&k.name), k.size);
        for id in &k.codes {
            if let Some(c) = candidates.iter().find(|c| &c.id == id) {
                let _ = writeln!(s, "  - {} {} ({})", c.id, md(&c.label), c.size);
            }
        }
    }
}

/// One document on the saturation curve.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SaturationPoint {
    /// The document.
    pub document: String,
    /// Its date from the metadata, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Candidates first present in this document.
    pub new: usize,
    /// Candidates present in this document or an earlier one.
    pub cumulative: usize,
    /// The new candidates' ids.
    pub candidates: Vec<String>,
}

/// The metadata attribute that dates a document: the first of `date`, `data`, `year`, `anno`
/// (any case).
pub fn document_date(metadata: &BTreeMap<String, String>) -> Option<String> {
    ["date", "data", "year", "anno"].iter().find_map(|k| {
        metadata
            .iter()
            .find(|(key, v)| key.trim().eq_ignore_ascii_case(k) && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
    })
}

/// A document for [`saturation`]: its id, date and number of passages.
pub type DatedDocument = (String, Option<String>, usize);

/// New candidate codes per document, documents in date order (then by id; undated ones last).
/// A candidate is present in a document that has at least `min_passages` of its passages and
/// talks about it at least as much as the corpus does (its share of the document's passages is
/// at least its share of all passages): with broad clusters every interview touches every
/// candidate, and the curve would say nothing.
pub fn saturation(
    documents: &[DatedDocument],
    candidates: &[Candidate],
    min_passages: usize,
) -> Vec<SaturationPoint> {
    let total: usize = documents.iter().map(|d| d.2).sum();
    let share: BTreeMap<&str, f64> =
        candidates.iter().map(|c| (c.id.as_str(), c.size as f64 / total.max(1) as f64)).collect();
    let mut order: Vec<&DatedDocument> = documents.iter().collect();
    order.sort_by(|a, b| (a.1.is_none(), &a.1, &a.0).cmp(&(b.1.is_none(), &b.1, &b.0)));
    // Passage ids are `document:n`.
    let mut per_doc: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for c in candidates {
        for p in &c.passage_ids {
            let doc = p.rsplit_once(':').map_or(p.as_str(), |(d, _)| d);
            *per_doc.entry(doc).or_default().entry(c.id.as_str()).or_default() += 1;
        }
    }
    let mut seen = BTreeSet::new();
    order
        .into_iter()
        .map(|(doc, date, n_doc)| {
            let mut new: Vec<String> = per_doc
                .get(doc.as_str())
                .map(|m| {
                    m.iter()
                        .filter(|(c, &n)| {
                            n >= min_passages
                                && n as f64 >= share[**c] * *n_doc as f64
                                && !seen.contains(**c)
                        })
                        .map(|(c, _)| c.to_string())
                        .collect()
                })
                .unwrap_or_default();
            new.sort();
            seen.extend(new.iter().cloned());
            SaturationPoint {
                document: doc.clone(),
                date: date.clone(),
                new: new.len(),
                cumulative: seen.len(),
                candidates: new,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: &str, passage_ids: &[&str]) -> Candidate {
        Candidate {
            id: id.into(),
            cluster: 0,
            label: String::new(),
            key_terms: vec![],
            in_vivo: vec![],
            exemplars: vec![],
            size: passage_ids.len(),
            cohesion: 0.0,
            documents: 0,
            speakers: 0,
            top_speaker_share: 0.0,
            single_speaker: false,
            passage_ids: passage_ids.iter().map(|s| s.to_string()).collect(),
            proposal: Proposal::New,
            code: None,
            matches: vec![],
            prior: None,
            category: 0,
            phrases: vec![],
            once: vec![],
        }
    }

    #[test]
    fn placeholders_are_known_with_or_without_their_mark() {
        let hidden = placeholders([
            "sono nato a @nomepaese, vicino a @NomeLuogo.",
            "a nomepaese c'era il mercato, email@example non è un segnaposto",
        ]);
        let words: Vec<&str> = hidden.iter().map(String::as_str).collect();
        assert_eq!(words, ["nomeluogo", "nomepaese"]);
    }

    #[test]
    fn names_are_phrases_that_read_whole() {
        let it = Analyzer::new();
        for good in [
            "casa al mare",
            "quartiere che cambia",
            "tavolo grande",
            "museo egizio",
            "conosciuto mio marito",
            "software per l' insegnamento",
            "rapporto con i miei colleghi",
        ] {
            assert!(nameable(good, &it), "{good}");
        }
        // Fragments across a clause, a speaker's stance, numbers, repeats, short ends.
        for bad in [
            "giù ho cucina",
            "lavoro ero impegnata",
            "leggere mi piace",
            "dipende dal tempo",
            "due anni",
            "bere bere",
            "va bene",
            "tre",
            "duemila e quindici",
            "trecentocinquanta euro",
            "anno duemiladiciotto",
            "zona @nomepaese",
            "19.500 km²",
            // Four or five words are a name only when a preposition links its two ends.
            "lavoro che il padre",
            "casa e la mia famiglia",
            "rapporto con i colleghi ma",
        ] {
            assert!(!nameable(bad, &it), "{bad}");
        }
        let en = Analyzer::for_language(crate::text::TextLanguage::English);
        assert!(nameable("shape of curves", &en) && nameable("importance of the features", &en));
        assert!(!nameable("behavior we might", &en) && !nameable("honestly like rather", &en));
        assert_eq!(joined("cambiare l' aria"), "cambiare l'aria");
        assert_eq!(joined("mesi all' estero"), "mesi all'estero");
        assert_eq!(joined("un po' di tempo"), "un po' di tempo");
    }

    #[test]
    fn counts_read_in_the_singular_for_one() {
        assert_eq!(counted(1, "speaker", "speakers"), "1 speaker");
        assert_eq!(counted(2, "parlante", "parlanti"), "2 parlanti");
        assert_eq!(counted(0, "document", "documents"), "0 documents");
    }

    #[test]
    fn saturation_counts_new_candidates_in_date_order() {
        let docs = vec![
            ("B".to_string(), Some("2019".to_string()), 5),
            ("A".to_string(), None, 6),
            ("C".to_string(), Some("2018".to_string()), 12),
        ];
        let cands = vec![
            candidate("C01", &["C:1", "C:2", "B:1", "B:2", "A:1", "A:2"]),
            candidate("C02", &["B:3", "B:4", "A:3", "A:4"]),
            // Once in C and in B: below two passages there, so first present in A.
            candidate("C03", &["C:3", "B:5", "A:5", "A:6"]),
            // Twice in C, but C is long and says it less than the corpus does: first in B.
            candidate("C04", &["C:4", "C:5", "B:6", "B:7"]),
        ];
        let s = saturation(&docs, &cands, 2);
        let order: Vec<&str> = s.iter().map(|p| p.document.as_str()).collect();
        assert_eq!(order, ["C", "B", "A"]);
        assert_eq!(s.iter().map(|p| p.new).collect::<Vec<_>>(), [0, 3, 1]);
        assert_eq!(s.iter().map(|p| p.cumulative).collect::<Vec<_>>(), [0, 3, 4]);
        assert_eq!(s[1].candidates, ["C01", "C02", "C04"]);
        assert_eq!(s[2].candidates, ["C03"]);
    }

    #[test]
    fn a_date_comes_from_the_first_dating_attribute() {
        let m: BTreeMap<String, String> =
            [("Year".to_string(), "2019".to_string()), ("site".into(), "TO".into())].into();
        assert_eq!(document_date(&m).as_deref(), Some("2019"));
        assert_eq!(document_date(&BTreeMap::new()), None);
    }
}
