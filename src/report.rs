//! What a run prints on the terminal at its end.

use std::fmt::Write;

use crate::codebook::matching::Proposal;
use crate::pipeline::Summary;

/// The end-of-run summary: counts, timings, warnings.
pub fn summary_text(summary: &Summary) -> String {
    let m = &summary.manifest;
    let c = &m.counts;
    let mut s = String::new();
    let _ = writeln!(s, "run written to {}", summary.out.display());
    let _ = writeln!(
        s,
        "  {} documents, {} speakers, {} turns → {} passages ({} words); {} back-channels left out{}",
        c.documents,
        c.speakers,
        c.turns,
        c.passages,
        c.words,
        c.backchannels_dropped,
        match c.language.as_deref() {
            Some("en") => "; read as English",
            Some("it") => "; read as Italian",
            _ => "",
        }
    );
    let _ = writeln!(s, "  ingest + segment {:.2}s", m.timings["ingest_segment"]);
    if let (Some(model), Some(secs)) = (&m.model, m.timings.get("embed")) {
        let rate = if c.embedded_texts > 0 {
            format!(
                " ({} texts, passage and query prefixes: {:.1} texts/s)",
                c.embedded_texts,
                c.embedded_texts as f64 / secs.max(1e-9)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "  embedded with {}: {} new, {} from the cache, {:.1}s{rate}",
            model.name, c.embedded_new, c.embedded_cached, secs,
        );
    }
    if let Some(k) = &m.clusters {
        let _ = writeln!(
            s,
            "  {} candidate codes in {} categories; {} passages unassigned, {} of them not coded (too little to code even in context){}; clustered and named in {:.1}s",
            k.clusters,
            k.categories,
            k.unassigned,
            k.not_coded,
            // Outliers are HDBSCAN's: said only when there were some.
            if k.outliers_found > 0 {
                format!("; {} outliers found, {} attached", k.outliers_found, k.outliers_attached)
            } else {
                String::new()
            },
            m.timings.get("cluster_label").copied().unwrap_or_default()
        );
    }
    if let Some(secs) = m.timings.get("report") {
        let _ = writeln!(
            s,
            "  report.html written in {secs:.2}s: open {} in a browser",
            summary.out.join("report.html").display()
        );
    }
    let _ = writeln!(
        s,
        "  total {:.2}s{}",
        m.timings["total"],
        m.peak_rss_mib.map(|r| format!(", peak memory {r:.0} MiB")).unwrap_or_default()
    );
    if !summary.candidates.is_empty() {
        let _ = writeln!(s, "\ncandidate open codes by category (candidates.md has the quotes):");
        let in_category = |k: i32| summary.candidates.iter().filter(move |c| c.category == k);
        let line = |s: &mut String, c: &crate::label::Candidate| {
            let tag = match c.proposal {
                Proposal::New => String::new(),
                _ => format!("  [{}]", crate::label::proposal_line(c)),
            };
            let _ = writeln!(
                s,
                "    {}  {:<40} {:>5} passages, {:>3} {:<8}{}{tag}",
                c.id,
                c.label,
                c.size,
                c.speakers,
                if c.speakers == 1 { "speaker" } else { "speakers" },
                c.speaker_note().map(|n| format!("  ({n})")).unwrap_or_default()
            );
        };
        // Each category, then its codes under it, as in candidates.md.
        for k in &summary.categories {
            let _ = writeln!(
                s,
                "  {} {}  ({} passages, {})",
                k.id,
                k.name,
                k.size,
                crate::label::counted(k.codes.len(), "code", "codes")
            );
            in_category(k.index).for_each(|c| line(&mut s, c));
        }
        let known: Vec<i32> = summary.categories.iter().map(|k| k.index).collect();
        summary
            .candidates
            .iter()
            .filter(|c| !known.contains(&c.category))
            .for_each(|c| line(&mut s, c));
        if let Some(book) = &summary.codebook {
            let fits = summary.candidates.iter().filter(|c| c.proposal != Proposal::New).count();
            let _ = writeln!(
                s,
                "  compared with the codebook {}: {fits} of {} candidates fit a code or an earlier decision",
                book.display(),
                summary.candidates.len()
            );
        }
        let _ = writeln!(
            s,
            "  review them in the browser with: terreno review {} --web (or in the terminal \
             without --web)",
            summary.out.display()
        );
    }
    if !summary.saturation.is_empty() {
        let _ = writeln!(
            s,
            "  saturation, new candidates per document in order: {}",
            summary.saturation.iter().map(|p| p.new.to_string()).collect::<Vec<_>>().join(" ")
        );
    }
    if let Some(c) = &summary.comparison {
        let _ = writeln!(s);
        s.push_str(&crate::compare::text(
            c,
            &[crate::manual::Level::Top, crate::manual::Level::Leaf],
        ));
    }
    if !m.warnings.is_empty() {
        let _ = writeln!(s, "  {} warnings:", m.warnings.len());
        for w in m.warnings.iter().take(20) {
            let _ = writeln!(s, "    {w}");
        }
        if m.warnings.len() > 20 {
            let _ = writeln!(s, "    … and {} more in manifest.json", m.warnings.len() - 20);
        }
    }
    s
}
