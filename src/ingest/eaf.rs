//! ELAN `.eaf`: one tier per speaker, annotations aligned to time slots in milliseconds.
//! Annotations of all speaker tiers are put in time order (ties by annotation id, which ELAN
//! assigns in creation order); dependent tiers (translations, glosses) are not speech and are
//! left out. The canonical text is one `Speaker: text` line per annotation.

use std::collections::HashMap;
use std::path::Path;

use super::{CanonicalBuilder, Document, Format};
use crate::error::{Error, Result};

struct Annotation {
    start: Option<u64>,
    end: Option<u64>,
    id_number: u64,
    order: usize,
    speaker: String,
    value: String,
}

/// Reads an ELAN file.
pub(crate) fn read(path: &Path, text: &str) -> Result<Document> {
    let xml = crate::xml::parse(path, "ELAN XML", text)?;
    let root = xml.root_element();
    if root.tag_name().name() != "ANNOTATION_DOCUMENT" {
        return Err(Error::input(
            path,
            Some(xml.text_pos_at(root.range().start).row as usize),
            "not an ELAN file: the root element is not ANNOTATION_DOCUMENT",
        ));
    }
    let line = |node: roxmltree::Node| Some(xml.text_pos_at(node.range().start).row as usize);
    let mut slots: HashMap<&str, Option<u64>> = HashMap::new();
    for slot in root.descendants().filter(|n| n.has_tag_name("TIME_SLOT")) {
        let id = slot
            .attribute("TIME_SLOT_ID")
            .ok_or_else(|| Error::input(path, line(slot), "TIME_SLOT without TIME_SLOT_ID"))?;
        let value = match slot.attribute("TIME_VALUE") {
            None => None,
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                Error::input(path, line(slot), format!("TIME_VALUE {v:?} is not milliseconds"))
            })?),
        };
        slots.insert(id, value);
    }
    let mut annotations = Vec::new();
    for tier in root.children().filter(|n| n.has_tag_name("TIER")) {
        if tier.attribute("PARENT_REF").is_some() {
            continue;
        }
        let speaker = tier
            .attribute("PARTICIPANT")
            .filter(|p| !p.trim().is_empty())
            .or_else(|| tier.attribute("TIER_ID"))
            .unwrap_or("")
            .trim()
            .to_string();
        for ann in tier.descendants().filter(|n| n.has_tag_name("ALIGNABLE_ANNOTATION")) {
            let slot = |attr: &str| -> Result<Option<u64>> {
                let id = ann.attribute(attr).ok_or_else(|| {
                    Error::input(path, line(ann), format!("annotation without {attr}"))
                })?;
                slots.get(id).copied().ok_or_else(|| {
                    Error::input(path, line(ann), format!("{attr} {id:?} names no TIME_SLOT"))
                })
            };
            let value: String = ann
                .children()
                .filter(|n| n.has_tag_name("ANNOTATION_VALUE"))
                .flat_map(|n| {
                    n.descendants().filter(|d| d.is_text()).map(|d| d.text().unwrap_or(""))
                })
                .collect();
            if value.trim().is_empty() {
                continue;
            }
            let id = ann.attribute("ANNOTATION_ID").unwrap_or("");
            let digits: String = id.chars().skip_while(|c| !c.is_ascii_digit()).collect();
            annotations.push(Annotation {
                start: slot("TIME_SLOT_REF1")?,
                end: slot("TIME_SLOT_REF2")?,
                id_number: digits.parse().unwrap_or(u64::MAX),
                order: annotations.len(),
                speaker: speaker.clone(),
                value: value.split_whitespace().collect::<Vec<_>>().join(" "),
            });
        }
    }
    if annotations.is_empty() {
        return Err(Error::input(path, None, "the ELAN file has no annotations with text"));
    }
    annotations.sort_by_key(|a| (a.start.unwrap_or(u64::MAX), a.id_number, a.order));
    let mut builder = CanonicalBuilder::new();
    let secs = |ms: Option<u64>| ms.map(|v| v as f64 / 1000.0);
    for a in &annotations {
        builder.turn(&a.speaker, &a.value, (secs(a.start), secs(a.end)), None);
    }
    Ok(builder.finish(path, Format::Eaf))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EAF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT>
 <TIME_ORDER>
  <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="1000"/><TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="2500"/>
  <TIME_SLOT TIME_SLOT_ID="ts3" TIME_VALUE="500"/><TIME_SLOT TIME_SLOT_ID="ts4" TIME_VALUE="900"/>
 </TIME_ORDER>
 <TIER TIER_ID="A"><ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2"><ANNOTATION_VALUE>perché l&apos;ho detto</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION></TIER>
 <TIER TIER_ID="B"><ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts3" TIME_SLOT_REF2="ts4"><ANNOTATION_VALUE>prima</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION></TIER>
</ANNOTATION_DOCUMENT>"#;

    #[test]
    fn annotations_in_time_order() {
        let doc = read(Path::new("x.eaf"), EAF).unwrap();
        assert_eq!(doc.text, "B: prima\nA: perché l'ho detto");
        assert_eq!(doc.turns[1].time_start, Some(1.0));
        assert_eq!(doc.turns[1].time_end, Some(2.5));
    }

    #[test]
    fn broken_xml_names_the_line() {
        let broken = EAF.replace("</TIER>\n <TIER", "\n <TIER");
        let err = read(Path::new("x.eaf"), &broken).unwrap_err();
        assert!(err.to_string().starts_with("x.eaf line "), "{err}");
        assert!(err.to_string().contains("ELAN XML: not well-formed XML"), "{err}");
    }
}
