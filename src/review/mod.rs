//! The analyst's review: every candidate confirmed as a new code, assigned to an existing one,
//! renamed, merged with another candidate or rejected, with an audit trail.
//!
//! Every decision is appended to `RUN/decisions.jsonl` (who, when, what, why) and that file is
//! never rewritten: undo is itself a decision that names the one it takes back. The state of a
//! review is a fold over the file, so a review can stop at any point and resume later. At the
//! end of each session the resulting codebook is written as a new version beside the earlier
//! ones (`codebook-v1.toml`, `codebook-v2.toml`, …) with a readable `.diff`.

pub mod carry;
pub mod script;
pub mod terminal;
pub mod web;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codebook::{Code, Codebook, Provenance, Status};
use crate::error::{Error, Result};
use crate::label::Candidate;

use crate::run::{RunDir, RunLock};
pub use crate::run::{CARRIED, DECISIONS};

/// What the analyst decided about a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// A new code.
    Confirm {
        /// Its name.
        name: String,
        /// Its definition.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        definition: String,
        /// Its parent code's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<String>,
    },
    /// An existing code.
    Assign {
        /// The code's id.
        code: String,
    },
    /// A better label; the candidate stays open.
    Rename {
        /// The new label.
        name: String,
    },
    /// One code with another candidate.
    Merge {
        /// The candidate it joins.
        into: String,
    },
    /// Not a code.
    Reject {
        /// Why.
        reason: String,
    },
    /// Looked at, left for later.
    Skip,
    /// A memo on the candidate (or category), nothing decided.
    Memo,
    /// One passage placed in another candidate, or out of every candidate. The decision's
    /// `candidate` is where the passage was.
    Move {
        /// The passage's id.
        passage: String,
        /// The candidate it goes to; none: out of every candidate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// Takes back an earlier decision of the same run.
    Undo {
        /// Its `seq`.
        undoes: u64,
    },
}

impl Action {
    /// The verb, for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Confirm { .. } => "confirmed",
            Action::Assign { .. } => "assigned",
            Action::Rename { .. } => "renamed",
            Action::Merge { .. } => "merged",
            Action::Reject { .. } => "rejected",
            Action::Skip => "skipped",
            Action::Move { .. } => "moved",
            Action::Memo => "noted",
            Action::Undo { .. } => "undone",
        }
    }

    /// Whether it settles the candidate (rename, skip and undo do not).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Action::Confirm { .. }
                | Action::Assign { .. }
                | Action::Merge { .. }
                | Action::Reject { .. }
        )
    }
}

/// One line of `decisions.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// 1, 2, … within the run.
    pub seq: u64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub who: String,
    /// The run (directory name and creation time).
    pub run: String,
    /// The candidate (empty for undo).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub candidate: String,
    /// What.
    #[serde(flatten)]
    pub action: Action,
    /// Why: the analyst's memo.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub memo: String,
    /// The code created or assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The candidate's label when decided.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Its key terms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_terms: Vec<String>,
    /// Its two most central quotes (a confirmed code's examples).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Its centred centroid (5 decimals), so later runs can recognise it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub centroid: Vec<f32>,
    /// For a merge: the label of the candidate merged into.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub into_label: String,
    /// For a merge: that candidate's centred centroid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub into_centroid: Vec<f32>,
    /// For a move: the passage's text, so a later run can tell whether it has the same one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

impl Decision {
    /// A decision with no memo and no context yet.
    pub fn new(seq: u64, who: &str, run: &str, candidate: &str, action: Action) -> Decision {
        Decision {
            seq,
            at: crate::run::now(),
            who: who.to_string(),
            run: run.to_string(),
            candidate: candidate.to_string(),
            action,
            memo: String::new(),
            code: None,
            label: String::new(),
            key_terms: Vec::new(),
            examples: Vec::new(),
            centroid: Vec::new(),
            into_label: String::new(),
            into_centroid: Vec::new(),
            text: String::new(),
        }
    }
}

