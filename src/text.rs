//! Normalisation for analysis (Italian first, English as well), kept apart from the display
//! text and from what the model sees.
//!
//! [`Analyzer::words`] gives the *analysis words* of a stretch of talk: lowercase, Jefferson
//! marks understood (prolongations `no::`, intonation `?`, volume `°…°` and capitals, pace
//! `>…<`, overlaps `[…]`, links `dieci=anni`, pauses `(.)`, uncertain `(…)` kept, non-verbal
//! `((ride))` dropped), elisions split (`l'amico` → `l'` `amico`), fillers and back-channel
//! sounds (`eh`, `ehm`, `mh`, `mhmh`) dropped, truncated words (`pr~`) and unintelligible
//! `xxx` dropped. [`Analyzer::tokens`] drops stopwords (NLTK's list plus spoken Italian or
//! spoken English) and stems with Snowball, in the language [`Analyzer::detect`] finds;
//! [`SurfaceForms`] keeps the most frequent surface form of each stem for display.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use rust_stemmers::{Algorithm, Stemmer};

/// Words of spoken Italian that carry no topic: discourse markers, back-channels, light verbs
/// and the elided forms NLTK's list lacks.
const SPOKEN_STOPWORDS: &[&str] = &[
    "allora",
    "cioè",
    "comunque",
    "insomma",
    "praticamente",
    "diciamo",
    "tipo",
    "ecco",
    "vabbè",
    "vabbe",
    "beh",
    "boh",
    "mah",
    "dai",
    "ok",
    "okay",
    "sì",
    "si",
    "no",
    "va",
    "bene",
    "proprio",
    "niente",
    "cosa",
    "cose",
    "poi",
    "quindi",
    "però",
    "ancora",
    "già",
    "magari",
    "forse",
    "molto",
    "tanto",
    "tanta",
    "tanti",
    "tante",
    "poco",
    "po'",
    "po",
    "fare",
    "fatto",
    "fatta",
    "detto",
    "dire",
    "dico",
    "dice",
    "dici",
    "dicevo",
    "diceva",
    "essere",
    "avere",
    "stato",
    "stata",
    "stati",
    "state",
    "andare",
    "perchè",
    "qua",
    "qui",
    "là",
    "lì",
    "così",
    "oppure",
    "adesso",
    "ora",
    "sempre",
    "mai",
    "veramente",
    "davvero",
    "esatto",
    "certo",
    "giusto",
    "altro",
    "altra",
    "altri",
    "altre",
    "ogni",
    "qualche",
    "qualcosa",
    "uno",
    "una",
    "quel",
    "quei",
    "sto",
    "sta",
    "stai",
    "son",
    "hm",
    "mhm",
    "oh",
    "ah",
    "uh",
    "be'",
    "quando",
    "dopo",
    "prima",
    "mentre",
    "invece",
    "quasi",
    "solo",
    "anzi",
    "pure",
    "neanche",
    "nemmeno",
    "ci",
    "c'",
    "d'",
    "m'",
    "t'",
    "s'",
    "v'",
    "n'",
    "l'",
    "un'",
    "gl'",
    "quell'",
    "quest'",
    "dev'",
    "so",
    "sai",
    "sa",
    "sapere",
    "sapevo",
    "me",
    "te",
    "sé",
    "ce",
    "ve",
    "ne",
    "mica",
    "ehi",
    "guarda",
    "senti",
    "capito",
    "vero",
    "volta",
    "tutta",
    "tutte",
    "stesso",
    "stessa",
    "nulla",
    "roba",
    "qualcuno",
    "ognuno",
    "eccetera",
    "ecc",
    "etc",
    "vabbeh",
    "oddio",
    "probabilmente",
    "comunque",
    "abbastanza",
    "tipo",
    "cioe",
    "sopra",
    "sotto",
    // "é" is how some transcriptions write "è".
    "é",
    "infatti",
    "assolutamente",
    "sicuramente",
    "ovviamente",
    "effettivamente",
    "meno",
    "troppo",
    "troppa",
    "troppi",
    "scusa",
    "scusi",
    "penso",
    "credo",
    "pensavo",
    "dunque",
    // Frequent forms of the modal and motion verbs (NLTK lists those of essere, avere, fare, stare).
    "vado",
    "vai",
    "andato",
    "andata",
    "andati",
    "andavo",
    "andava",
    "andiamo",
    "voglio",
    "vuoi",
    "vuole",
    "volevo",
    "voleva",
    "volere",
    "devo",
    "devi",
    "deve",
    "dovevo",
    "doveva",
    "dovuto",
    "dover",
    "posso",
    "puoi",
    "può",
    "puo",
    "potevo",
    "poteva",
    "potuto",
    "potere",
    "vengo",
    "vieni",
    "viene",
    "venuto",
    "venuta",
    "venire",
    "fa",
    "fare",
    "fai",
    "faccio",
    "facevo",
    "dai",
    "dà",
    "dato",
    "vedi",
    "visto",
    "vista",
    "vedere",
    // Verbs of liking, needing, being able and seeming, opinion markers and numbers: how
    // a speaker stands to a topic, not the topic ("mi piace", "dipende", "in realtà",
    // "secondo me", "nel senso", "mi rendo conto", "due anni").
    "piace",
    "piacciono",
    "piaceva",
    "piacevano",
    "piacerebbe",
    "piaciuto",
    "piaciuta",
    "bisogna",
    "basta",
    "bastava",
    "sembra",
    "sembrava",
    "sembrano",
    "dipende",
    "possono",
    "potrebbe",
    "potrebbero",
    "devono",
    "dovrebbe",
    "dovrebbero",
    "vogliono",
    "vorrei",
    "vorrò",
    "capita",
    "capitato",
    "chiama",
    "chiamano",
    "ovvio",
    "secondo",
    "realtà",
    "appunto",
    "rispetto",
    "senso",
    "conto",
    "rendo",
    "rende",
    "solitamente",
    "cioé",
    "abbiam",
    "sinceramente",
    "onestamente",
    "francamente",
    "dispiace",
    "spesso",
    "altrimenti",
    "cercando",
    "verso",
    "alcuni",
    "alcune",
    "molta",
    "molti",
    "molte",
    "buon",
    "bei",
    // Praise said in passing ("bello", "carino") rates what the talk is about; it names nothing.
    "bello",
    "bella",
    "belli",
    "belle",
    "bellissimo",
    "bellissima",
    "bellissimi",
    "bellissime",
    "carino",
    "carina",
    "carini",
    "carine",
    "due",
    "tre",
    "quattro",
    "cinque",
    "sei",
    "sette",
    "otto",
    "nove",
    "dieci",
];

