//! `report.html`: one self-contained page (no scripts, no fonts or files from the network) that
//! an analyst opens in the morning: the run's summary, every candidate with its quotes, a map of
//! all passages, the codebook matches, the comparison with the manual coding, and the
//! saturation curve. Plots are SVG drawn with `plotters`, inlined; the palette is Okabe and
//! Ito's, which colour-blind readers can tell apart, and every cluster is also labelled by id.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;

use crate::codebook::matching::Proposal;
use crate::compare::{Comparison, LevelComparison};
use crate::error::{Error, Result};
use crate::label::{counted, Candidate, SaturationPoint};
use crate::review::CandidatesFile;
use crate::run::{Manifest, RunDir};

use crate::cluster::projection;
pub use crate::config::Language;

/// Okabe–Ito, without black (kept for text).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xF0, 0xE4, 0x42),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
];

struct Words {
    title: &'static str,
    summary: &'static str,
    documents: &'static str,
    speakers: &'static str,
    single: &'static str,
    passages: &'static str,
    /// The singulars of documents, speakers, passages.
    one: [&'static str; 3],
    clusters: &'static str,
    unassigned: &'static str,
    model: &'static str,
    timings: &'static str,
    candidates: &'static str,
    key_terms: &'static str,
    in_vivo: &'static str,
    map: &'static str,
    map_note: &'static str,
    axis1: &'static str,
    axis2: &'static str,
    matches: &'static str,
    candidate: &'static str,
    best_code: &'static str,
    similarity: &'static str,
    proposal: &'static str,
    comparison: &'static str,
    heat: &'static str,
    code: &'static str,
    saturation: &'static str,
    document_order: &'static str,
    new: &'static str,
    cumulative: &'static str,
    question: &'static str,
    no_codebook: &'static str,
}

const IT: Words = Words {
    title: "Codici aperti candidati",
    summary: "Il run",
    documents: "documenti",
    speakers: "parlanti",
    single: "per lo più un solo parlante",
    one: ["documento", "parlante", "passaggio"],
    passages: "passaggi",
    clusters: "cluster",
    unassigned: "non assegnati",
    model: "modello",
    timings: "tempi",
    candidates: "Candidati",
    key_terms: "termini chiave",
    in_vivo: "nelle loro parole",
    map: "Mappa dei passaggi",
    map_note: "Ogni punto è un passaggio, colorato per cluster; le due direzioni sono quelle lungo cui i centroidi dei cluster differiscono di più.",
    axis1: "prima direzione",
    axis2: "seconda direzione",
    matches: "Confronto con il codebook",
    candidate: "candidato",
    best_code: "codice più vicino",
    similarity: "similarità",
    proposal: "proposta",
    comparison: "Confronto con la codifica manuale",
    heat: "Codici × cluster (passaggi)",
    code: "codice",
    saturation: "Saturazione",
    document_order: "documenti in ordine",
    new: "nuovi candidati",
    cumulative: "candidati finora",
    question: "D",
    no_codebook: "Nessun codebook dato (--codebook).",
};

const EN: Words = Words {
    title: "Candidate open codes",
    summary: "The run",
    documents: "documents",
    speakers: "speakers",
    single: "mostly one speaker",
    one: ["document", "speaker", "passage"],
    passages: "passages",
    clusters: "clusters",
    unassigned: "unassigned",
    model: "model",
    timings: "timings",
    candidates: "Candidates",
    key_terms: "key terms",
    in_vivo: "in their words",
    map: "Map of the passages",
    map_note: "Each dot is a passage, coloured by cluster; the two directions are those along which the cluster centroids differ most.",
    axis1: "first direction",
    axis2: "second direction",
    matches: "Against the codebook",
    candidate: "candidate",
    best_code: "closest code",
    similarity: "similarity",
    proposal: "proposal",
    comparison: "Against the manual coding",
    heat: "Codes × clusters (passages)",
    code: "code",
    saturation: "Saturation",
    document_order: "documents in order",
    new: "new candidates",
    cumulative: "candidates so far",
    question: "Q",
    no_codebook: "No codebook given (--codebook).",
};

fn esc(s: &str) -> String {
    crate::xml::escape(s, true).replace("&#10;", "<br>")
}

fn svg_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Config(format!("drawing a plot failed: {e:?}"))
}

