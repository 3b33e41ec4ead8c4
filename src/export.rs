//! Export a run to the analysts' QDA tools: a REFI-QDA project (`.qdpx`) with the canonical
//! sources as plain-text sources, the codebook (the confirmed codes, and the candidates under a
//! grouping code, marked as candidates in their description), and every passage coded with its
//! cluster's code; or the codebook alone (`.qdc`). Positions are code points, as REFI counts
//! them. GUIDs are derived from the run and the ids, so exporting twice gives the same file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::codebook::qdc::{escape, write_codes};
use crate::codebook::{guid_for, Code, Codebook, Status};
use crate::compare::PassageSpan;
use crate::error::{Error, Result};
use crate::review::{effective, read_decisions, Action, CandidatesFile, Fates};

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    /// Sources written.
    pub sources: usize,
    /// Codes in the codebook.
    pub codes: usize,
    /// Codings (one per coded passage).
    pub codings: usize,
}

/// The id of the grouping code that holds the candidates.
pub const CANDIDATES: &str = "terreno-candidates";

/// A finished run's passages with their clusters.
pub fn run_passages(run: &Path) -> Result<Vec<PassageSpan>> {
    use polars::prelude::*;
    let dir = crate::run::RunDir::new(run);
    let p = dir.passages()?;
    let clusters = if dir.file(crate::run::CLUSTERS).exists() {
        dir.vectors()?.1
    } else {
        vec![-1; p.height()]
    };
    let strings = |name: &str| -> Result<Vec<String>> {
        Ok(p.column(name)?.str()?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
    };
    let numbers = |name: &str| -> Result<Vec<u64>> {
        Ok(p.column(name)?.cast(&DataType::UInt64)?.u64()?.into_no_null_iter().collect())
    };
    let (ids, docs, starts, ends) = (
        strings("passage_id")?,
        strings("document_id")?,
        numbers("char_start")?,
        numbers("char_end")?,
    );
    Ok((0..p.height())
        .map(|i| PassageSpan {
            id: ids[i].clone(),
            document: docs[i].clone(),
            start: starts[i] as usize,
            end: ends[i] as usize,
            cluster: clusters[i],
        })
        .collect())
}

/// The codebook an export carries, and the code of each cluster (`None`: not exported, as
/// for a rejected candidate).
pub fn export_codebook(run: &Path) -> Result<(Codebook, BTreeMap<i32, Option<String>>)> {
    let mut book = match crate::review::versions(run)?.pop() {
        Some((_, path)) => Codebook::read(&path)?,
        None => Codebook::default(),
    };
    let file = CandidatesFile::read(run)?;
    let decisions = read_decisions(&run.join(crate::review::DECISIONS))?;
    let eff = effective(&decisions);
    let fates = Fates::of(&eff);
    let run_name = crate::review::run_name(run)?;
    let mut group = Code::new(CANDIDATES, "terreno candidates");
    group.guid = guid_for(&format!("{run_name} candidates"));
    group.codable = false;
    group.definition =
        format!("Candidate open codes proposed by terreno in run {run_name}; not yet confirmed.");
    let mut children = Vec::new();
    let mut of_cluster = BTreeMap::new();
    // Each category a grouping code under the candidates, its codes nested in it.
    let mut category_code: BTreeMap<i32, String> = BTreeMap::new();
    for k in &file.categories {
        let id = format!("{CANDIDATES}-{}", k.id.to_lowercase());
        let name = fates.renamed.get(&k.id).unwrap_or(&k.name);
        let mut code = Code::new(id.clone(), format!("{} {name}", k.id));
        code.guid = guid_for(&format!("{run_name} {}", k.id));
        code.parent = Some(CANDIDATES.to_string());
        code.codable = false;
        code.status = Status::Proposed;
        code.definition =
            format!("terreno category: {} passages in {} candidate codes.", k.size, k.codes.len());
        category_code.insert(k.index, id);
        children.push(code);
    }
    let categories = children.len();
    for c in &file.candidates {
        let (_, last) = fates.resolve(&c.id);
        let code = match last.map(|d| (&d.action, d.code.clone())) {
            Some((Action::Reject { .. }, _)) => None,
            Some((Action::Confirm { .. } | Action::Assign { .. }, Some(code)))
                if book.get(&code).is_some() =>
            {
                Some(code)
            }
            _ if c.proposal == crate::codebook::matching::Proposal::Rejected => None,
            _ if c.proposal == crate::codebook::matching::Proposal::Coded => c.code.clone(),
            _ => {
                let id = format!("{CANDIDATES}-{}", c.id.to_lowercase());
                let label = fates.renamed.get(&c.id).cloned().unwrap_or_else(|| c.label.clone());
                let mut code = Code::new(id.clone(), format!("{} {}", c.id, label));
                code.guid = guid_for(&format!("{run_name} {}", c.id));
                code.parent =
                    Some(category_code.get(&c.category).cloned().unwrap_or(CANDIDATES.to_string()));
                code.status = Status::Proposed;
                code.short = format!(
                    "terreno candidate: {} passages, {} speakers, {} documents",
                    c.size, c.speakers, c.documents
                );
                code.definition = format!("Key terms: {}.", c.key_terms.join(", "));
                if !c.in_vivo.is_empty() {
                    code.definition
                        .push_str(&format!(" In their words: {}.", c.in_vivo.join("; ")));
                }
                code.examples = c.exemplars.iter().take(2).map(|e| e.text.clone()).collect();
                children.push(code);
                Some(id)
            }
        };
        of_cluster.insert(c.cluster, code);
    }
    if children.len() > categories {
        book.codes.push(group);
        book.codes.extend(children);
    }
    let book = book.validated(&run.join("codebook"))?;
    Ok((book, of_cluster))
}

/// Writes the run's codebook (confirmed codes and candidates) as a `.qdc`.
pub fn write_qdc(run: &Path, out: &Path) -> Result<usize> {
    let (book, _) = export_codebook(run)?;
    let text = crate::codebook::to_qdc(&book);
    crate::files::write_atomic(out, |f| {
        f.write_all(text.as_bytes()).map_err(|e| Error::io(out, e))
    })?;
    Ok(book.codes.len())
}

/// The other candidate codes each passage is close to (`other-codes.parquet`), as clusters.
fn other_clusters(run: &Path) -> Result<BTreeMap<String, Vec<i32>>> {
    let dir = crate::run::RunDir::new(run);
    let path = dir.file(crate::run::OTHER_CODES);
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let cluster_of: BTreeMap<String, i32> =
        CandidatesFile::read(run)?.candidates.iter().map(|c| (c.id.clone(), c.cluster)).collect();
    let df = dir.table(crate::run::OTHER_CODES)?;
    let col = |name: &str| -> Result<Vec<String>> {
        Ok(df.column(name)?.str()?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
    };
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (p, c) in col("passage_id")?.into_iter().zip(col("candidate")?) {
        if let Some(&cluster) = cluster_of.get(&c) {
            out.entry(p).or_default().push(cluster);
        }
    }
    Ok(out)
}

/// Writes the run as a REFI-QDA project. With `other_codes`, each passage is also coded with
/// the other candidate codes it is close to (`other-codes.parquet`).
pub fn write_qdpx(run: &Path, out: &Path, other_codes: bool) -> Result<Exported> {
    let (book, of_cluster) = export_codebook(run)?;
    let others = if other_codes { other_clusters(run)? } else { BTreeMap::new() };
    let texts = crate::run::RunDir::new(run).texts()?;
    let mut passages = run_passages(run)?;
    // The analyst's moves: a passage is coded where it was moved to, or not at all.
    let moved = crate::review::moved_clusters(run)?;
    for p in &mut passages {
        if let Some(&c) = moved.get(&p.id) {
            p.cluster = c;
        }
    }
    let run_name = crate::review::run_name(run)?;
    let user = guid_for(&format!("{run_name} user"));
    let created = crate::review::run_name(run)?
        .rsplit_once(' ')
        .map(|(_, t)| t.to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(crate::run::now);
    let project_name = run
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| "terreno".into());
    let mut by_doc: BTreeMap<&str, Vec<&PassageSpan>> = BTreeMap::new();
    for p in &passages {
        by_doc.entry(p.document.as_str()).or_default().push(p);
    }
    let guid_of: BTreeMap<&str, &str> =
        book.codes.iter().map(|c| (c.id.as_str(), c.guid.as_str())).collect();

    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str(&format!(
        "<Project xmlns=\"urn:QDA-XML:project:1.0\" name=\"{}\" origin=\"terreno {}\" creatingUserGUID=\"{user}\" creationDateTime=\"{created}\">\n",
        escape(&project_name, true),
        env!("CARGO_PKG_VERSION")
    ));
    x.push_str(&format!("  <Users>\n    <User guid=\"{user}\" name=\"terreno\"/>\n  </Users>\n"));
    if !book.codes.is_empty() {
        x.push_str("  <CodeBook>\n    <Codes>\n");
        write_codes(&book, None, 3, &mut x);
        x.push_str("    </Codes>\n  </CodeBook>\n");
    }
    let mut exported = Exported { codes: book.codes.len(), ..Default::default() };
    let mut files: Vec<(String, &str)> = Vec::new();
    if !texts.is_empty() {
        x.push_str("  <Sources>\n");
        for (doc, text) in &texts {
            let guid = guid_for(&format!("{run_name} source {doc}"));
            x.push_str(&format!(
                "    <TextSource guid=\"{guid}\" name=\"{}\" plainTextPath=\"internal://{guid}.txt\" creatingUser=\"{user}\" creationDateTime=\"{created}\">\n",
                escape(doc, true)
            ));
            for p in by_doc.get(doc.as_str()).into_iter().flatten() {
                // Its own code first, then the other codes it is close to, each once.
                let mut guids: Vec<&str> = Vec::new();
                let clusters = std::iter::once(p.cluster)
                    .chain(others.get(&p.id).into_iter().flatten().copied());
                for cluster in clusters {
                    let Some(Some(code)) = of_cluster.get(&cluster) else { continue };
                    if let Some(g) = guid_of.get(code.as_str()).filter(|g| !guids.contains(g)) {
                        guids.push(g);
                    }
                }
                if guids.is_empty() {
                    continue;
                }
                let sel = guid_for(&format!("{run_name} selection {}", p.id));
                x.push_str(&format!(
                    "      <PlainTextSelection guid=\"{sel}\" name=\"{}\" startPosition=\"{}\" endPosition=\"{}\" creatingUser=\"{user}\" creationDateTime=\"{created}\">\n",
                    escape(&p.id, true),
                    p.start,
                    p.end
                ));
                for (n, code_guid) in guids.iter().enumerate() {
                    let key = if n == 0 { p.id.clone() } else { format!("{} {n}", p.id) };
                    let coding = guid_for(&format!("{run_name} coding {key}"));
                    x.push_str(&format!(
                        "        <Coding guid=\"{coding}\" creatingUser=\"{user}\" creationDateTime=\"{created}\">\n          <CodeRef targetGUID=\"{code_guid}\"/>\n        </Coding>\n"
                    ));
                    exported.codings += 1;
                }
                x.push_str("      </PlainTextSelection>\n");
            }
            x.push_str("    </TextSource>\n");
            files.push((format!("sources/{guid}.txt"), text.as_str()));
            exported.sources += 1;
        }
        x.push_str("  </Sources>\n");
    }
    x.push_str("</Project>\n");

    crate::files::write_atomic(out, |f| {
        let zip_err = |e: zip::result::ZipError| Error::io(out, std::io::Error::other(e));
        let mut zip = zip::ZipWriter::new(&mut *f);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default());
        zip.start_file("project.qde", opts).map_err(zip_err)?;
        zip.write_all(x.as_bytes()).map_err(|e| Error::io(out, e))?;
        for (name, text) in &files {
            zip.start_file(name.as_str(), opts).map_err(zip_err)?;
            zip.write_all(text.as_bytes()).map_err(|e| Error::io(out, e))?;
        }
        zip.finish().map_err(zip_err)?;
        Ok(())
    })?;
    Ok(exported)
}
