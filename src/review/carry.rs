//! Carry forward: a new run starts from the codebook and the decisions of an earlier one.
//!
//! A candidate whose centroid is close to one an earlier review settled takes that decision:
//! a rejected one comes back marked rejected, a confirmed or assigned one as its code, a
//! renamed one with the analyst's name, and clusters matching candidates that were merged are
//! merged into one before they are described. Every other candidate is compared with the
//! codebook: it fits an existing code or is proposed as new.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{effective, read_decisions, versions, Action, Decision, Fates, CARRIED, DECISIONS};
use crate::codebook::matching::{rank, CodeMatch, Prior, Proposal};
use crate::codebook::{Codebook, Status};
use crate::error::{Error, Result};
use crate::label::Candidate;

/// A candidate an earlier review decided about.
#[derive(Debug, Clone)]
pub struct Earlier {
    /// Its run.
    pub run: String,
    /// Its id there.
    pub candidate: String,
    /// Its label (the analyst's where renamed).
    pub label: String,
    /// Its centroid.
    pub centroid: Vec<f32>,
    /// `rejected`, `confirmed`, `assigned`, `renamed` or `open`.
    pub decision: String,
    /// The reason, for a rejection.
    pub reason: String,
    /// The code it became.
    pub code: Option<String>,
    /// The candidate standing for its merge group (itself when not merged).
    pub group: String,
    /// Whether the analyst renamed it.
    pub renamed: bool,
}

/// What a run starts from.
#[derive(Debug, Clone, Default)]
pub struct Carry {
    /// The codebook.
    pub codebook: Codebook,
    /// Where it came from, for the summary.
    pub codebook_source: Option<PathBuf>,
    /// Candidates of earlier runs with a decision.
    pub earlier: Vec<Earlier>,
    /// Every earlier decision, oldest first, to be kept in the new run's `decisions-carried.jsonl`.
    pub history: Vec<Decision>,
    /// Passages earlier reviews moved, the latest move of each.
    pub moves: Vec<Moved>,
}

/// A passage an earlier review moved.
#[derive(Debug, Clone)]
pub struct Moved {
    /// Its id.
    pub passage: String,
    /// Its text then.
    pub text: String,
    /// The centroid of the candidate it went to; none: it went out of every candidate.
    pub to: Option<Vec<f32>>,
}

impl Carry {
    /// Loads the codebook (`codebook` plus the codes the review of `from` created, else the
    /// latest version in `from`) and the decisions of `from` (its own and those it carried).
    pub fn load(codebook: Option<&Path>, from: Option<&Path>) -> Result<Carry> {
        let mut carry = Carry::default();
        if let Some(dir) = from {
            if !dir.join("manifest.json").exists() {
                return Err(Error::Run {
                    path: dir.to_path_buf(),
                    message: "not a terreno run directory (no manifest.json)".into(),
                });
            }
            carry.history = read_decisions(&dir.join(CARRIED))?;
            carry.history.extend(read_decisions(&dir.join(DECISIONS))?);
            if let Some((_, path)) = versions(dir)?.pop() {
                carry.codebook = Codebook::read(&path)?;
                carry.codebook_source = Some(path);
            }
            if dir.join(crate::run::CANDIDATES).exists() {
                // The codebook as the decisions make it: a review that stopped before it wrote
                // its version (a server killed) loses nothing.
                carry.codebook = super::codebook_of(dir)?;
            }
        }
        if let Some(path) = codebook {
            // The analyst's file wins; codes the earlier review created that it lacks are kept.
            let mut book = Codebook::read(path)?;
            for code in carry.codebook.codes.iter().filter(|c| c.provenance.is_some()) {
                if book.get(&code.id).is_none() && book.codes.iter().all(|c| c.guid != code.guid) {
                    let mut code = code.clone();
                    code.parent = code.parent.filter(|p| book.get(p).is_some());
                    book.codes.push(code);
                }
            }
            carry.codebook = book.validated(path)?;
            carry.codebook_source = Some(path.to_path_buf());
        }
        carry.earlier = earlier(&carry.history);
        let mut moves: BTreeMap<&str, Moved> = BTreeMap::new();
        for d in effective(&carry.history) {
            if let Action::Move { passage, to } = &d.action {
                let to = match to {
                    Some(_) if d.into_centroid.is_empty() => continue,
                    Some(_) => Some(d.into_centroid.clone()),
                    None => None,
                };
                moves.insert(passage, Moved { passage: passage.clone(), text: d.text.clone(), to });
            }
        }
        carry.moves = moves.into_values().collect();
        Ok(carry)
    }