/// Reads a decisions file; a missing file is an empty list.
pub fn read_decisions(path: &Path) -> Result<Vec<Decision>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    parse_decisions(path, &text)
}

/// The decisions of a `decisions.jsonl` text. A last line cut short (no line end: the machine
/// stopped while it was written) is left out; any other line that is not a decision is an
/// error at its line.
fn parse_decisions(path: &Path, text: &str) -> Result<Vec<Decision>> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .filter_map(|(i, l)| match serde_json::from_str(l) {
            Ok(d) => Some(Ok(d)),
            Err(_) if i + 1 == lines.len() && !l.ends_with('\n') => None,
            Err(e) => {
                Some(Err(Error::input(path, Some(i + 1), format!("not a terreno decision: {e}"))))
            }
        })
        .collect()
}

/// The decisions still in force: undone ones (and skips) removed, order kept.
pub fn effective(decisions: &[Decision]) -> Vec<&Decision> {
    let mut out: Vec<&Decision> = Vec::new();
    for d in decisions {
        match &d.action {
            Action::Undo { undoes } => out.retain(|e| !(e.run == d.run && e.seq == *undoes)),
            Action::Skip => {}
            _ => out.push(d),
        }
    }
    out
}

/// Where each candidate of one run stands after its decisions.
#[derive(Debug, Default, Clone)]
pub struct Fates<'a> {
    /// The last final decision of each candidate.
    pub last: BTreeMap<String, &'a Decision>,
    /// The analyst's label, where renamed.
    pub renamed: BTreeMap<String, String>,
    /// Passages the analyst moved: where each is now (none: out of every candidate).
    pub moved: BTreeMap<String, Option<String>>,
}

