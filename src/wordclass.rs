//! Which words of a study are used as verbs: what tells a name that reads whole ("pagavo
//! l'affitto", "manca la metro") from a fragment cut across two phrases ("in cina | una
//! cultura", "è incredibile | i quartieri", "le classi differenziali | mettevano").
//!
//! No part-of-speech tagger or lexicon for Italian is maintained as a Rust crate (searched
//! crates.io for "pos tagger", "italian", "lemmatizer": only bindings to Python or to models
//! downloaded at run time), and the transcripts must not leave the machine. The study's own
//! talk says enough: a verb comes after a negation or a clitic pronoun ("non *manca*", "ci
//! *pagavo*"); a noun after an article, a demonstrative, a possessive or an article joined to
//! a preposition ("una *cultura*", "del *mercato*"). Counted over all ParlaTO interviews:
//! "manca" 30 times after the first kind and twice after the second, "dava" 23 / 4, "vive"
//! 24 / 1; "mercato" 0 / 112, "insieme" 0 / 4. A word seen as often after both, or hardly
//! seen, is judged by its ending (an infinitive, a gerund, an imperfect, a participle:
//! "usare", "poter", "andando", "vendevo", "restato").

use std::collections::HashMap;

use crate::text::{Analyzer, TextLanguage};

/// Words after which an Italian word is a verb: the negation and the clitic pronouns. Not the
/// auxiliaries, the modal verbs or the subject pronouns: adverbs come after them as often
/// ("ho sempre", "noi insieme"); participles and infinitives, which do too, have their
/// endings.
const ITALIAN_VERBAL: &[&str] = &["non", "mi", "ti", "si", "ci", "vi", "ne"];

/// Words after which an Italian word is a noun: articles, articles joined to a preposition,
/// demonstratives and possessives. Not "lo", "la", "gli", "le", which are pronouns before a
/// verb as often ("lo so", "gli piace").
const ITALIAN_NOMINAL: &[&str] = &[
    "il", "i", "un", "uno", "una", "un'", "l'", "del", "dello", "della", "dei", "degli", "delle",
    "dell'", "nel", "nello", "nella", "nei", "negli", "nelle", "nell'", "al", "allo", "alla", "ai",
    "agli", "alle", "all'", "sul", "sullo", "sulla", "sui", "sugli", "sulle", "sull'", "dal",
    "dallo", "dalla", "dai", "dagli", "dalle", "dall'", "questo", "questa", "questi", "queste",
    "quel", "quello", "quella", "quei", "quelle", "mio", "mia", "miei", "mie", "tuo", "tua", "suo",
    "sua", "suoi", "sue", "nostro", "nostra", "vostro", "vostra",
];

/// Words after which an English word is a verb: subject pronouns, negations, modals.
const ENGLISH_VERBAL: &[&str] = &[
    "i", "we", "you", "they", "he", "she", "not", "don't", "didn't", "doesn't", "can", "can't",
    "could", "would", "will", "should", "might", "must", "i'd", "we'd", "i'll", "we'll", "to",
];

/// Forms of "be" after which an English word in "-ing" is a verb ("was trying", "we're
/// looking"), not a noun ("feature engineering").
const ENGLISH_PROGRESSIVE: &[&str] = &[
    "am", "is", "are", "was", "were", "be", "been", "being", "i'm", "we're", "you're", "they're",
    "he's", "she's", "it's",
];

/// Words after which an English word is a noun: articles, demonstratives, possessives.
const ENGLISH_NOMINAL: &[&str] =
    &["the", "a", "an", "this", "these", "those", "my", "your", "our", "their", "his", "its"];

/// Italian verb endings that are rarely a noun's: infinitives (also cut short: "poter
/// lavorare"), gerunds, imperfects, the first person plural, past participles.
const ITALIAN_VERB_ENDINGS: &[&str] = &[
    "are", "ere", "ire", "er", "ando", "endo", "avo", "ava", "avano", "avamo", "evo", "eva",
    "evano", "evamo", "ivo", "iva", "ivano", "ivamo", "iamo", "ato", "ata", "ati", "ate", "ito",
    "ita", "iti", "ite", "uto", "uta", "uti", "ute",
];

