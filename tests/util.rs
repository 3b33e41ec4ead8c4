//! Helpers shared by the integration tests.

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// `../shared/data/<rel>`, the real data every developer and CI have.
pub fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel)
}

/// The `terreno` binary.
pub fn terreno() -> Command {
    Command::cargo_bin("terreno").expect("the binary is built")
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes.as_ref()).expect("write test file");
    path
}

/// A minimal real `.docx` (a zip with `word/document.xml`), one paragraph per line of `text`.
pub fn docx(dir: &Path, name: &str, paragraphs: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).expect("create docx");
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#).unwrap();
    zip.start_file("word/document.xml", options).unwrap();
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>"#,
    );
    for p in paragraphs {
        xml.push_str("<w:p><w:r><w:t xml:space=\"preserve\">");
        xml.push_str(&p.replace('&', "&amp;").replace('<', "&lt;"));
        xml.push_str("</w:t></w:r></w:p>");
    }
    xml.push_str("</w:body></w:document>");
    zip.write_all(xml.as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

/// Reads a run's `passages.parquet`.
pub fn passages(run: &Path) -> polars::prelude::DataFrame {
    read_parquet(&run.join("passages.parquet"))
}

/// Reads a Parquet file.
pub fn read_parquet(path: &Path) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(file).finish().expect("readable parquet")
}

/// The vectors of a `list[f32]` column.
pub fn vectors(df: &polars::prelude::DataFrame, name: &str) -> Vec<Vec<f32>> {
    df.column(name)
        .unwrap()
        .list()
        .unwrap()
        .amortized_iter()
        .map(|s| s.unwrap().as_ref().f32().unwrap().into_no_null_iter().collect())
        .collect()
}

/// The project's model folder (fetched by `make setup`).
pub fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/multilingual-e5-small")
}

/// Interviewee passages of ParlaTO as the embedding benchmark defines them: consecutive lines
/// of one `TOI…` speaker joined, 20-120 words, files in sorted order, the first `n`.
pub fn parlato_passages(n: usize) -> Vec<String> {
    let dir = shared("parlato/linear-orthographic");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut current: Option<(String, Vec<String>)> = None;
        let flush = |c: Option<(String, Vec<String>)>, out: &mut Vec<String>| {
            if let Some((sp, lines)) = c {
                let s = lines.join(" ");
                let words = s.split_whitespace().count();
                if sp.starts_with("TOI") && (20..=120).contains(&words) {
                    out.push(s);
                }
            }
        };
        for line in text.lines() {
            let (sp, t) = line.split_once('\t').unwrap_or((line, ""));
            match &mut current {
                Some((cur, lines)) if cur == sp => lines.push(t.to_string()),
                _ => {
                    flush(current.take(), &mut out);
                    current = Some((sp.to_string(), vec![t.to_string()]));
                }
            }
        }
        flush(current, &mut out);
        if out.len() >= n {
            break;
        }
    }
    out.truncate(n);
    out
}

/// A string column as owned values.
pub fn strings(df: &polars::prelude::DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name)
        .unwrap_or_else(|_| panic!("column {name}"))
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

/// A u32 column as values.
pub fn u32s(df: &polars::prelude::DataFrame, name: &str) -> Vec<u32> {
    df.column(name).unwrap().u32().unwrap().iter().map(|v| v.unwrap()).collect()
}

/// The run's manifest.
pub fn manifest(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap()
}

/// The embedding cache the tests share, so each text is embedded once per machine.
pub fn test_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cache")
}

/// Runs the bundled sample (its config, the shared test cache) into `out`, with `extra`
/// arguments.
pub fn sample_run(out: &Path, extra: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let done = terreno()
        .args(["run", "--quiet", "--force", "--cache-dir"])
        .arg(test_cache())
        .arg("--config")
        .arg(root.join("data/sample.toml"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg(root.join("data/parlato"))
        .assert()
        .success();
    String::from_utf8_lossy(&done.get_output().stdout).into_owned()
}

/// Validates an XML file against one of the REFI-QDA schemas in `../shared/refi-qda`.
pub fn xmllint(schema: &str, file: &Path) {
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(shared("../refi-qda").join(schema))
        .arg(file)
        .output()
        .expect("xmllint is installed by `make setup` (Debian package libxml2-utils)");
    assert!(
        out.status.success(),
        "{} does not validate:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the pipeline on the tiny embedder.
pub fn tiny_run(
    inputs: &[impl AsRef<Path>],
    out: &Path,
    force: bool,
    tweak: impl FnOnce(&mut terreno::config::Config),
) -> terreno::Result<terreno::pipeline::Summary> {
    use terreno::embed::{Embedder, TinyEmbedder};
    use terreno::pipeline::{self, RunOptions};
    let mut config = terreno::config::Config::default();
    tweak(&mut config);
    let opts = RunOptions {
        inputs: inputs.iter().map(|p| p.as_ref().to_path_buf()).collect(),
        out: out.to_path_buf(),
        force,
        quiet: true,
        ..RunOptions::default()
    };
    pipeline::run(&config, &opts, Some(&TinyEmbedder::default() as &dyn Embedder))
}