impl<'a> Fates<'a> {
    /// Folds the effective decisions of one run.
    pub fn of(effective: &[&'a Decision]) -> Fates<'a> {
        let mut f = Fates::default();
        for d in effective {
            match &d.action {
                Action::Rename { name } => {
                    f.renamed.insert(d.candidate.clone(), name.clone());
                }
                Action::Move { passage, to } => {
                    f.moved.insert(passage.clone(), to.clone());
                }
                a if a.is_final() => {
                    f.last.insert(d.candidate.clone(), d);
                }
                _ => {}
            }
        }
        f
    }

    /// Follows merges to the candidate that stands for the group, and its decision.
    pub fn resolve(&self, candidate: &str) -> (String, Option<&'a Decision>) {
        let mut cur = candidate.to_string();
        for _ in 0..=self.last.len() {
            match self.last.get(&cur) {
                Some(d) => match &d.action {
                    Action::Merge { into } => cur = into.clone(),
                    _ => return (cur, Some(*d)),
                },
                None => return (cur, None),
            }
        }
        (cur, None)
    }
}

/// The passages the run's review moved, with the cluster each is in now (-1: none).
pub fn moved_clusters(dir: &Path) -> Result<BTreeMap<String, i32>> {
    let decisions = read_decisions(&dir.join(DECISIONS))?;
    let eff = effective(&decisions);
    let moved = Fates::of(&eff).moved;
    if moved.is_empty() {
        return Ok(BTreeMap::new());
    }
    let file = CandidatesFile::read(dir)?;
    let cluster_of: BTreeMap<&str, i32> =
        file.candidates.iter().map(|c| (c.id.as_str(), c.cluster)).collect();
    Ok(moved
        .into_iter()
        .map(|(p, to)| {
            let cluster = to.and_then(|t| cluster_of.get(t.as_str()).copied()).unwrap_or(-1);
            (p, cluster)
        })
        .collect())
}

/// The codebook a run's decisions make: `base` (its latest version), plus a code for every
/// confirmed candidate or category, minus codes of this run whose confirmation was undone.
pub fn decided_codebook(
    base: &Codebook,
    decisions: &[Decision],
    run: &str,
    candidates: &[Candidate],
    categories: &[crate::label::Category],
) -> Codebook {
    let eff = effective(decisions);
    let fates = Fates::of(&eff);
    let mut book = base.clone();
    let confirmed: BTreeSet<u64> = fates
        .last
        .values()
        .filter(|d| matches!(d.action, Action::Confirm { .. }))
        .map(|d| d.seq)
        .collect();
    book.codes.retain(|c| {
        c.provenance.as_ref().is_none_or(|p| p.run != run || confirmed.contains(&p.decision))
    });
    // Categories first, so the codes confirmed under them can name them as parent.
    let is_category = |id: &str| categories.iter().any(|k| k.id == id);
    let mut ordered: Vec<&&Decision> = eff.iter().filter(|d| confirmed.contains(&d.seq)).collect();
    ordered.sort_by_key(|d| (!is_category(&d.candidate), d.seq));
    for d in ordered {
        let Action::Confirm { name, definition, parent } = &d.action else { continue };
        let id = d.code.clone().unwrap_or_else(|| book.fresh_id(name));
        if book.get(&id).is_some() {
            continue;
        }
        let mut code = Code::new(id, name.clone());
        code.guid = crate::codebook::guid_for(&code.id);
        code.definition = definition.clone();
        code.codable = !is_category(&d.candidate);
        let category = candidates
            .iter()
            .find(|c| c.id == d.candidate)
            .and_then(|c| categories.iter().find(|k| k.index == c.category))
            .and_then(|k| fates.last.get(&k.id))
            .filter(|k| matches!(k.action, Action::Confirm { .. }))
            .and_then(|k| k.code.clone());
        code.parent = parent.clone().or(category).filter(|p| book.get(p).is_some());
        code.examples = d.examples.clone();
        // The quotes of candidates merged into it are examples too.
        for m in fates.last.values() {
            if matches!(m.action, Action::Merge { .. })
                && fates.resolve(&m.candidate).0 == d.candidate
            {
                code.examples.extend(m.examples.iter().take(1).cloned());
            }
        }
        code.status = Status::Confirmed;
        code.provenance = Some(Provenance { run: run.to_string(), decision: d.seq });
        book.codes.push(code);
    }
    book
}

/// The codebook a finished run's review has made so far, read from its files (no lock, no
/// vectors): what a later run carries forward.
pub fn codebook_of(dir: &Path) -> Result<Codebook> {
    let file = CandidatesFile::read(dir)?;
    let base = match versions(dir)?.pop() {
        Some((_, path)) => Codebook::read(&path)?,
        None => Codebook::default(),
    };
    let decisions = read_decisions(&dir.join(DECISIONS))?;
    Ok(decided_codebook(&base, &decisions, &run_name(dir)?, &file.candidates, &file.categories))
}

/// Codebook versions in a run directory: `codebook-vN.toml`, sorted by N.
pub fn versions(dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    RunDir::new(dir).versions()
}

/// The name of a run in decisions and provenance: its directory name and creation time.
pub fn run_name(dir: &Path) -> Result<String> {
    let manifest = RunDir::new(dir).manifest()?;
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| "run".into());
    Ok(format!("{name} {}", manifest.created))
}

/// What a run's `candidates.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CandidatesFile {
    /// Passages in no cluster (the not coded ones included).
    pub unassigned: usize,
    /// Passages set apart as not coded: too little to code even with the talk around them.
    #[serde(default)]
    pub not_coded: usize,
    /// The categories the candidates are grouped in.
    #[serde(default)]
    pub categories: Vec<crate::label::Category>,
    /// Codes in the codebook the run compared against.
    pub codebook_codes: usize,
    /// The candidates, largest first.
    pub candidates: Vec<Candidate>,
    /// New candidate codes per document, in the documents' order.
    pub saturation: Vec<crate::label::SaturationPoint>,
}