fn map_svg(
    points: &[(f32, f32)],
    labels: &[i32],
    ids: &BTreeMap<i32, String>,
    w: &Words,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(svg_err)?;
        let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &(x, y) in points {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if points.is_empty() || x0 >= x1 || y0 >= y1 {
            (x0, x1, y0, y1) = (-1.0, 1.0, -1.0, 1.0);
        }
        // A large run draws every step-th passage; the caption says so.
        let step = crate::cluster::map_step(points.len());
        let caption = if step > 1 { format!("{} (1/{step})", w.map) } else { w.map.to_string() };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(svg_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(w.axis1)
            .y_desc(w.axis2)
            .x_labels(5)
            .y_labels(5)
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(svg_err)?;
        let colour = |l: i32| {
            if l < 0 {
                RGBColor(0x99, 0x99, 0x99)
            } else {
                PALETTE[l as usize % PALETTE.len()]
            }
        };
        chart
            .draw_series(
                points
                    .iter()
                    .zip(labels)
                    .step_by(step)
                    .map(|(&(x, y), &l)| Circle::new((x, y), 2, colour(l).mix(0.55).filled())),
            )
            .map_err(svg_err)?;
        // Each cluster's id at its mean position, so colours never have to be told apart.
        let mut sums: BTreeMap<i32, (f32, f32, usize)> = BTreeMap::new();
        for (&(x, y), &l) in points.iter().zip(labels) {
            if l >= 0 {
                let e = sums.entry(l).or_default();
                e.0 += x;
                e.1 += y;
                e.2 += 1;
            }
        }
        chart
            .draw_series(sums.iter().map(|(l, (x, y, n))| {
                Text::new(
                    ids.get(l).cloned().unwrap_or_default(),
                    (x / *n as f32, y / *n as f32),
                    ("sans-serif", 14).into_font().color(&BLACK),
                )
            }))
            .map_err(svg_err)?;
        root.present().map_err(svg_err)?;
    }
    Ok(svg)
}

fn saturation_svg(points: &[SaturationPoint], w: &Words) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(svg_err)?;
        let n = points.len().max(1);
        let top = points.last().map_or(1, |p| p.cumulative).max(1) as f32 * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(w.saturation, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0f32..n as f32 + 1.0, 0f32..top)
            .map_err(svg_err)?;
        let names: Vec<&str> = points.iter().map(|p| p.document.as_str()).collect();
        let every = names.len().div_ceil(15).max(1);
        chart
            .configure_mesh()
            .x_desc(w.document_order)
            .y_desc(w.candidates)
            .light_line_style(WHITE)
            .x_labels(names.len() + 2)
            .x_label_formatter(&|x| {
                let i = x.round() as usize;
                if (x - x.round()).abs() < 1e-3
                    && i >= 1
                    && i <= names.len()
                    && (i - 1).is_multiple_of(every)
                {
                    names[i - 1].to_string()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(svg_err)?;
        chart
            .draw_series(points.iter().enumerate().map(|(i, p)| {
                let x = i as f32 + 1.0;
                Rectangle::new([(x - 0.35, 0.0), (x + 0.35, p.new as f32)], PALETTE[1].filled())
            }))
            .map_err(svg_err)?
            .label(w.new)
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], PALETTE[1].filled()));
        chart
            .draw_series(LineSeries::new(
                points.iter().enumerate().map(|(i, p)| (i as f32 + 1.0, p.cumulative as f32)),
                PALETTE[5].stroke_width(3),
            ))
            .map_err(svg_err)?
            .label(w.cumulative)
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 14, y)], PALETTE[5].stroke_width(3))
            });
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(svg_err)?;
        root.present().map_err(svg_err)?;
    }
    Ok(svg)
}

/// Sequential colour for a share in 0..=1 (ColorBrewer YlGnBu: light yellow, teal, dark blue),
/// readable with any colour vision and in greyscale.
fn heat(share: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 3] =
        [(255.0, 255.0, 217.0), (65.0, 182.0, 196.0), (8.0, 29.0, 88.0)];
    let s = share.clamp(0.0, 1.0) * 2.0;
    let (a, b, t) = if s <= 1.0 { (STOPS[0], STOPS[1], s) } else { (STOPS[1], STOPS[2], s - 1.0) };
    let lerp = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