static NONVERBAL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\(\([^)]*\)\)").expect("regex"));
static PAUSE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\(\s*\d*\.\d*\s*\)").expect("regex"));

/// An analysis token: a content word and its stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word as normalised (lowercase, marks removed).
    pub surface: String,
    /// Its Snowball stem (Italian or English).
    pub stem: String,
}

/// Discourse words of spoken English that name nothing ("yeah", "like", "kind of", "thank you").
const SPOKEN_ENGLISH: &[&str] = &[
    "yeah",
    "yes",
    "like",
    "know",
    "mean",
    "kind",
    "sort",
    "think",
    "thought",
    "really",
    "okay",
    "ok",
    "um",
    "uh",
    "um",
    "hmm",
    "thing",
    "things",
    "stuff",
    "lot",
    "pretty",
    "guess",
    "well",
    "right",
    "actually",
    "maybe",
    "get",
    "gets",
    "getting",
    "got",
    "would",
    "could",
    "thank",
    "thanks",
    "say",
    "said",
    "go",
    "going",
    "want",
    "see",
    "something",
    "anything",
    "everything",
    "great",
    "nice",
    "good",
    "also",
    "even",
    "much",
    "many",
    "way",
    "one",
    "two",
    "bit",
    "little",
    "sure",
    "probably",
    "definitely",
    "basically",
    "gonna",
    "wanna",
    "let",
    "us",
    "oh",
    "yep",
    "nope",
    "cool",
    "alright",
    "mm",
    "mhm",
    "imagine",
    "use",
    "used",
    // Stance adverbs and modals: how, not what ("honestly like rather", "behavior we might").
    "honestly",
    "rather",
    "obviously",
    "almost",
    "precisely",
    "quite",
    "exactly",
    "especially",
    "usually",
    "certainly",
    "literally",
    "generally",
    "totally",
    "clearly",
    "anyway",
    "kinda",
    "might",
    "must",
    "may",
    "able",
    "whatever",
    "someone",
    "somebody",
    "nothing",
    "saw",
    "seen",
    "using",
    "make",
    "made",
    "look",
    "looking",
    "looked",
    "stuff",
    "first",
    "time",
    "times",
];