impl CandidatesFile {
    /// The names of the run's clusters and categories, for a comparison.
    pub fn names(&self) -> crate::compare::Names {
        crate::compare::Names {
            codes: self.candidates.iter().map(|c| (c.cluster, c.id.clone())).collect(),
            category_of: self
                .candidates
                .iter()
                .filter(|c| c.category >= 0)
                .map(|c| (c.cluster, c.category))
                .collect(),
            categories: self.categories.iter().map(|k| (k.index, k.id.clone())).collect(),
        }
    }

    /// Reads a run's `candidates.json`.
    pub fn read(dir: &Path) -> Result<CandidatesFile> {
        RunDir::new(dir).finished()?;
        let path = dir.join(crate::run::CANDIDATES);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Run {
                path: dir.to_path_buf(),
                message: "no candidates.json: this is not a finished terreno run (was it run \
                          with --no-embed?)"
                    .into(),
            },
            _ => Error::io(&path, e),
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(&path, Some(e.line()), e.to_string()))
    }
}

fn round5(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| (x * 1e5).round() / 1e5).collect()
}

/// A review of one run.
#[derive(Debug)]
pub struct Session {
    /// The run directory.
    pub dir: PathBuf,
    /// The run's name in decisions.
    pub run: String,
    /// Who is reviewing.
    pub who: String,
    /// The candidates, in order.
    pub candidates: Vec<Candidate>,
    /// Each candidate's centroid.
    pub centroids: BTreeMap<String, Vec<f32>>,
    /// The latest codebook version when the session began, and its number.
    pub base: (u32, Codebook),
    /// The run's decisions so far.
    pub decisions: Vec<Decision>,
    /// The categories the candidates are grouped in; each can be renamed or confirmed as a
    /// whole (a grouping code its confirmed codes are placed under).
    pub categories: Vec<crate::label::Category>,
    /// Every passage's text, by id (a move records the text it moved).
    pub texts: BTreeMap<String, String>,
    /// The candidate each passage was clustered in.
    pub clustered_in: BTreeMap<String, String>,
    /// The run directory is this session's while it lasts.
    _lock: RunLock,
}

/// A candidate with its current label and state, for display.
#[derive(Debug, Clone)]
pub struct Standing {
    /// The label (the analyst's where renamed).
    pub label: String,
    /// The settling decision in force, if any.
    pub decision: Option<Decision>,
}

impl Session {
    /// Opens a run for review: its candidates, their centroids, the latest codebook and the
    /// decisions so far.
    pub fn open(dir: &Path, who: &str) -> Result<Session> {
        // Shared: other reviewers (a terminal, browser tabs) may decide at the same time; a
        // `terreno run` over the directory may not.
        let lock = RunDir::new(dir).lock_shared()?;
        let file = CandidatesFile::read(dir)?;
        let centroids = centroids(dir, &file.candidates)?;
        let table = RunDir::new(dir).passages()?;
        let column = |name: &str| -> Result<Vec<String>> {
            Ok(table.column(name)?.str()?.iter().map(|v| v.unwrap_or_default().into()).collect())
        };
        let texts = column("passage_id")?.into_iter().zip(column("text")?).collect();
        let clustered_in = file
            .candidates
            .iter()
            .flat_map(|c| c.passage_ids.iter().map(|p| (p.clone(), c.id.clone())))
            .collect();
        let base = match versions(dir)?.pop() {
            Some((n, path)) => (n, Codebook::read(&path)?),
            None => (0, Codebook::default()),
        };
        Ok(Session {
            dir: dir.to_path_buf(),
            run: run_name(dir)?,
            who: who.to_string(),
            candidates: file.candidates,
            centroids,
            base,
            decisions: read_decisions(&dir.join(DECISIONS))?,
            categories: file.categories,
            texts,
            clustered_in,
            _lock: lock,
        })
    }