    /// Whether there is anything to carry.
    pub fn is_empty(&self) -> bool {
        self.codebook.codes.is_empty() && self.history.is_empty()
    }

    /// What a cluster of this run is matched against: each earlier candidate by its centroid,
    /// and each merge group as a whole, by the mean direction of its members' centroids (as the
    /// member standing for it): two unlike candidates an analyst merged make a cluster whose
    /// centroid is close to neither alone.
    fn standing(&self) -> Vec<(&Earlier, Vec<f32>)> {
        let mut groups: BTreeMap<(&str, &str, usize), (Vec<f32>, usize)> = BTreeMap::new();
        for e in &self.earlier {
            let dim = e.centroid.len();
            let (sum, n) = groups
                .entry((e.run.as_str(), e.group.as_str(), dim))
                .or_insert_with(|| (vec![0.0; dim], 0));
            sum.iter_mut().zip(&e.centroid).for_each(|(s, v)| *s += v);
            *n += 1;
        }
        let wholes = groups.into_iter().filter(|(_, (_, n))| *n >= 2).filter_map(
            |((run, group, _), (mut sum, _))| {
                crate::embed::normalize(&mut sum);
                let e = self.earlier.iter().find(|o| o.run == run && o.candidate == group)?;
                Some((e, sum))
            },
        );
        self.earlier.iter().map(|e| (e, e.centroid.clone())).chain(wholes).collect()
    }