/// The language of a study's transcripts, for stopwords and stems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLanguage {
    /// Italian: NLTK's list plus spoken Italian, Snowball's Italian stemmer.
    Italian,
    /// English: NLTK's list plus spoken English, Snowball's English stemmer.
    English,
}

impl TextLanguage {
    /// Its ISO 639-1 code: `it`, `en`.
    pub fn code(self) -> &'static str {
        match self {
            TextLanguage::Italian => "it",
            TextLanguage::English => "en",
        }
    }
}

/// Analysis of one language: words, stopwords, stems. Cheap to share across threads.
pub struct Analyzer {
    language: TextLanguage,
    italian: HashSet<String>,
    english: HashSet<String>,
    stemmer: Stemmer,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl Analyzer {
    /// The Italian analyser: NLTK's Italian stopwords plus the spoken-Italian list.
    pub fn new() -> Self {
        Self::for_language(TextLanguage::Italian)
    }

    /// The analyser of `language`.
    pub fn for_language(language: TextLanguage) -> Self {
        let mut italian: HashSet<String> =
            stop_words::get("it").iter().map(|w| w.to_string()).collect();
        italian.extend(SPOKEN_STOPWORDS.iter().map(|w| w.to_string()));
        let mut english: HashSet<String> =
            stop_words::get("en").iter().map(|w| w.to_string()).collect();
        english.extend(SPOKEN_ENGLISH.iter().map(|w| w.to_string()));
        let stemmer = Stemmer::create(match language {
            TextLanguage::Italian => Algorithm::Italian,
            TextLanguage::English => Algorithm::English,
        });
        Analyzer { language, italian, english, stemmer }
    }

    /// The analyser of the language most of `texts` are in: English when more of their
    /// words are English stopwords than Italian ones (function words make up about half of
    /// any talk, so a few hundred words decide it), else Italian.
    pub fn detect<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let probe = Self::new();
        let (mut it, mut en) = (0usize, 0usize);
        for text in texts {
            // A few thousand words of each text decide it; a huge file is not read whole.
            let mut end = text.len().min(50_000);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            for w in probe.words(&text[..end]) {
                it += usize::from(probe.italian.contains(&w));
                en += usize::from(probe.english.contains(&w));
            }
            if it + en > 20_000 {
                break;
            }
        }
        if en > it {
            Self::for_language(TextLanguage::English)
        } else {
            probe
        }
    }

    /// The language this analyser reads.
    pub fn language(&self) -> TextLanguage {
        self.language
    }