    /// A category as a candidate of its own: its name, its codes' names as key terms.
    fn category_candidate(&self, id: &str) -> Option<Candidate> {
        let k = self.categories.iter().find(|k| k.id.eq_ignore_ascii_case(id.trim()))?;
        let mut c = self.candidates.first()?.clone();
        c.id = k.id.clone();
        c.cluster = -1;
        c.category = k.index;
        c.label = k.name.clone();
        c.key_terms = k.codes.iter().map(|id| self.standing(id).label).collect();
        c.in_vivo.clear();
        c.exemplars.clear();
        c.matches.clear();
        c.size = k.size;
        c.passage_ids.clear();
        Some(c)
    }

    fn candidate(&self, id: &str) -> Result<&Candidate> {
        self.candidates.iter().find(|c| c.id.eq_ignore_ascii_case(id.trim())).ok_or_else(|| {
            Error::Config(format!(
                "no candidate {id:?} in this run (they are {}..{})",
                self.candidates.first().map_or("", |c| c.id.as_str()),
                self.candidates.last().map_or("", |c| c.id.as_str())
            ))
        })
    }

    /// Where each candidate stands.
    pub fn standing(&self, candidate: &str) -> Standing {
        let eff = effective(&self.decisions);
        let fates = Fates::of(&eff);
        let label = fates.renamed.get(candidate).cloned().unwrap_or_else(|| {
            self.candidates
                .iter()
                .find(|c| c.id == candidate)
                .map(|c| c.label.clone())
                .or_else(|| {
                    self.categories.iter().find(|k| k.id == candidate).map(|k| k.name.clone())
                })
                .unwrap_or_default()
        });
        Standing { label, decision: fates.last.get(candidate).map(|d| (*d).clone()) }
    }

    /// The candidate a passage is in now: where the analyst last moved it, else where it was
    /// clustered (none: in no candidate).
    pub fn holder(&self, passage: &str) -> Option<String> {
        let eff = effective(&self.decisions);
        match Fates::of(&eff).moved.get(passage) {
            Some(to) => to.clone(),
            None => self.clustered_in.get(passage).cloned(),
        }
    }

    /// Candidates not yet settled, in order.
    pub fn pending(&self) -> Vec<&Candidate> {
        let eff = effective(&self.decisions);
        let fates = Fates::of(&eff);
        self.candidates.iter().filter(|c| !fates.last.contains_key(&c.id)).collect()
    }

    /// The codebook as the decisions so far make it (see [`decided_codebook`]).
    pub fn codebook(&self) -> Codebook {
        decided_codebook(
            &self.base.1,
            &self.decisions,
            &self.run,
            &self.candidates,
            &self.categories,
        )
    }