    /// The one of `standing` closest to `centroid`, at or above `threshold`.
    fn closest<'a>(
        standing: &[(&'a Earlier, Vec<f32>)],
        centroid: &[f32],
        threshold: f32,
    ) -> Option<(&'a Earlier, f32)> {
        standing
            .iter()
            .filter(|(_, v)| v.len() == centroid.len())
            .map(|(e, v)| (*e, crate::embed::cosine(centroid, v)))
            .filter(|(_, s)| *s >= threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Joins clusters whose closest earlier candidates were merged into one; renumbers by size.
    /// Returns how many clusters were joined away.
    pub fn merge_clusters(
        &self,
        vectors: &[Vec<f32>],
        labels: &mut [i32],
        threshold: f32,
    ) -> usize {
        let k = labels.iter().filter(|&&l| l >= 0).map(|&l| l as usize + 1).max().unwrap_or(0);
        let centroids = crate::cluster::centred_centroids(vectors, labels, k);
        let sizes: BTreeMap<&str, usize> = self.earlier.iter().fold(BTreeMap::new(), |mut m, e| {
            *m.entry(e.group.as_str()).or_default() += 1;
            m
        });
        let mut first_of_group: BTreeMap<String, i32> = BTreeMap::new();
        let mut map: Vec<i32> = (0..k as i32).collect();
        let standing = self.standing();
        for (c, centroid) in centroids.iter().enumerate() {
            let Some((e, _)) = Self::closest(&standing, centroid, threshold) else { continue };
            if sizes.get(e.group.as_str()).copied().unwrap_or(0) < 2 {
                continue;
            }
            let key = format!("{}\u{0}{}", e.run, e.group);
            let target = *first_of_group.entry(key).or_insert(c as i32);
            map[c] = target;
        }
        let joined = map.iter().enumerate().filter(|(c, &t)| *c as i32 != t).count();
        if joined > 0 {
            let raw: Vec<i32> =
                labels.iter().map(|&l| if l >= 0 { map[l as usize] } else { l }).collect();
            labels.copy_from_slice(&crate::cluster::renumber(&raw));
        }
        joined
    }

    /// Places the passages earlier reviews moved: a passage of this run with the same id and
    /// text goes to the cluster whose centroid is closest to that of the candidate it was moved
    /// to (at or above `threshold`; none that close: it stays), or out of every cluster. Returns
    /// how many were placed.
    pub fn apply_moves(
        &self,
        passages: &[(&str, &str)],
        vectors: &[Vec<f32>],
        labels: &mut [i32],
        threshold: f32,
    ) -> usize {
        if self.moves.is_empty() {
            return 0;
        }
        let k = labels.iter().filter(|&&l| l >= 0).map(|&l| l as usize + 1).max().unwrap_or(0);
        let centroids = crate::cluster::centred_centroids(vectors, labels, k);
        let index: BTreeMap<&str, usize> =
            passages.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
        let mut placed = 0;
        for m in &self.moves {
            let Some(&i) = index.get(m.passage.as_str()) else { continue };
            if passages[i].1 != m.text {
                continue;
            }
            let target = match &m.to {
                None => -1,
                Some(c) => {
                    let best = centroids
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.len() == c.len())
                        .map(|(j, v)| (j, crate::embed::cosine(c, v)))
                        .filter(|(_, s)| *s >= threshold)
                        .max_by(|a, b| a.1.total_cmp(&b.1));
                    match best {
                        Some((j, _)) => j as i32,
                        None => continue,
                    }
                }
            };
            if labels[i] != target {
                labels[i] = target;
                placed += 1;
            }
        }
        placed
    }

    /// Sets each candidate's matches and proposal: the earlier decision it matches, else the
    /// codebook's best code when it fits (`CodebookConfig::fits`: at or above `fit`, or at
    /// least `lead` above the next code); earlier decisions from `carry` on. Both use the
    /// centred centroids.
    pub fn annotate(
        &self,
        candidates: &mut [Candidate],
        centred: &[Vec<f32>],
        code_vectors: &[(String, Vec<f32>)],
        codebook: &crate::config::CodebookConfig,
    ) {
        let threshold = codebook.carry;
        let vectors: Vec<Vec<f32>> = code_vectors.iter().map(|(_, v)| v.clone()).collect();
        let standing = self.standing();
        for cand in candidates.iter_mut() {
            let Some(centroid) = centred.get(cand.cluster as usize) else { continue };
            cand.matches = rank(centroid, &vectors, 3)
                .into_iter()
                .map(|(i, s)| CodeMatch {
                    code: code_vectors[i].0.clone(),
                    name: self.codebook.path(&code_vectors[i].0),
                    similarity: s,
                })
                .collect();
            let next = cand.matches.get(1).map(|m| m.similarity);
            if let Some(best) = cand.matches.first().filter(|m| codebook.fits(m.similarity, next)) {
                cand.proposal = Proposal::Existing;
                cand.code = Some(best.code.clone());
            }
            let Some((found, sim)) = Self::closest(&standing, centroid, threshold) else {
                continue;
            };
            // A merged candidate takes the decision and name of the one standing for its group.
            let e = self
                .earlier
                .iter()
                .find(|o| o.run == found.run && o.candidate == found.group)
                .unwrap_or(found);
            let merged: Vec<String> = self
                .earlier
                .iter()
                .filter(|o| {
                    o.run == found.run && o.group == found.group && o.candidate != found.candidate
                })
                .map(|o| o.candidate.clone())
                .collect();
            cand.prior = Some(Prior {
                run: found.run.clone(),
                candidate: found.candidate.clone(),
                label: e.label.clone(),
                decision: e.decision.clone(),
                reason: e.reason.clone(),
                similarity: sim,
                merged,
            });
            if e.renamed {
                cand.label = e.label.clone();
            }
            match e.decision.as_str() {
                "rejected" => {
                    cand.proposal = Proposal::Rejected;
                    cand.code = None;
                }
                "confirmed" | "assigned" => {
                    let live = e.code.as_deref().and_then(|c| self.codebook.get(c));
                    if let Some(code) = live.filter(|c| c.status != Status::Retired) {
                        cand.proposal = Proposal::Coded;
                        cand.code = Some(code.id.clone());
                        cand.label = code.name.clone();
                    }
                }
                _ => {}
            }
        }
    }
}

/// The earlier candidates with a decision in force, from every run in the history.
fn earlier(history: &[Decision]) -> Vec<Earlier> {
    let eff = effective(history);
    let mut runs: BTreeMap<&str, Vec<&Decision>> = BTreeMap::new();
    for d in &eff {
        runs.entry(d.run.as_str()).or_default().push(d);
    }
    let mut out = Vec::new();
    for (run, decisions) in runs {
        let fates = Fates::of(&decisions);
        // Every candidate with any decision, with the last centroid and label recorded for it.
        let mut seen: BTreeMap<&str, (String, Vec<f32>)> = BTreeMap::new();
        for d in &decisions {
            // A merge target need not have a decision of its own: the merge recorded it.
            if !d.into_centroid.is_empty() {
                if let Action::Merge { into } = &d.action {
                    seen.entry(into.as_str())
                        .or_insert_with(|| (d.into_label.clone(), d.into_centroid.clone()));
                }
            }
            if !d.centroid.is_empty() {
                seen.insert(d.candidate.as_str(), (d.label.clone(), d.centroid.clone()));
            }
        }
        for (candidate, (label, centroid)) in seen {
            let (group, last) = fates.resolve(candidate);
            let renamed = fates.renamed.get(candidate);
            let (decision, reason, code) = match last.map(|l| &l.action) {
                Some(Action::Reject { reason }) => ("rejected", reason.clone(), None),
                Some(Action::Confirm { .. }) => {
                    ("confirmed", String::new(), last.and_then(|l| l.code.clone()))
                }
                Some(Action::Assign { code }) => ("assigned", String::new(), Some(code.clone())),
                _ if renamed.is_some() => ("renamed", String::new(), None),
                _ => ("open", String::new(), None),
            };
            out.push(Earlier {
                run: run.to_string(),
                candidate: candidate.to_string(),
                label: renamed.cloned().unwrap_or(label),
                centroid,
                decision: decision.to_string(),
                reason,
                code,
                group,
                renamed: renamed.is_some(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codebook::Code;

    fn candidate(cluster: i32) -> Candidate {
        serde_json::from_value(serde_json::json!({
            "id": format!("C{cluster:02}"), "cluster": cluster, "label": "x", "key_terms": [],
            "in_vivo": [], "exemplars": [], "size": 5, "cohesion": 0.5, "documents": 2,
            "speakers": 2, "top_speaker_share": 0.5, "single_speaker": false, "passage_ids": []
        }))
        .unwrap()
    }

    fn unit(v: [f32; 4]) -> Vec<f32> {
        let mut v = v.to_vec();
        crate::embed::normalize(&mut v);
        v
    }

    /// The proposal of each of three centroids against `codes` of the codebook.
    fn proposals(codes: usize, fit: f32, lead: f32) -> Vec<Option<String>> {
        let mut carry = Carry::default();
        let ids = ["a", "b", "c"];
        for id in &ids[..codes] {
            carry.codebook.codes.push(Code::new(*id, id.to_uppercase()));
        }
        let code_vectors: Vec<(String, Vec<f32>)> = ids[..codes]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut v = [0f32; 4];
                v[i] = 1.0;
                (id.to_string(), v.to_vec())
            })
            .collect();
        let centred = vec![
            unit([0.10, 0.02, 0.0, 0.99]), // small similarities, clearly code a
            unit([0.10, 0.08, 0.0, 0.99]), // small, and a and b alike
            unit([0.20, 0.18, 0.0, 0.96]), // close to a (and to b)
        ];
        let mut candidates: Vec<Candidate> = (0..3).map(candidate).collect();
        let config = crate::config::CodebookConfig { fit, lead, ..Default::default() };
        carry.annotate(&mut candidates, &centred, &code_vectors, &config);
        candidates.iter().map(|c| c.code.clone()).collect()
    }

    #[test]
    fn a_candidate_fits_a_code_it_is_close_to_or_clearly_nearest() {
        let a = Some("a".to_string());
        assert_eq!(proposals(3, 0.15, 0.04), [a.clone(), None, a.clone()]);
        // `fit` alone when the lead is switched off.
        assert_eq!(proposals(3, 0.15, 1.0), [None, None, a.clone()]);
        // A codebook of one code: no lead over another.
        assert_eq!(proposals(1, 0.15, 0.04), [None, None, a]);
    }
}