    /// Whether a word says nothing on its own in Italian or in English (stopwords, and the
    /// discourse words of spoken English: "yeah", "like", "you know"): what a candidate's name
    /// is not made of, whatever the language of the transcripts.
    pub fn is_filler_any(&self, word: &str) -> bool {
        self.italian.contains(word)
            || self.english.contains(word)
            || word.split(['\'', '’']).any(|p| p.len() <= 1 || self.english.contains(p))
            || word.ends_with(['\'', '’'])
                && self.italian.contains(word.trim_end_matches(['\'', '’']))
    }

    /// The analysis words of `text`, in order (stopwords included).
    pub fn words(&self, text: &str) -> Vec<String> {
        let text = NONVERBAL.replace_all(text, " ");
        let text = PAUSE.replace_all(&text, " ");
        let mut out = Vec::new();
        for raw in text.split(|c: char| c.is_whitespace() || c == '=') {
            let Some(word) = clean_word(raw) else { continue };
            match self.language {
                TextLanguage::Italian => split_elision(&word, &mut out),
                // "don't", "mover's": one word (the English stemmer drops a possessive).
                TextLanguage::English => out.push(word),
            }
        }
        out
    }

    /// Whether `word` (an analysis word) is a stopword of the analyser's language.
    pub fn is_stopword(&self, word: &str) -> bool {
        let stopwords = match self.language {
            TextLanguage::Italian => &self.italian,
            TextLanguage::English => &self.english,
        };
        stopwords.contains(word)
            || word.ends_with(['\'', '’']) && stopwords.contains(word.trim_end_matches(['\'', '’']))
    }

    /// Whether an analysis word is a content word: not a stopword, not a bare number.
    pub fn is_content(&self, word: &str) -> bool {
        !self.is_stopword(word) && word.chars().any(char::is_alphabetic)
    }

    /// The content tokens of `text`: analysis words without stopwords or bare numbers, stemmed.
    pub fn tokens(&self, text: &str) -> Vec<Token> {
        self.words(text)
            .into_iter()
            .filter(|w| self.is_content(w))
            .map(|w| Token { stem: self.stemmer.stem(&w).into_owned(), surface: w })
            .collect()
    }
}

/// Removes Jefferson marks and punctuation from one whitespace-separated piece; `None` when
/// nothing analysable is left (a filler, a truncation, unintelligible talk, a bare mark).
fn clean_word(raw: &str) -> Option<String> {
    if raw.contains('~') {
        return None; // interrupted word: `pr~`
    }
    let mut word: String = raw
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '[' | ']'
                    | '°'
                    | '>'
                    | '<'
                    | '('
                    | ')'
                    | '#'
                    | ':'
                    | '"'
                    | '«'
                    | '»'
                    | '“'
                    | '”'
                    | '↑'
                    | '↓'
            )
        })
        .collect::<String>()
        .to_lowercase();
    // Intonation and sentence punctuation at either end; an elision apostrophe stays.
    let trimmed = word.trim_matches(|c: char| {
        matches!(c, '.' | ',' | '?' | '!' | ';' | '…' | '-' | '–' | '—' | '/')
    });
    let trimmed = trimmed.trim_start_matches(['\'', '’']);
    word = trimmed.replace('’', "'");
    if word.is_empty() || word.chars().all(|c| c == 'x') || is_filler(&word) {
        return None;
    }
    if !word.chars().any(char::is_alphanumeric) {
        return None;
    }
    Some(word)
}

/// Round quantities said as nouns, which `text2num` does not read as numbers: "migliaia",
/// "una ventina", "dozens" (a sample code was named "legno da migliaia").
const QUANTITY_NOUNS: &[&str] = &[
    "decina",
    "decine",
    "dozzina",
    "dozzine",
    "ventina",
    "ventine",
    "trentina",
    "quarantina",
    "cinquantina",
    "sessantina",
    "settantina",
    "ottantina",
    "novantina",
    "centinaio",
    "centinaia",
    "migliaio",
    "migliaia",
    "milione",
    "milioni",
    "miliardo",
    "miliardi",
    "dozen",
    "dozens",
    "hundreds",
    "thousands",
    "millions",
    "billions",
];