    /// Checks and records a decision: appended to `decisions.jsonl` and synced before this
    /// returns.
    pub fn decide(&mut self, candidate: &str, action: Action, memo: &str) -> Result<Decision> {
        self.refresh()?;
        if let Action::Move { passage, to } = &action {
            return self.move_passage(candidate, passage, to.as_deref(), memo);
        }
        let cand = match self.category_candidate(candidate) {
            Some(c) => {
                if !matches!(
                    action,
                    Action::Confirm { .. } | Action::Rename { .. } | Action::Skip | Action::Memo
                ) {
                    return Err(Error::Config(format!(
                        "{} is a category: it can be confirmed or renamed as a whole; decide \
                         about its codes one by one",
                        c.id
                    )));
                }
                c
            }
            None => self.candidate(candidate)?.clone(),
        };
        let book = self.codebook();
        let action = match action {
            Action::Confirm { name, definition, parent } => {
                let name = name.trim().to_string();
                if name.is_empty() {
                    return Err(Error::Config("a code needs a name".into()));
                }
                if let Some(c) = book.codes.iter().find(|c| c.name.eq_ignore_ascii_case(&name)) {
                    return Err(Error::Config(format!(
                        "a code named {:?} exists ({}): assign the candidate to it instead",
                        c.name, c.id
                    )));
                }
                let parent = match parent.filter(|p| !p.trim().is_empty()) {
                    Some(p) => Some(find_code(&book, &p, &[])?.id.clone()),
                    None => None,
                };
                Action::Confirm { name, definition: definition.trim().to_string(), parent }
            }
            Action::Assign { code } => {
                let c = find_code(&book, &code, &cand.matches)?;
                if !c.codable || c.status == Status::Retired {
                    return Err(Error::Config(format!(
                        "code {:?} is {}: choose another",
                        c.name,
                        if c.codable { "retired" } else { "a grouping code, not codable" }
                    )));
                }
                Action::Assign { code: c.id.clone() }
            }
            Action::Rename { name } if name.trim().is_empty() => {
                return Err(Error::Config("the new name is empty".into()))
            }
            Action::Rename { name } => Action::Rename { name: name.trim().to_string() },
            Action::Merge { into } => {
                let target = self.candidate(&into)?.id.clone();
                if target == cand.id {
                    return Err(Error::Config("a candidate cannot merge with itself".into()));
                }
                let eff = effective(&self.decisions);
                if Fates::of(&eff).resolve(&target).0 == cand.id {
                    return Err(Error::Config(format!(
                        "{target} is already merged into {}",
                        cand.id
                    )));
                }
                Action::Merge { into: target }
            }
            Action::Reject { reason } if reason.trim().is_empty() => {
                return Err(Error::Config("say why the candidate is rejected".into()))
            }
            Action::Reject { reason } => Action::Reject { reason: reason.trim().to_string() },
            Action::Undo { .. } => return Err(Error::Config("use Session::undo".into())),
            Action::Skip => Action::Skip,
            Action::Memo if memo.trim().is_empty() => {
                return Err(Error::Config("the memo is empty".into()))
            }
            Action::Memo => Action::Memo,
            // Handled above, by `move_passage`.
            a @ Action::Move { .. } => a,
        };
        let code = match &action {
            Action::Confirm { name, .. } => Some(book.fresh_id(name)),
            Action::Assign { code } => Some(code.clone()),
            _ => None,
        };
        let label = self.standing(&cand.id).label;
        let mut d = Decision::new(self.next_seq(), &self.who, &self.run, &cand.id, action);
        d.memo = memo.trim().to_string();
        d.code = code;
        d.label = label;
        d.key_terms = cand.key_terms.clone();
        d.examples = cand.exemplars.iter().take(2).map(|e| e.text.clone()).collect();
        d.centroid = self.centroids.get(&cand.id).map(|c| round5(c)).unwrap_or_default();
        if let Action::Merge { into } = &d.action {
            d.into_label = self.standing(into).label;
            d.into_centroid = self.centroids.get(into).map(|c| round5(c)).unwrap_or_default();
        }
        self.append(d)
    }