fn heat_svg(l: &LevelComparison, w: &Words) -> Result<String> {
    let rows = l.table_codes.len().min(40);
    let cols = l.table_clusters.len();
    let cell = 26i32;
    let left = 300i32;
    let top = 90i32;
    let width = (left + cell * cols as i32 + 30).max(500) as u32;
    let height = (top + cell * rows as i32 + 20) as u32;
    let max = l.table.iter().take(rows).flatten().copied().max().unwrap_or(1).max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(svg_err)?;
        root.draw(&Text::new(w.heat, (10, 10), ("sans-serif", 22).into_font())).map_err(svg_err)?;
        for (j, name) in l.table_clusters.iter().enumerate() {
            let x = left + cell * j as i32 + 4;
            root.draw(&Text::new(
                name.clone(),
                (x, top - 6),
                ("sans-serif", 12).into_font().transform(FontTransform::Rotate270),
            ))
            .map_err(svg_err)?;
        }
        for (i, code) in l.table_codes.iter().take(rows).enumerate() {
            let y = top + cell * i as i32;
            let short: String = code.chars().take(44).collect();
            root.draw(&Text::new(short, (8, y + 8), ("sans-serif", 12).into_font()))
                .map_err(svg_err)?;
            for (j, &n) in l.table[i].iter().enumerate() {
                let x = left + cell * j as i32;
                let share = n as f64 / max;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell - 1, y + cell - 1)],
                    heat(share).filled(),
                ))
                .map_err(svg_err)?;
                if n > 0 {
                    let colour = if share > 0.5 { WHITE } else { BLACK };
                    root.draw(&Text::new(
                        n.to_string(),
                        (x + 5, y + 8),
                        ("sans-serif", 11).into_font().color(&colour),
                    ))
                    .map_err(svg_err)?;
                }
            }
        }
        root.present().map_err(svg_err)?;
    }
    Ok(svg)
}

/// What terreno proposes, in the report's language.
fn proposal_word(p: Proposal, language: Language) -> &'static str {
    match (language, p) {
        (Language::En, p) => p.describe(),
        (Language::It, Proposal::New) => "nuovo codice",
        (Language::It, Proposal::Existing) => "corrisponde a un codice esistente",
        (Language::It, Proposal::Coded) => "codificato in una revisione precedente",
        (Language::It, Proposal::Rejected) => "rifiutato in una revisione precedente",
    }
}

fn time(t: f64) -> String {
    format!("{:02}:{:02}:{:02}", (t / 3600.0) as u32, (t / 60.0) as u32 % 60, t as u32 % 60)
}

/// The category → codes tree, with sizes; each code links to its description below.
fn category_tree(file: &CandidatesFile, w: &Words, language: Language, s: &mut String) {
    if file.categories.is_empty() {
        return;
    }
    // The category → codes tree, with sizes; each code links to its description below.
    let (cats, codes) =
        if language == Language::It { ("categorie", "codici") } else { ("categories", "codes") };
    let _ = writeln!(
        s,
        "<p class=\"note\">{} {cats}, {} {codes}</p><ul class=\"tree\">",
        file.categories.len(),
        file.candidates.len()
    );
    for k in &file.categories {
        let _ = writeln!(
            s,
            "<li><b>{} {}</b> ({} {})<ul>",
            esc(&k.id),
            esc(&k.name),
            k.size,
            w.passages
        );
        for id in &k.codes {
            if let Some(c) = file.candidates.iter().find(|c| &c.id == id) {
                let _ = writeln!(
                    s,
                    "<li><a href=\"#{0}\">{0}</a> {1} ({2})</li>",
                    esc(&c.id),
                    esc(&c.label),
                    c.size
                );
            }
        }
        s.push_str("</ul></li>\n");
    }
    s.push_str("</ul>\n");
}

