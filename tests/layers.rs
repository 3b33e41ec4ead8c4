//! The library's modules form layers: no module imports, through `crate::`, one that imports
//! it back, however long the way round. A cycle means two stages know each other, and a change to
//! either can break the other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module of each file in `src/` and the top-level modules its code (tests
/// aside) names with `crate::`, including grouped imports (`crate::{a, b::c}`).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let word = regex::Regex::new(r"crate::(\{[^}]*\}|\w+)").unwrap();
    let head = regex::Regex::new(r"(?:^|[{,])\s*(\w+)").unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let deps = out.entry(top.clone()).or_default();
        for m in word.captures_iter(code) {
            let g = &m[1];
            let names: Vec<String> = if let Some(inner) = g.strip_prefix('{') {
                // Only the first path segment of each item in the group.
                let mut depth = 0;
                let mut items = vec![String::new()];
                for ch in inner.trim_end_matches('}').chars() {
                    match ch {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => items.push(String::new()),
                        _ => items.last_mut().unwrap().push(ch),
                    }
                }
                items
                    .iter()
                    .filter_map(|i| head.captures(i.trim()).map(|c| c[1].to_string()))
                    .collect()
            } else {
                vec![g.to_string()]
            };
            for n in names {
                if n != top && n != "self" && n != "Error" && n != "Result" {
                    deps.insert(n);
                }
            }
        }
    }
    out
}

/// The cycles of a graph (its strongly connected components of more than one module).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Reachability by depth-first search from each module; small graph, no need for Tarjan.
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(m) = stack.pop() {
            for d in graph.get(&m).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for m in graph.keys() {
        let comp: Vec<String> = graph
            .keys()
            .filter(|o| *o == m || (reaches[m].contains(*o) && reaches[*o].contains(m.as_str())))
            .cloned()
            .collect();
        if comp.len() > 1 && !out.contains(&comp) {
            out.push(comp);
        }
    }
    out
}

#[test]
fn the_modules_import_each_other_without_cycles() {
    let graph = imports();
    assert!(graph.len() > 15, "read {} modules", graph.len());
    // The reader sees the imports it must: a known edge of each kind.
    assert!(graph["pipeline"].contains("cluster"), "{:?}", graph["pipeline"]);
    assert!(graph["review"].contains("run"), "{:?}", graph["review"]);
    let found = cycles(&graph);
    assert!(found.is_empty(), "import cycles: {found:?}\nimports: {graph:#?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let g = |edges: &[(&str, &str)]| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            m.entry(a.to_string()).or_default().insert(b.to_string());
            m.entry(b.to_string()).or_default();
        }
        m
    };
    assert_eq!(cycles(&g(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])).len(), 1);
    assert!(cycles(&g(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
}
