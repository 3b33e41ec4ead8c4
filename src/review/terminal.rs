//! The interactive review: one candidate at a time on the terminal, one letter per decision.
//! Plain lines in and out, so it works in any terminal, over ssh, and under a screen reader.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};

use super::{Action, Session};
use crate::error::{Error, Result};
use crate::label::Candidate;

const HELP: &str = "\
  c  confirm as a new code (you can edit its name and definition)
  a  assign to an existing code (a match number, a code id or a name)
  r  rename the candidate (it stays open)
  m  merge with another candidate (they become one code)
  x  reject it (say why)
  s  skip it for now
  k  confirm or rename the candidate's category as a whole
  n  write a memo on the candidate
  v  move a passage (by its id) to another candidate, or out of every candidate
  u  undo the last decision
  q  quit: decisions are saved; `terreno review` again resumes here
";

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every candidate is settled (or skipped).
    Done,
    /// The analyst quit; the rest can be reviewed later.
    Quit,
}

struct Io<'a> {
    input: &'a mut dyn BufRead,
    out: &'a mut dyn Write,
}

impl Io<'_> {
    fn say(&mut self, s: &str) -> Result<()> {
        self.out
            .write_all(s.as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|e| Error::io("terminal", e))
    }

    /// A line of input after a prompt; `None` at end of input.
    fn ask(&mut self, prompt: &str) -> Result<Option<String>> {
        self.say(prompt)?;
        let mut line = String::new();
        let n = self.input.read_line(&mut line).map_err(|e| Error::io("terminal", e))?;
        Ok((n > 0).then(|| line.trim_end_matches(['\r', '\n']).to_string()))
    }
}

