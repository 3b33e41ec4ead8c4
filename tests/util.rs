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
    use polars::prelude::*;
    let file = std::fs::File::open(run.join("passages.parquet")).expect("passages.parquet");
    ParquetReader::new(file).finish().expect("readable parquet")
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