/// Italian endings only a finite verb has (the first person plural, the imperfect's third
/// person plural and first plural, the past's and the future's third plural): a word after the
/// first of a name with one of them is a verb even where the study's talk says nothing of it
/// ("giorno carichiamo"). Not the infinitive ("mare", "piacere"), the gerund ("stupendo"), the
/// participle ("posto riservato") or the imperfect's singular ("bravo"): nouns and adjectives
/// end so as well.
const ITALIAN_FINITE_ENDINGS: &[&str] = &[
    "iamo", "avamo", "evamo", "ivamo", "avano", "evano", "ivano", "arono", "erono", "irono",
    "eranno", "iranno", "aranno",
];

/// Italian endings of words that are never verbs, though they come after the negation as
/// verbs do ("non tantissimi", "non solamente"): superlatives and adverbs.
const ITALIAN_NOT_VERB_ENDINGS: &[&str] = &["issimo", "issima", "issimi", "issime", "mente"];

/// Italian prepositions and quantifiers that are not stopwords and come before an article
/// ("durante la guerra", "entrambe le nazioni"): a name may have them where a verb would be.
const ITALIAN_BEFORE_ARTICLE: &[&str] = &[
    "entrambi",
    "entrambe",
    "ambedue",
    "durante",
    "dopo",
    "prima",
    "verso",
    "contro",
    "senza",
    "dentro",
    "fuori",
    "sopra",
    "sotto",
    "dietro",
    "oltre",
    "lungo",
    "presso",
    "tramite",
    "attraverso",
    "davanti",
    "intorno",
    "entro",
    "circa",
    "riguardo",
];

/// Prepositions that are not stopwords and are never a phrase's last word: a name that ends in
/// one is cut short ("bagagli senza", "comparing predicted versus").
const PREPOSITIONS: &[&str] = &[
    "senza",
    "durante",
    "verso",
    "contro",
    "presso",
    "tramite",
    "attraverso",
    "entro",
    "riguardo",
    "versus",
    "without",
    "toward",
    "towards",
    "despite",
    "unlike",
    "upon",
    "onto",
    "regarding",
    "concerning",
    "including",
];

/// Discourse adverbs and expletives of spoken Italian that NLTK's stopwords and terreno's
/// spoken list lack, said in passing ("arriva lunedì perciò", "minchia, Torino"), and the
/// transcribers' marks of what they could not hear ("[unintelligible]"): never at
/// either end of a name, nor a name alone. (As stopwords they would change every analysis of
/// the talk, its units and clusters with it; here they change names only.)
const IN_PASSING: &[&str] =
    &["perciò", "difatti", "ormai", "minchia", "cazzo", "unintelligible", "inaudible", "crosstalk"];

/// Words cut short that always stand before a noun or a name, never last in a phrase: a name
/// that ends in one is cut short ("artico al mar", "nomination miglior").
const BEFORE_A_NOUN: &[&str] = &[
    "mar",
    "gran",
    "san",
    "sant'",
    "miglior",
    "peggior",
    "bel",
    "buon",
    "qual",
    "tal",
    "signor",
    "dottor",
    "professor",
    "suor",
];

/// Ordinals and words like them, which after an article stand for a noun left unsaid: a name
/// that ends in "the first" is cut short ("costruzione del primo", "cancellazione della
/// seconda"). Before a noun they are names' words as any ("primo lavoro").
const ORDINAL_LIKE: &[&str] = &[
    "primo",
    "prima",
    "primi",
    "prime",
    "secondo",
    "seconda",
    "secondi",
    "seconde",
    "terzo",
    "terza",
    "terzi",
    "terze",
    "ultimo",
    "ultima",
    "ultimi",
    "ultime",
    "prossimo",
    "prossima",
    "prossimi",
    "prossime",
    "stesso",
    "stessa",
    "stessi",
    "stesse",
    "altro",
    "altra",
    "altri",
    "altre",
    "successivo",
    "successiva",
    "precedente",
    "first",
    "second",
    "third",
    "last",
    "next",
    "same",
    "other",
    "best",
    "latter",
    "former",
];