/// Runs the review until every candidate is settled or the analyst quits.
pub fn review(session: &mut Session, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<End> {
    let mut io = Io { input, out };
    let total = session.candidates.len();
    let done = total - session.pending().len();
    io.say(&format!(
        "Reviewing {} candidates of {} ({} already decided). Type ? for help.\n",
        total,
        session.dir.display(),
        done
    ))?;
    let mut skipped: BTreeSet<String> = BTreeSet::new();
    loop {
        let Some(cand) = session.pending().into_iter().find(|c| !skipped.contains(&c.id)).cloned()
        else {
            let left = session.pending().len();
            io.say(&if left == 0 {
                "Every candidate is decided.\n".to_string()
            } else {
                format!("{left} skipped candidates are left for later.\n")
            })?;
            return Ok(End::Done);
        };
        let position = session.candidates.iter().position(|c| c.id == cand.id).unwrap_or(0) + 1;
        io.say(&card(session, &cand, position, total))?;
        let Some(choice) = io.ask("decision [c a r m x s k n v u q ?]: ")? else {
            return Ok(End::Quit);
        };
        let label = session.standing(&cand.id).label;
        let result = match choice.trim().to_lowercase().as_str() {
            "c" | "confirm" => {
                let Some(name) = io.ask(&format!("  name [{label}]: "))? else {
                    return Ok(End::Quit);
                };
                let name = if name.trim().is_empty() { label.clone() } else { name };
                let Some(definition) = io.ask("  definition: ")? else { return Ok(End::Quit) };
                let Some(memo) = io.ask("  memo (optional): ")? else { return Ok(End::Quit) };
                session.decide(&cand.id, Action::Confirm { name, definition, parent: None }, &memo)
            }
            "a" | "assign" => {
                let Some(code) = io.ask("  code (match number, id or name): ")? else {
                    return Ok(End::Quit);
                };
                let Some(memo) = io.ask("  memo (optional): ")? else { return Ok(End::Quit) };
                session.decide(&cand.id, Action::Assign { code }, &memo)
            }
            "r" | "rename" => {
                let Some(name) = io.ask("  new name: ")? else { return Ok(End::Quit) };
                session.decide(&cand.id, Action::Rename { name }, "")
            }
            "m" | "merge" => {
                let Some(into) = io.ask("  merge into candidate (e.g. C02): ")? else {
                    return Ok(End::Quit);
                };
                let Some(memo) = io.ask("  memo (optional): ")? else { return Ok(End::Quit) };
                session.decide(&cand.id, Action::Merge { into }, &memo)
            }
            "x" | "reject" => {
                let Some(reason) = io.ask("  why is it not a code? ")? else {
                    return Ok(End::Quit);
                };
                session.decide(&cand.id, Action::Reject { reason }, "")
            }
            "k" | "category" => {
                let Some(k) = session.categories.iter().find(|k| k.index == cand.category) else {
                    io.say("  this candidate is in no category\n")?;
                    continue;
                };
                let (k, current) = (k.id.clone(), session.standing(&k.id).label);
                let ask = format!("  category {k} {current}: (c)onfirm it or (r)ename it? ");
                let Some(what) = io.ask(&ask)? else { return Ok(End::Quit) };
                match what.trim().to_lowercase().as_str() {
                    "c" | "confirm" => {
                        let Some(name) = io.ask(&format!("  name [{current}]: "))? else {
                            return Ok(End::Quit);
                        };
                        let name = if name.trim().is_empty() { current } else { name };
                        let Some(definition) = io.ask("  definition: ")? else {
                            return Ok(End::Quit);
                        };
                        session.decide(&k, Action::Confirm { name, definition, parent: None }, "")
                    }
                    "r" | "rename" => {
                        let Some(name) = io.ask("  new name: ")? else { return Ok(End::Quit) };
                        session.decide(&k, Action::Rename { name }, "")
                    }
                    _ => {
                        io.say("  nothing done\n")?;
                        continue;
                    }
                }
            }
            "n" | "memo" => {
                let Some(memo) = io.ask("  memo: ")? else { return Ok(End::Quit) };
                session.decide(&cand.id, Action::Memo, &memo)
            }
            "v" | "move" => {
                let Some(passage) = io.ask("  passage (its id, e.g. P01:12): ")? else {
                    return Ok(End::Quit);
                };
                let Some(to) = io.ask("  to candidate (empty: out of every candidate): ")? else {
                    return Ok(End::Quit);
                };
                let to = Some(to.trim().to_string()).filter(|t| !t.is_empty());
                session.decide("", Action::Move { passage, to }, "")
            }
            "s" | "skip" => {
                skipped.insert(cand.id.clone());
                session.decide(&cand.id, Action::Skip, "")
            }
            "u" | "undo" => match session.undo()? {
                Some(d) => {
                    skipped.remove(&d.candidate);
                    io.say(&format!("  undone: {} {}\n", d.candidate, d.action.verb()))?;
                    continue;
                }
                None => {
                    io.say("  nothing to undo\n")?;
                    continue;
                }
            },
            "q" | "quit" => return Ok(End::Quit),
            "?" | "h" | "help" => {
                io.say(HELP)?;
                continue;
            }
            "" => continue,
            other => {
                io.say(&format!("  {other:?} is not a choice; type ? for help\n"))?;
                continue;
            }
        };
        match result {
            Ok(d) => io.say(&format!(
                "  {} {}{}\n",
                d.candidate,
                d.action.verb(),
                d.code.as_deref().map(|c| format!(" → code {c}")).unwrap_or_default()
            ))?,
            // A decision that cannot be taken is explained, and the candidate shown again.
            Err(e @ Error::Config(_)) => {
                io.say(&format!("  {}\n", e.to_string().trim_start_matches("configuration: ")))?
            }
            Err(e) => return Err(e),
        }
    }
}

/// What the analyst sees of a candidate.
pub fn card(session: &Session, c: &Candidate, position: usize, total: usize) -> String {
    use std::fmt::Write as _;
    let standing = session.standing(&c.id);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n── {} ({position} of {total}) · {} passages · {} speakers · {} documents ──",
        c.id, c.size, c.speakers, c.documents
    );
    let renamed =
        if standing.label != c.label { format!("   (was: {})", c.label) } else { String::new() };
    let _ = writeln!(s, "label:     {}{renamed}", standing.label);
    if let Some(k) = session.categories.iter().find(|k| k.index == c.category) {
        let _ = writeln!(s, "category:  {} {}", k.id, session.standing(&k.id).label);
    }
    let _ = writeln!(s, "key terms: {}", c.key_terms.join(", "));
    if !c.in_vivo.is_empty() {
        let _ = writeln!(
            s,
            "in vivo:   {}",
            c.in_vivo.iter().map(|p| format!("“{p}”")).collect::<Vec<_>>().join(", ")
        );
    }
    if c.single_speaker {
        let _ = writeln!(s, "note:      {:.0}% of it is one speaker", 100.0 * c.top_speaker_share);
    }
    for (i, e) in c.exemplars.iter().take(3).enumerate() {
        if let Some(q) = &e.prompt {
            let _ = writeln!(s, "  {}. Q: {}", i + 1, shorten(q, 160));
            let _ =
                writeln!(s, "     {} ({}): “{}”", e.speaker, e.passage_id, shorten(&e.text, 320));
        } else {
            let _ = writeln!(
                s,
                "  {}. {} ({}): “{}”",
                i + 1,
                e.speaker,
                e.passage_id,
                shorten(&e.text, 320)
            );
        }
    }
    if !c.matches.is_empty() {
        let _ = writeln!(s, "matches:");
        for (i, m) in c.matches.iter().enumerate() {
            let _ = writeln!(s, "  [{}] {:.2}  {} ({})", i + 1, m.similarity, m.name, m.code);
        }
    }
    let _ = writeln!(
        s,
        "proposal:  {}{}",
        c.proposal.describe(),
        c.code.as_deref().map(|k| format!(" ({k})")).unwrap_or_default()
    );
    if let Some(p) = &c.prior {
        let _ = writeln!(
            s,
            "earlier:   {} {} in {}{} (similarity {:.2})",
            p.candidate,
            p.decision,
            p.run,
            if p.reason.is_empty() { String::new() } else { format!(": {}", p.reason) },
            p.similarity
        );
    }
    s
}

/// At most `n` characters, cut at a word with an ellipsis.
fn shorten(s: &str, n: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= n {
        return s;
    }
    let cut: String = s.chars().take(n).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a).to_string();
    format!("{cut} …")
}
