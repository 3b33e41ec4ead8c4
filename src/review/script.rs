//! Decisions from a file (`terreno review RUN --decisions FILE`), for scripted use:
//!
//! ```toml
//! [[decision]]
//! candidate = "C01"
//! action = "confirm"          # confirm | assign | rename | merge | reject | skip | undo
//! name = "Vita di quartiere"  # confirm, rename
//! definition = "…"            # confirm (optional)
//! parent = "luoghi"           # confirm (optional): a code's id or name
//! code = "lavoro"             # assign: a code's id or name
//! into = "C02"                # merge
//! reason = "…"                # reject
//! memo = "…"                  # any (optional)
//! ```
//!
//! A decision the run already has in force (the same action on the same candidate) is not
//! recorded twice, so applying a file again changes nothing.

use std::path::Path;

use serde::Deserialize;

use super::{Action, Session};
use crate::error::{Error, Result};

/// One `[[decision]]` of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    candidate: String,
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    definition: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    into: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    memo: String,
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
        let action = match e.action.trim().to_lowercase().as_str() {
            "confirm" => Action::Confirm {
                name: e.name.clone(),
                definition: e.definition.clone(),
                parent: e.parent.clone(),
            },
            "assign" => Action::Assign { code: e.code.clone() },
            "rename" => Action::Rename { name: e.name.clone() },
            "merge" => Action::Merge { into: e.into.clone() },
            "reject" => Action::Reject { reason: e.reason.clone() },
            "skip" => Action::Skip,
            "undo" => {
                session.undo().map_err(|err| bad(err.to_string()))?;
                applied.recorded += 1;
                continue;
            }
            other => {
                return Err(bad(format!(
                    "action {other:?}: use confirm, assign, rename, merge, reject, skip or undo"
                )))
            }
        };
        if e.candidate.trim().is_empty() {
            return Err(bad("the decision names no candidate".into()));
        }
        if in_force(session, &e.candidate, &action) {
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
