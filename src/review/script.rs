//! Decisions from a file (`terreno review RUN --decisions FILE`), for scripted use:
//!
//! ```toml
//! [[decision]]
//! candidate = "C01"
//! action = "confirm"          # confirm | assign | rename | merge | reject | skip | memo | move | undo
//! name = "Vita di quartiere"  # confirm, rename
//! definition = "…"            # confirm (optional)
//! parent = "luoghi"           # confirm (optional): a code's id or name
//! code = "lavoro"             # assign: a code's id or name
//! into = "C02"                # merge
//! reason = "…"                # reject
//! passage = "P01:12"          # move: the passage (candidate: where it is, optional)
//! to = "C03"                  # move: where it goes; "" takes it out of every candidate
//! memo = "…"                  # any (optional)
//! ```
//!
//! A decision the run already has in force (the same action on the same candidate) is not
//! recorded twice, so applying a file again changes nothing.

use std::path::Path;

use serde::Deserialize;

use super::{Action, Session};
use crate::error::{Error, Result};

/// One decision as a `[[decision]]` of the file or the review page states it: the action's
/// name and the fields it needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The candidate (or category) decided about; for a move, where the passage is.
    #[serde(default)]
    pub candidate: String,
    /// confirm, assign, rename, merge, reject, skip, memo, move or undo.
    pub action: String,
    /// The code's name (confirm), the new label (rename).
    #[serde(default)]
    pub name: String,
    /// The code's definition (confirm).
    #[serde(default)]
    pub definition: String,
    /// Its parent code (confirm).
    #[serde(default)]
    pub parent: Option<String>,
    /// The code assigned.
    #[serde(default)]
    pub code: String,
    /// The candidate merged into.
    #[serde(default)]
    pub into: String,
    /// Why it is rejected.
    #[serde(default)]
    pub reason: String,
    /// The passage moved.
    #[serde(default)]
    pub passage: String,
    /// Where it goes (empty: out of every candidate).
    #[serde(default)]
    pub to: String,
    /// The analyst's memo.
    #[serde(default)]
    pub memo: String,
}

impl Entry {
    /// The action it states (`None`: undo), or what is wrong with it.
    pub fn to_action(&self) -> std::result::Result<Option<Action>, String> {
        let action = match self.action.trim().to_lowercase().as_str() {
            "confirm" => Action::Confirm {
                name: self.name.clone(),
                definition: self.definition.clone(),
                parent: self.parent.clone().filter(|p| !p.trim().is_empty()),
            },
            "assign" => Action::Assign { code: self.code.clone() },
            "rename" => Action::Rename { name: self.name.clone() },
            "merge" => Action::Merge { into: self.into.clone() },
            "reject" => Action::Reject { reason: self.reason.clone() },
            "skip" => Action::Skip,
            "memo" => Action::Memo,
            "move" if self.passage.trim().is_empty() => {
                return Err("a move names the passage it moves".into())
            }
            "move" => Action::Move {
                passage: self.passage.trim().to_string(),
                to: Some(self.to.trim().to_string()).filter(|t| !t.is_empty()),
            },
            "undo" => return Ok(None),
            other => {
                return Err(format!(
                    "action {other:?}: use confirm, assign, rename, merge, reject, skip, memo, \
                     move or undo"
                ))
            }
        };
        if self.candidate.trim().is_empty() && !matches!(action, Action::Move { .. }) {
            return Err("the decision names no candidate".into());
        }
        Ok(Some(action))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    decision: Vec<Entry>,
}

/// What applying a file did.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// Decisions recorded.
    pub recorded: usize,
    /// Decisions already in force, not recorded again.
    pub unchanged: usize,
}

/// Applies the decisions of `path` in order. A bad entry stops there with an error naming its
/// line; the decisions before it stay recorded.
pub fn apply(session: &mut Session, path: &Path) -> Result<Applied> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let file: File = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        Error::input(path, line, e.message().to_string())
    })?;
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[decision]]"))
        .map(|(i, _)| i + 1)
        .collect();
    let mut applied = Applied::default();
    for (n, e) in file.decision.into_iter().enumerate() {
        let line = lines.get(n).copied();
        let bad = |m: String| Error::input(path, line, m);
        let Some(action) = e.to_action().map_err(bad)? else {
            session.undo().map_err(|err| bad(err.to_string()))?;
            applied.recorded += 1;
            continue;
        };
        let noted = matches!(action, Action::Memo)
            && session.decisions.iter().any(|d| {
                matches!(d.action, Action::Memo)
                    && d.candidate.eq_ignore_ascii_case(e.candidate.trim())
                    && d.memo == e.memo.trim()
            });
        if noted || in_force(session, &e.candidate, &action) {
            applied.unchanged += 1;
            continue;
        }
        session.decide(&e.candidate, action, &e.memo).map_err(|err| bad(err.to_string()))?;
        applied.recorded += 1;
    }
    Ok(applied)
}

/// Whether `action` is already what the run has in force for `candidate`.
fn in_force(session: &Session, candidate: &str, action: &Action) -> bool {
    if let Action::Move { passage, to } = action {
        let holder = session.holder(passage);
        return holder.as_deref().map(str::to_lowercase) == to.as_deref().map(str::to_lowercase);
    }
    let Some(c) = session.candidates.iter().find(|c| c.id.eq_ignore_ascii_case(candidate.trim()))
    else {
        return false;
    };
    let standing = session.standing(&c.id);
    match (action, standing.decision.as_ref().map(|d| &d.action)) {
        (Action::Rename { name }, _) => standing.label == name.trim(),
        (Action::Confirm { name, .. }, Some(Action::Confirm { name: done, .. })) => {
            done == name.trim()
        }
        (Action::Assign { code }, Some(Action::Assign { .. })) => {
            standing.decision.as_ref().and_then(|d| d.code.as_deref()) == Some(code.trim())
                || session.codebook().codes.iter().any(|k| {
                    k.name.eq_ignore_ascii_case(code.trim())
                        && standing.decision.as_ref().and_then(|d| d.code.as_deref()) == Some(&k.id)
                })
        }
        (Action::Merge { into }, Some(Action::Merge { into: done })) => {
            done.eq_ignore_ascii_case(into.trim())
        }
        (Action::Reject { .. }, Some(Action::Reject { .. })) => true,
        _ => false,
    }
}