/// Articles and articulated prepositions: what an [`ORDINAL_LIKE`] word follows when it
/// stands for a noun.
const BEFORE_ORDINAL: &[&str] = &[
    "il", "lo", "la", "i", "gli", "le", "l'", "del", "dello", "della", "dei", "degli", "delle",
    "dell'", "al", "allo", "alla", "ai", "agli", "alle", "dal", "dalla", "dai", "dalle", "nel",
    "nello", "nella", "nei", "negli", "nelle", "sul", "sulla", "sui", "sulle", "un", "una", "the",
];

/// The first two words of prepositions of several words ("a seguito di", "a forma di", "in
/// base a"; "in terms of"): a name that ends in them is cut short ("infortunato a seguito",
/// "assistente a forma").
const OPEN_LOCUTIONS: &[(&str, &str)] = &[
    ("a", "seguito"),
    ("in", "seguito"),
    ("a", "forma"),
    ("a", "causa"),
    ("in", "base"),
    ("in", "merito"),
    ("a", "favore"),
    ("in", "mezzo"),
    ("al", "fine"),
    ("a", "partire"),
    ("per", "conto"),
    ("in", "cima"),
    ("in", "termini"),
    ("a", "livello"),
    ("in", "grado"),
    ("nei", "confronti"),
    ("a", "proposito"),
    ("in", "terms"),
    ("in", "front"),
    ("on", "top"),
    ("in", "spite"),
    ("in", "order"),
    ("on", "behalf"),
    ("by", "means"),
];

/// Words after which a word is an adjective or an adverb: the intensifiers ("very useful",
/// "molto bello"). A word seen after them more often than after a noun's companions is no
/// name on its own: an analyst does not call a code "useful" or "straightforward".
const ENGLISH_INTENSIFIERS: &[&str] = &[
    "very",
    "quite",
    "extremely",
    "fairly",
    "rather",
    "somewhat",
    "incredibly",
    "super",
    "pretty",
];
const ITALIAN_INTENSIFIERS: &[&str] =
    &["molto", "troppo", "abbastanza", "piuttosto", "veramente", "davvero", "estremamente"];

/// The articles: what a name's middle word is when its first word must be a verb ("pagavo
/// l'affitto", not "cina una cultura").
const ITALIAN_ARTICLES: &[&str] =
    &["il", "lo", "la", "i", "gli", "le", "l'", "un", "uno", "una", "un'"];
const ENGLISH_ARTICLES: &[&str] = &["the", "a", "an"];

/// Whether `word` ends in one of `endings` with at least two letters before it ("mare" has
/// no infinitive's "-are").
fn has_ending(word: &str, endings: &[&str]) -> bool {
    endings.iter().any(|e| word.len() > e.len() + 1 && word.ends_with(e))
}

/// How often each word of a corpus comes after a verb's companions and after a noun's.
#[derive(Debug, Default)]
pub struct WordUse {
    /// (after a verb's companion, after a noun's), per analysis word.
    counts: HashMap<String, (u32, u32)>,
    /// How often each word comes after an intensifier.
    intensified: HashMap<String, u32>,
    language: Option<TextLanguage>,
}