fn candidate_html(c: &Candidate, w: &Words, language: Language, s: &mut String) {
    let _ = writeln!(
        s,
        "<section class=\"cand\" id=\"{}\"><h3>{} — {}</h3>",
        esc(&c.id),
        esc(&c.id),
        esc(&c.label)
    );
    let _ = writeln!(
        s,
        "<p class=\"meta\">{}, {}{}, {} · {}: {}</p>",
        counted(c.size, w.one[2], w.passages),
        counted(c.speakers, w.one[1], w.speakers),
        if c.single_speaker && c.speakers > 1 { format!(" ({})", w.single) } else { String::new() },
        counted(c.documents, w.one[0], w.documents),
        w.proposal,
        esc(&crate::label::proposal_line(c)
            .replacen(c.proposal.describe(), proposal_word(c.proposal, language), 1)
            .replacen(
                crate::label::ABOVE_THE_NEXT,
                match language {
                    Language::En => crate::label::ABOVE_THE_NEXT,
                    Language::It => "sopra il codice seguente",
                },
                1
            ))
    );
    let _ = writeln!(s, "<p><b>{}:</b> {}</p>", w.key_terms, esc(&c.key_terms.join(", ")));
    if !c.in_vivo.is_empty() {
        let phrases: Vec<String> = c.in_vivo.iter().map(|p| format!("“{}”", esc(p))).collect();
        let _ = writeln!(s, "<p><b>{}:</b> {}</p>", w.in_vivo, phrases.join(", "));
    }
    for e in &c.exemplars {
        s.push_str("<blockquote>");
        if let Some(q) = &e.prompt {
            let _ = write!(s, "<p class=\"q\">{}: {}</p>", w.question, esc(q));
        }
        let when = e.time_start.map(|t| format!(", {}", time(t))).unwrap_or_default();
        let _ = writeln!(
            s,
            "<p>{}</p><footer>— {}, {}{}</footer></blockquote>",
            esc(&e.text),
            esc(&e.speaker),
            esc(&e.document_id),
            when
        );
    }
    s.push_str("</section>\n");
}

/// The map's points and each passage's cluster.
pub type Map<'a> = (&'a [(f32, f32)], &'a [i32]);