/// Whether an analysis word is a cardinal number written in words, in Italian or in English
/// ("trecentocinquanta", "duemiladiciotto", "twenty-five"), or a round quantity said as a noun
/// ("migliaia", "una ventina", "thousands"): a quantity, which names no code. Ordinals
/// ("primo lavoro") are not numbers here.
pub fn is_numeral(word: &str) -> bool {
    if QUANTITY_NOUNS.contains(&word) {
        return true;
    }
    use text2num::{text2digits, Language};
    static ITALIAN: LazyLock<Language> = LazyLock::new(Language::italian);
    static ENGLISH: LazyLock<Language> = LazyLock::new(Language::english);
    let cardinal = |digits: Result<String, _>| {
        digits.is_ok_and(|d: String| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
    };
    // A multiplier said on its own ("mila" in "mila e dodici"): a number once counted.
    cardinal(text2digits(word, &*ITALIAN))
        || cardinal(text2digits(&format!("due{word}"), &*ITALIAN))
        || cardinal(text2digits(word, &*ENGLISH))
        || cardinal(text2digits(&format!("two {word}"), &*ENGLISH))
}

/// Filled pauses and back-channel sounds: `eh`, `ehm`, `em`, `mh`, `mhmh`, `mm`, `hm`, `uhm`.
fn is_filler(word: &str) -> bool {
    static FILLER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:e+h+m*|e+m+|(?:m+h*)+|h+m+|u+h+m*|u+m+)$").expect("regex")
    });
    FILLER.is_match(word)
}

/// `l'amico` → `l'`, `amico`; `dell'anno` → `dell'`, `anno`; `po'` stays whole.
fn split_elision(word: &str, out: &mut Vec<String>) {
    let mut rest = word;
    while let Some(i) = rest.find('\'') {
        let (head, tail) = rest.split_at(i + 1);
        if tail.is_empty() || head.len() == 1 {
            break;
        }
        out.push(head.to_string());
        rest = tail;
    }
    if !rest.is_empty() && rest != "'" {
        out.push(rest.to_string());
    }
}

/// Counts the surface forms of each stem, to show a stem as its most frequent form.
#[derive(Debug, Default, Clone)]
pub struct SurfaceForms {
    counts: HashMap<String, HashMap<String, u32>>,
}

impl SurfaceForms {
    /// Counts the tokens.
    pub fn add(&mut self, tokens: &[Token]) {
        for t in tokens {
            *self
                .counts
                .entry(t.stem.clone())
                .or_default()
                .entry(t.surface.clone())
                .or_default() += 1;
        }
    }