impl WordUse {
    /// Counts the words of `texts` as `analyzer` reads them.
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>, analyzer: &Analyzer) -> Self {
        let language = analyzer.language();
        let (verbal, nominal, intensifiers) = match language {
            TextLanguage::Italian => (ITALIAN_VERBAL, ITALIAN_NOMINAL, ITALIAN_INTENSIFIERS),
            TextLanguage::English => (ENGLISH_VERBAL, ENGLISH_NOMINAL, ENGLISH_INTENSIFIERS),
        };
        let mut counts: HashMap<String, (u32, u32)> = HashMap::new();
        let mut intensified: HashMap<String, u32> = HashMap::new();
        for text in texts {
            let words = analyzer.words(text);
            for pair in words.windows(2) {
                let (before, word) = (pair[0].as_str(), &pair[1]);
                if intensifiers.contains(&before) {
                    *intensified.entry(word.clone()).or_default() += 1;
                }
                let v = verbal.contains(&before)
                    || language == TextLanguage::English
                        && word.ends_with("ing")
                        && ENGLISH_PROGRESSIVE.contains(&before);
                let n = nominal.contains(&before);
                if v || n {
                    let c = counts.entry(word.clone()).or_default();
                    c.0 += u32::from(v);
                    c.1 += u32::from(n);
                }
            }
        }
        WordUse { counts, intensified, language: Some(language) }
    }

    /// Whether `word` is used as a verb in this corpus: more often after a verb's companions
    /// than after a noun's, or else by its ending.
    pub fn is_verb(&self, word: &str) -> bool {
        if self.never_verb(word) {
            return false;
        }
        self.seen_as_verb(word).unwrap_or_else(|| match self.language {
            Some(TextLanguage::Italian) => has_ending(word, ITALIAN_VERB_ENDINGS),
            Some(TextLanguage::English) => {
                word.len() > 4 && (word.ends_with("ing") || word.ends_with("ed"))
            }
            None => false,
        })
    }

    /// Whether `word` is used as an adjective or an adverb: seen at least twice after an
    /// intensifier, and more often than after a noun's companions ("very useful" 17 times in
    /// the PDPilot interviews, "a useful" once; "molto tempo" is rarer than "il tempo").
    fn is_modifier(&self, word: &str) -> bool {
        let after_intensifier = self.intensified.get(word).copied().unwrap_or(0);
        let after_determiner = self.counts.get(word).map_or(0, |c| c.1);
        after_intensifier >= 2 && after_intensifier > after_determiner
    }

    /// Whether `word`, a name on its own, is a verb the talk uses as one and not an infinitive
    /// or a gerund: "chiamava", "kept" name no code, "vivere", "highlighting" may (grounded
    /// theory codes with gerunds). Measured (seeds 7 / 42): "chiamava" → "angelina piangeva"
    /// on ParlaTO, "kept" → "condition" on PDPilot (with English "i" no longer taken for an
    /// article: "unintelligible i kept"); SIB-200 code fidelity 62.2% → 64.2% at seed 7, the
    /// rest as before.
    fn is_finite_alone(&self, word: &str) -> bool {
        let open = match self.language {
            Some(TextLanguage::English) => &["ing"][..],
            _ => &["are", "ere", "ire", "rre", "ando", "endo"][..],
        };
        self.seen_as_verb(word) == Some(true) && !has_ending(word, open)
    }

    /// Whether `word` is, by its ending, an adverb or a superlative ("tantissimi",
    /// "solamente"; English "really"), whatever words come before it.
    fn never_verb(&self, word: &str) -> bool {
        let endings: &[&str] = match self.language {
            Some(TextLanguage::English) => &["ly"],
            _ => ITALIAN_NOT_VERB_ENDINGS,
        };
        has_ending(word, endings)
    }

    /// Whether a word after the first of a name is a verb: as the study's talk uses it, or,
    /// where the talk says nothing, by an ending only a finite verb has (Italian).
    fn is_later_verb(&self, word: &str) -> bool {
        if self.never_verb(word) {
            return false;
        }
        self.seen_as_verb(word).unwrap_or_else(|| {
            self.language == Some(TextLanguage::Italian) && has_ending(word, ITALIAN_FINITE_ENDINGS)
        })
    }

    /// Whether `word` is seen more often after a verb's companions than after a noun's; `None`
    /// when it is seen as often after both, or fewer than twice after either ("in aurora"
    /// once after "io" does not make a verb).
    fn seen_as_verb(&self, word: &str) -> Option<bool> {
        self.counts.get(word).filter(|(v, n)| v != n && v + n >= 2).map(|(v, n)| v > n)
    }

    /// Whether a phrase of two words or more ends where its sense is not complete: in a
    /// preposition ("bagagli senza"), in a word cut short that stands before a noun ("artico
    /// al mar"), in an ordinal after an article ("costruzione del primo"), or in the opening
    /// of a preposition of several words ("infortunato a seguito"). The last three took seven
    /// fragments out of SIB-200's names ("rio delle amazzoni" for "artico al mar", "miglior
    /// montaggio" for "nomination miglior"; ParlaTO's did not change), and code-name fidelity
    /// rose from 58.8% / 64.2% to 62.2% / 69.6% (seeds 7 / 42; over seeds 1–6 mean 63.5% →
    /// 63.6%).
    fn cut_short(&self, words: &[&str]) -> bool {
        let n = words.len();
        let (before, last) = (words[n - 2], words[n - 1]);
        PREPOSITIONS.contains(&last)
            || BEFORE_A_NOUN.contains(&last)
            || ORDINAL_LIKE.contains(&last) && BEFORE_ORDINAL.contains(&before)
            || OPEN_LOCUTIONS.contains(&(before, last))
            || self.language == Some(TextLanguage::Italian)
                && has_ending(last, &["mente"])
                && !self.is_verb(before)
    }

    /// Whether a phrase (analysis words joined by spaces) reads whole: a single word is not an
    /// adjective or an adverb ("useful"), a phrase is not cut short (see `cut_short`: "bagagli
    /// senza", "costruzione del primo"), an article in its middle follows a verb ("pagavo l'affitto", not "aurora la zona"), and a verb in it
    /// follows a verb or a function word ("imparato a gestire", "posto per lavorare",
    /// "quartiere che cambia"), not a noun or an adjective ("dialetto ascoltavo", "classi
    /// differenziali mettevano", "ebrei andavano vestiti"), unless the name begins with a
    /// verb. A verb after the first word is judged by how the corpus uses it, or by an ending
    /// only a finite verb has: an ending of any verb form would take "feature engineering" for
    /// a noun and a verb.
    pub fn reads_whole(&self, phrase: &str, analyzer: &Analyzer) -> bool {
        let words: Vec<&str> = phrase.split(' ').collect();
        let articles = match self.language {
            Some(TextLanguage::English) => ENGLISH_ARTICLES,
            _ => ITALIAN_ARTICLES,
        };
        let n = words.len();
        if IN_PASSING.contains(&words[0]) || IN_PASSING.contains(&words[n - 1]) {
            return false;
        }
        if n < 2 {
            return !self.is_modifier(phrase) && !self.is_finite_alone(phrase);
        }
        // English "i" is the pronoun, not the Italian article: a clause's subject.
        if self.language == Some(TextLanguage::English) && words.contains(&"i") {
            return false;
        }
        if self.cut_short(&words) {
            return false;
        }
        let verb_or_preposition = |w: &str| self.is_verb(w) || ITALIAN_BEFORE_ARTICLE.contains(&w);
        if (1..n - 1).any(|i| articles.contains(&words[i]) && !verb_or_preposition(words[i - 1])) {
            return false;
        }
        // A verb after a noun or an adjective, anywhere after the first word, unless the name
        // begins with a verb. Function words are not judged ("per", "la" come after "non" as
        // well).
        self.is_verb(words[0])
            || (1..n).all(|i| {
                analyzer.is_stopword(words[i])
                    || analyzer.is_stopword(words[i - 1])
                    || self.is_verb(words[i - 1])
                    || !self.is_later_verb(words[i])
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_nouns_are_told_apart_by_the_words_before_them() {
        let talk = [
            "della cina, nella cina di oggi, la cina una cultura diversa",
            "non manca niente ma ci manca la metro, mi manca la metro, della metro",
            "pagavo l'affitto, non pagavo mai tardi, ci pagavo le bollette",
            "nella zona aurora, della zona, in aurora la zona cambia",
            "le classi differenziali mettevano i bambini, non mettevano nessuno, si mettevano",
            "gli ebrei andavano vestiti così, ci andavano, non andavano",
            "non lavorare mai, il poter dire, non poter dire, io aurora, non la vedo, non la sento",
            "al chiuso, i negozi, non tantissimi, non tantissimi",
            "mi chiamava, non chiamava, ci chiamava, non vivere così, non vivere lì",
        ];
        let use_ = WordUse::new(talk, &Analyzer::for_language(TextLanguage::Italian));
        assert!(use_.is_verb("manca") && use_.is_verb("pagavo") && use_.is_verb("mettevano"));
        assert!(!use_.is_verb("cina") && !use_.is_verb("zona") && !use_.is_verb("metro"));
        // Seen once, or as often after both: by its ending.
        assert!(use_.is_verb("lavorare") && use_.is_verb("poter") && !use_.is_verb("aurora"));
        // Never seen after either: by its ending.
        assert!(use_.is_verb("usare") && use_.is_verb("vendevo") && !use_.is_verb("scuola"));
        assert!(use_.is_verb("restato"));
        let it = Analyzer::for_language(TextLanguage::Italian);
        for whole in [
            "manca la metro",
            "pagavo l'affitto",
            "zona aurora",
            "quartiere che cambia",
            "posto per lavorare",
            "durante la guerra",
            "durante la gravidanza",
            "restato un'icona",
            "poter lavorare",
            "entrambe le nazioni",
            // "tantissimi" comes after "non", but is no verb.
            "chiuso tantissimi negozi",
            // An ordinal before its noun, or after a noun; a locution's noun on its own.
            "primo lavoro",
            "giorno prima",
            "forma della terra",
            "seguito del film",
            // An adverb after a verb.
            "parlare liberamente",
            // An infinitive alone: grounded theory codes with gerunds and infinitives.
            "vivere",
        ] {
            assert!(use_.reads_whole(whole, &it), "{whole}");
        }
        for fragment in [
            "cina una cultura",
            "aurora la zona",
            "classi differenziali mettevano",
            "ebrei andavano vestiti",
            // Never seen in the talk, but only a verb ends so.
            "giorno carichiamo",
            "bagagli senza",
            // Its sense is cut short.
            "artico al mar",
            "nomination miglior",
            "costruzione del primo",
            "cancellazione della seconda",
            "infortunato a seguito",
            "assistente a forma",
            "finlandia specialmente",
            // Said in passing.
            "minchia torino",
            "arriva lunedì perciò",
            "cinema ormai",
            // A finite verb alone.
            "chiamava",
        ] {
            assert!(!use_.reads_whole(fragment, &it), "{fragment}");
        }
    }

    #[test]
    fn english_verbs_before_an_article() {
        let talk =
            ["we compute the distance", "the distance is large", "to compute a plot", "a distance"];
        let en = Analyzer::for_language(TextLanguage::English);
        let use_ = WordUse::new(talk, &en);
        assert!(use_.reads_whole("compute the distance", &en));
        assert!(use_.reads_whole("predicting the target", &en));
        assert!(use_.reads_whole("feature engineering", &en));
        assert!(!use_.reads_whole("distance the plot", &en));
        assert!(!use_.reads_whole("comparing predicted versus", &en));
        assert!(
            !use_.reads_whole("plot the same", &en) && !use_.reads_whole("plots in terms", &en)
        );
        assert!(use_.reads_whole("first plot", &en) && use_.reads_whole("same plot", &en));
        let talk = ["i was trying", "we're trying to", "feature engineering is", "the difference"];
        let use_ = WordUse::new(talk, &en);
        assert!(!use_.reads_whole("histogram difference trying", &en));
        assert!(use_.reads_whole("feature engineering", &en));
        let talk = ["it was very useful", "super useful", "a useful plot", "the plot", "a plot"];
        let use_ = WordUse::new(talk, &en);
        assert!(!use_.reads_whole("useful", &en));
        assert!(!use_.reads_whole("unintelligible i kept", &en));
        let talk = ["we kept the plots", "i kept it", "they kept", "keep highlighting", "a plot"];
        let use_ = WordUse::new(talk, &en);
        assert!(!use_.reads_whole("kept", &en) && use_.reads_whole("highlighting", &en));
        assert!(use_.reads_whole("plot", &en) && use_.reads_whole("useful plot", &en));
    }
}