/// Builds the page.
pub fn render(
    manifest: &Manifest,
    file: &CandidatesFile,
    map: Option<Map>,
    comparison: Option<&Comparison>,
    language: Language,
) -> Result<String> {
    let w = if language == Language::It { &IT } else { &EN };
    let ids: BTreeMap<i32, String> =
        file.candidates.iter().map(|c| (c.cluster, c.id.clone())).collect();
    let mut s = String::new();
    let lang = if language == Language::It { "it" } else { "en" };
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>terreno · {}</title><style>{}</style></head><body>",
        w.title, CSS
    );
    let _ = writeln!(s, "<h1>{}</h1>", w.title);
    let c = &manifest.counts;
    let _ = writeln!(s, "<h2>{}</h2><ul class=\"facts\">", w.summary);
    let _ = writeln!(
        s,
        "<li>{}, {}, {}</li>",
        counted(c.documents, w.one[0], w.documents),
        counted(c.speakers, w.one[1], w.speakers),
        counted(c.passages, w.one[2], w.passages)
    );
    if let Some(k) = &manifest.clusters {
        let (codes, cats, not_coded) = if language == Language::It {
            ("codici candidati", "categorie", "non codificati (troppo poco anche nel contesto)")
        } else {
            ("candidate codes", "categories", "not coded (too little even in context)")
        };
        if k.categories > 0 {
            let _ = writeln!(
                s,
                "<li>{} {codes} in {} {cats}, {} {}, {} {not_coded}</li>",
                k.clusters, k.categories, k.unassigned, w.unassigned, k.not_coded
            );
        } else {
            let _ = writeln!(
                s,
                "<li>{} {}, {} {}</li>",
                k.clusters, w.clusters, k.unassigned, w.unassigned
            );
        }
    }
    if let Some(m) = &manifest.model {
        let _ = writeln!(
            s,
            "<li>{}: {} <small>(sha256 {}…)</small></li>",
            w.model,
            esc(&m.name),
            &m.sha256[..12.min(m.sha256.len())]
        );
    }
    let timings: Vec<String> =
        manifest.timings.iter().map(|(k, v)| format!("{} {:.1}s", esc(k), v)).collect();
    let _ = writeln!(s, "<li>{}: {}</li>", w.timings, timings.join(", "));
    let _ = writeln!(
        s,
        "<li><small>terreno {} · {} · {}</small></li></ul>",
        esc(&manifest.terreno_version),
        esc(&manifest.created),
        esc(&manifest.inputs.iter().map(|i| i.document_id.as_str()).collect::<Vec<_>>().join(", "))
    );

    if let Some((points, labels)) = map {
        let _ = writeln!(
            s,
            "<h2>{}</h2><p class=\"note\">{}</p><figure class=\"map\">{}</figure>",
            w.map,
            w.map_note,
            map_svg(points, labels, &ids, w)?
        );
    }

    let _ = writeln!(s, "<h2>{}</h2>", w.matches);
    if file.codebook_codes == 0 {
        let _ = writeln!(s, "<p class=\"note\">{}</p>", w.no_codebook);
    } else {
        let _ = writeln!(
            s,
            "<table class=\"matches\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            w.candidate, w.best_code, w.similarity, w.proposal
        );
        for c in &file.candidates {
            let (name, sim) = c.matches.first().map_or((String::new(), String::new()), |m| {
                (m.name.clone(), format!("{:.2}", m.similarity))
            });
            let _ = writeln!(
                s,
                "<tr><td><a href=\"#{}\">{}</a> {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.id),
                esc(&c.id),
                esc(&c.label),
                esc(&name),
                sim,
                proposal_word(c.proposal, language)
            );
        }
        s.push_str("</table>\n");
    }

    if let Some(cmp) = comparison {
        let _ = writeln!(
            s,
            "<h2>{}</h2><p class=\"note\">{}: {} / {} · {} {}</p>",
            w.comparison,
            esc(&cmp.manual),
            cmp.placed,
            cmp.segments,
            cmp.passages_coded,
            w.passages
        );
        let level = if cmp.leaf.codes <= 40 { &cmp.leaf } else { &cmp.top };
        let _ = writeln!(s, "<figure class=\"heat\">{}</figure>", heat_svg(level, w)?);
        s.push_str("<table class=\"agree\"><tr><th></th><th>ARI</th><th>NMI</th><th>V</th><th>purity</th><th>kappa</th><th>alpha</th><th>AC1</th></tr>\n");
        for l in [&cmp.top, &cmp.leaf] {
            let p = &l.partition_unassigned_as_group;
            let o = &l.overall;
            let _ = writeln!(
                s,
                "<tr><td>{:?} ({} {})</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.2} [{:.2}, {:.2}]</td><td>{:.2} [{:.2}, {:.2}]</td><td>{:.2} [{:.2}, {:.2}]</td></tr>",
                l.level, l.codes, w.code, p.agreement.ari, p.agreement.nmi, p.agreement.v_measure, p.purity,
                o.value.kappa, o.kappa_ci.low, o.kappa_ci.high, o.value.alpha, o.alpha_ci.low, o.alpha_ci.high,
                o.value.ac1, o.ac1_ci.low, o.ac1_ci.high
            );
        }
        s.push_str("</table>\n");
    }

    if !file.saturation.is_empty() {
        let _ = writeln!(
            s,
            "<h2>{}</h2><figure class=\"sat\">{}</figure>",
            w.saturation,
            saturation_svg(&file.saturation, w)?
        );
    }

    let _ = writeln!(s, "<h2>{}</h2>", w.candidates);
    category_tree(file, w, language, &mut s);
    for c in &file.candidates {
        candidate_html(c, w, language, &mut s);
    }
    s.push_str("</body></html>\n");
    Ok(s)
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{font-size:1.8em}h2{margin-top:2em;border-bottom:2px solid #0072B2}h3{margin-bottom:.2em}\
.meta,.note{color:#555}.facts li{margin:.2em 0}\
blockquote{margin:.6em 0 .6em 1em;padding:.3em .8em;border-left:4px solid #E69F00;background:#fafafa}\
blockquote .q{color:#0072B2;font-style:italic;margin:0 0 .2em}blockquote p{margin:.2em 0}\
blockquote footer{color:#666;font-size:.9em}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}\
figure{margin:1em 0;overflow-x:auto}figure svg{max-width:100%;height:auto}";

/// Reads a finished run and writes its `report.html`, in `language` or else the run's own;
/// returns its path.
pub fn write_report(run: &RunDir, language: Option<Language>) -> Result<std::path::PathBuf> {
    let manifest = run.finished()?;
    let file = CandidatesFile::read(run.path())?;
    let path = run.file(crate::run::COMPARISON);
    let comparison: Option<Comparison> =
        if path.exists() { Some(crate::files::read_json(&path)?) } else { None };
    let (vectors, labels) = run.vectors()?;
    let points = projection(&vectors, &labels);
    let language = language.unwrap_or(manifest.config.report.language);
    let html = render(&manifest, &file, Some((&points, &labels)), comparison.as_ref(), language)?;
    run.write_text(crate::run::REPORT, &html)?;
    Ok(run.file(crate::run::REPORT))
}