    /// The most frequent surface form of `stem` (ties: alphabetically first), or the stem.
    pub fn display(&self, stem: &str) -> String {
        self.counts
            .get(stem)
            .and_then(|forms| {
                forms
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                    .map(|(f, _)| f.clone())
            })
            .unwrap_or_else(|| stem.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jefferson_marks_are_understood() {
        let a = Analyzer::new();
        assert_eq!(
            a.words("no:: >(mi bevo un) caffettino<"),
            ["no", "mi", "bevo", "un", "caffettino"]
        );
        assert_eq!(
            a.words("sono:: <dieci=anni a: gennaio>"),
            ["sono", "dieci", "anni", "a", "gennaio"]
        );
        assert_eq!(
            a.words("e::h m:h lavoro per una ditta: pr~ privata"),
            ["lavoro", "per", "una", "ditta", "privata"]
        );
        assert_eq!(
            a.words("per al[tre azie]nde ((ride)) (.) °SÌ°?"),
            ["per", "altre", "aziende", "sì"]
        );
        assert_eq!(a.words("portali >cioè< x dipende::"), ["portali", "cioè", "dipende"]);
    }

    #[test]
    fn elisions_are_split() {
        let a = Analyzer::new();
        assert_eq!(
            a.words("l'amico dell'anno, c’è un po'"),
            ["l'", "amico", "dell'", "anno", "c'", "è", "un", "po'"]
        );
    }

    #[test]
    fn fillers_are_dropped_but_not_words() {
        for f in ["eh", "ehm", "mh", "mhmh", "mmh", "uhm", "em", "hmm"] {
            assert!(is_filler(f), "{f}");
        }
        for w in ["e", "ho", "mai", "uomo", "ehi"] {
            assert!(!is_filler(w), "{w}");
        }
    }

    #[test]
    fn the_language_of_the_transcripts_is_detected_and_read() {
        let english = [
            "Yeah, I think the partial dependence plots were really useful for me.",
            "We don't look at the interactions, it's like the model's ranking of features.",
        ];
        let a = Analyzer::detect(english);
        assert_eq!(a.language(), TextLanguage::English);
        let t = a.tokens(english[0]);
        let surfaces: Vec<_> = t.iter().map(|t| t.surface.as_str()).collect();
        assert_eq!(surfaces, ["partial", "dependence", "plots", "useful"]);
        assert_eq!(t[2].stem, "plot");
        // Contractions and possessives stay one word; the stemmer drops the possessive.
        assert_eq!(a.words("it's the model's"), ["it's", "the", "model's"]);
        assert_eq!(a.tokens("the model's")[0].stem, "model");
        let italian = ["allora io lavoro in una ditta e il fine settimana vado dai miei"];
        assert_eq!(Analyzer::detect(italian).language(), TextLanguage::Italian);
        assert_eq!(Analyzer::detect([""]).language(), TextLanguage::Italian, "the default");
        // Either way, a name is not made of either language's fillers.
        for w in ["yeah", "like", "allora", "cioè", "the"] {
            assert!(a.is_filler_any(w) && Analyzer::new().is_filler_any(w), "{w}");
        }
        assert!(!a.is_stopword("lavoro") && !a.is_filler_any("plots"));
    }

    #[test]
    fn a_speakers_stance_and_numbers_are_not_content() {
        let a = Analyzer::new();
        let t = a.tokens("secondo me dipende, in realtà mi piace: due anni bellissimi a Torino");
        let surfaces: Vec<_> = t.iter().map(|t| t.surface.as_str()).collect();
        assert_eq!(surfaces, ["anni", "torino"]);
        let en = Analyzer::for_language(TextLanguage::English);
        let t = en.tokens("honestly we might rather look at the residual plots");
        let surfaces: Vec<_> = t.iter().map(|t| t.surface.as_str()).collect();
        assert_eq!(surfaces, ["residual", "plots"]);
    }

    #[test]
    fn numbers_in_words_are_numerals_and_ordinals_and_words_are_not() {
        for n in [
            "trecentocinquanta",
            "duemiladiciotto",
            "settantatré",
            "mila",
            "twenty-five",
            "hundred",
            "migliaia",
            "ventina",
            "thousands",
        ] {
            assert!(is_numeral(n), "{n}");
        }
        for w in [
            "primo",
            "secondo",
            "treno",
            "milano",
            "centro",
            "settembre",
            "often",
            "anni",
            "dieta",
            "quarantena",
        ] {
            assert!(!is_numeral(w), "{w}");
        }
    }

    #[test]
    fn tokens_drop_stopwords_and_stem() {
        let a = Analyzer::new();
        let t = a.tokens("Allora, cioè, il lavoro dell'amico e i lavori degli amici");
        let surfaces: Vec<_> = t.iter().map(|t| t.surface.as_str()).collect();
        assert_eq!(surfaces, ["lavoro", "amico", "lavori", "amici"]);
        assert_eq!(t[0].stem, t[2].stem);
        let mut forms = SurfaceForms::default();
        forms.add(&t);
        forms.add(&a.tokens("lavoro"));
        assert_eq!(forms.display(&t[2].stem), "lavoro");
    }
}