    /// Moves a passage from `from` (where the analyst saw it; empty: wherever it is) to `to`
    /// (none: out of every candidate).
    fn move_passage(
        &mut self,
        from: &str,
        passage: &str,
        to: Option<&str>,
        memo: &str,
    ) -> Result<Decision> {
        let passage = passage.trim();
        let Some(text) = self.texts.get(passage).cloned() else {
            return Err(Error::Config(format!("no passage {passage:?} in this run")));
        };
        let holder = self.holder(passage);
        let from = from.trim();
        if !from.is_empty() && !holder.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(from)) {
            return Err(Error::Config(format!(
                "passage {passage} is {} now, not in {from}",
                holder.map_or("in no candidate".to_string(), |h| format!("in {h}"))
            )));
        }
        let to = match to.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => Some(self.candidate(t)?.id.clone()),
            None => None,
        };
        if to == holder {
            return Err(Error::Config(format!(
                "passage {passage} is {} already",
                to.map_or("in no candidate".to_string(), |t| format!("in {t}"))
            )));
        }
        let mut d = Decision::new(
            self.next_seq(),
            &self.who,
            &self.run,
            holder.as_deref().unwrap_or(""),
            Action::Move { passage: passage.to_string(), to: to.clone() },
        );
        d.memo = memo.trim().to_string();
        d.text = text;
        if let Some(h) = &holder {
            let cand = self.candidate(h)?.clone();
            d.label = self.standing(h).label;
            d.key_terms = cand.key_terms.clone();
            d.centroid = self.centroids.get(h).map(|c| round5(c)).unwrap_or_default();
        }
        if let Some(t) = &to {
            d.into_label = self.standing(t).label;
            d.into_centroid = self.centroids.get(t).map(|c| round5(c)).unwrap_or_default();
        }
        self.append(d)
    }

    /// Takes back this reviewer's last decision in force (not a skip); `None` when there is
    /// none. Another reviewer's decisions are theirs to undo.
    pub fn undo(&mut self) -> Result<Option<Decision>> {
        self.refresh()?;
        let last = effective(&self.decisions)
            .into_iter()
            .rev()
            .find(|d| d.run == self.run && d.who == self.who)
            .map(|d| (*d).clone());
        let Some(last) = last else { return Ok(None) };
        let d = Decision::new(
            self.next_seq(),
            &self.who,
            &self.run,
            "",
            Action::Undo { undoes: last.seq },
        );
        self.append(d)?;
        Ok(Some(last))
    }

    fn next_seq(&self) -> u64 {
        self.decisions.iter().map(|d| d.seq).max().unwrap_or(0) + 1
    }

    /// Reads the decisions again: other reviewers may have decided since.
    pub fn refresh(&mut self) -> Result<()> {
        self.decisions = read_decisions(&self.dir.join(DECISIONS))?;
        Ok(())
    }

    /// Appends a decision under an exclusive lock on `decisions.jsonl`, its sequence number
    /// taken inside the lock (one more than any in the file), so reviewers deciding at the
    /// same moment never share a number and never lose a line.
    fn append(&mut self, mut d: Decision) -> Result<Decision> {
        use std::io::{Read, Seek};
        let path = self.dir.join(DECISIONS);
        let io = |e| Error::io(&path, e);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        f.lock().map_err(io)?;
        let mut text = String::new();
        f.rewind().and_then(|_| f.read_to_string(&mut text)).map_err(io)?;
        self.decisions = parse_decisions(&path, &text)?;
        d.seq = self.decisions.iter().map(|d| d.seq).max().unwrap_or(0) + 1;
        let mut line = serde_json::to_string(&d)?;
        line.push('\n');
        if !text.is_empty() && !text.ends_with('\n') {
            // A line cut short by a crash: the new one starts on a line of its own.
            line.insert(0, '\n');
        }
        f.write_all(line.as_bytes()).and_then(|_| f.sync_data()).map_err(io)?;
        self.decisions.push(d.clone());
        Ok(d)
    }

    /// Writes the codebook as a new version when the decisions changed it; returns the file and
    /// the changes.
    pub fn finish(&mut self) -> Result<Option<(PathBuf, Vec<String>)>> {
        // Every reviewer's decisions, as they stand now.
        self.refresh()?;
        let new = self.codebook();
        let (latest_n, latest) = match versions(&self.dir)?.pop() {
            Some((n, path)) => (n, Codebook::read(&path)?),
            None => (0, Codebook::default()),
        };
        if new == latest {
            return Ok(None);
        }
        let n = latest_n + 1;
        let path = self.dir.join(format!("codebook-v{n}.toml"));
        new.write(&path)?;
        let changes = new.changes_from(&latest);
        let old_text = latest.to_toml();
        let new_text = new.to_toml();
        let unified = similar::TextDiff::from_lines(&old_text, &new_text)
            .unified_diff()
            .context_radius(2)
            .header(&format!("codebook-v{latest_n}.toml"), &format!("codebook-v{n}.toml"))
            .to_string();
        let diff = format!(
            "# codebook v{latest_n} → v{n}, reviewed by {} on {}\n{}\n\n{unified}",
            self.who,
            crate::run::now(),
            changes.iter().map(|c| format!("# {c}")).collect::<Vec<_>>().join("\n"),
        );
        let diff_path = self.dir.join(format!("codebook-v{n}.diff"));
        crate::files::write_atomic(&diff_path, |f| {
            f.write_all(diff.as_bytes()).map_err(|e| Error::io(&diff_path, e))
        })?;
        Ok(Some((path, changes)))
    }
}

/// A code by id, by name (any case), or by its number among `matches` (1 = best).
pub fn find_code<'a>(
    book: &'a Codebook,
    key: &str,
    matches: &[crate::codebook::matching::CodeMatch],
) -> Result<&'a Code> {
    let key = key.trim();
    if let Some(m) =
        key.parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| matches.get(i))
    {
        if let Some(c) = book.get(&m.code) {
            return Ok(c);
        }
    }
    book.get(key)
        .or_else(|| book.codes.iter().find(|c| c.name.eq_ignore_ascii_case(key)))
        .or_else(|| book.codes.iter().find(|c| book.path(&c.id).eq_ignore_ascii_case(key)))
        .ok_or_else(|| {
            Error::Config(format!(
                "no code {key:?} in the codebook (give its id, its name or a match number)"
            ))
        })
}

/// Each candidate's centred centroid (see [`crate::cluster::centred_centroids`]), from the
/// run's embeddings and clusters.
pub fn centroids(dir: &Path, candidates: &[Candidate]) -> Result<BTreeMap<String, Vec<f32>>> {
    let (vectors, labels) = RunDir::new(dir).vectors()?;
    let k = labels.iter().filter(|&&l| l >= 0).map(|&l| l as usize + 1).max().unwrap_or(0);
    let centred = crate::cluster::centred_centroids(&vectors, &labels, k);
    Ok(candidates
        .iter()
        .filter_map(|c| centred.get(c.cluster as usize).map(|v| (c.id.clone(), v.clone())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(seq: u64, candidate: &str, action: Action) -> Decision {
        Decision::new(seq, "t", "r", candidate, action)
    }

    #[test]
    fn undo_takes_back_one_decision_and_skips_do_not_count() {
        let log = vec![
            d(1, "C01", Action::Reject { reason: "x".into() }),
            d(2, "C02", Action::Skip),
            d(
                3,
                "C01",
                Action::Confirm { name: "A".into(), definition: String::new(), parent: None },
            ),
            d(4, "", Action::Undo { undoes: 3 }),
        ];
        let eff = effective(&log);
        assert_eq!(eff.iter().map(|d| d.seq).collect::<Vec<_>>(), [1]);
        let fates = Fates::of(&eff);
        assert!(matches!(fates.last["C01"].action, Action::Reject { .. }));
        assert!(!fates.last.contains_key("C02"));
    }

    #[test]
    fn merges_resolve_to_the_candidate_standing_for_the_group() {
        let log = vec![
            d(1, "C03", Action::Merge { into: "C04".into() }),
            d(2, "C04", Action::Merge { into: "C05".into() }),
            d(3, "C05", Action::Reject { reason: "rumore".into() }),
            d(4, "C06", Action::Rename { name: "Nuovo".into() }),
        ];
        let eff = effective(&log);
        let fates = Fates::of(&eff);
        let (group, last) = fates.resolve("C03");
        assert_eq!(group, "C05");
        assert_eq!(last.unwrap().seq, 3);
        assert_eq!(fates.resolve("C06"), ("C06".to_string(), None));
        assert_eq!(fates.renamed["C06"], "Nuovo");
    }

    #[test]
    fn decisions_round_trip_through_json_lines() {
        let mut x = d(7, "C02", Action::Merge { into: "C01".into() });
        x.memo = "stessa idea, «parole» diverse".into();
        x.centroid = vec![0.12345, -0.5];
        let line = serde_json::to_string(&x).unwrap();
        assert!(
            line.contains("\"action\":\"merge\"") && line.contains("\"into\":\"C01\""),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Decision>(&line).unwrap(), x);
    }
}
