//! Tables of passages: CSV, TSV or Parquet with an id column and a text column. Each row is one
//! passage as it is; its id and every other column are kept. A `speaker` column, when there is
//! one, gives the row's speaker. The canonical text is one line per row.

use std::collections::BTreeSet;
use std::path::Path;

use polars::prelude::*;

use super::IngestConfig;
use super::{csv_line, CanonicalBuilder, Document, Format, Row};
use crate::error::{Error, Result};

/// Whether a delimited text's header has the configured id and text columns.
pub(crate) fn has_columns(text: &str, delimiter: u8, config: &IngestConfig) -> bool {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(text.as_bytes());
    reader.headers().is_ok_and(|h| {
        let names: BTreeSet<&str> = h.iter().map(str::trim).collect();
        names.contains(config.id_column.as_str()) && names.contains(config.text_column.as_str())
    })
}

/// Reads a CSV (`,`) or TSV (`\t`) table.
pub(crate) fn read_delimited(
    path: &Path,
    text: &str,
    delimiter: u8,
    config: &IngestConfig,
) -> Result<Document> {
    check_quotes(path, text, delimiter)?;
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).flexible(false).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::input(path, csv_line(&e), format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record =
            record.map_err(|e| Error::input(path, csv_line(&e), format!("malformed row: {e}")))?;
        let line = record.position().map(|p| p.line() as usize);
        rows.push((line, record.iter().map(|v| Some(v.to_string())).collect::<Vec<_>>()));
    }
    build(path, &headers, rows, config)
}

/// Reads a Parquet table; every column is kept as text.
pub(crate) fn read_parquet(path: &Path, bytes: &[u8], config: &IngestConfig) -> Result<Document> {
    // The whole reading is guarded: a damaged file can make the Parquet reader panic while it
    // decodes as well as while it opens the file.
    crate::files::guarded(path, || crate::files::check_parquet(path, bytes))?;
    let (headers, rows) = crate::files::guarded(path, || {
        let df = ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .map_err(|e| Error::input(path, None, format!("not a readable Parquet file: {e}")))?;
        let headers: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
        let mut columns = Vec::new();
        for c in df.columns() {
            let s = c.as_materialized_series().cast(&DataType::String).map_err(|_| {
                Error::input(
                    path,
                    None,
                    format!(
                        "column `{}` holds {} values; terreno reads columns of text, numbers, \
                         dates and true/false",
                        c.name(),
                        c.dtype()
                    ),
                )
            })?;
            columns.push(s.str()?.clone());
        }
        let rows: Vec<RawRow> = (0..df.height())
            .map(|i| (None, columns.iter().map(|c| c.get(i).map(str::to_string)).collect()))
            .collect();
        Ok((headers, rows))
    })?;
    build(path, &headers, rows, config)
}

type RawRow = (Option<usize>, Vec<Option<String>>);

fn build(
    path: &Path,
    headers: &[String],
    rows: Vec<RawRow>,
    config: &IngestConfig,
) -> Result<Document> {
    let find = |name: &str, flag: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            Error::input(
                path,
                Some(1),
                format!(
                    "no column `{name}` (the columns are: {}); name the right one with {flag} or in the config",
                    headers.join(", ")
                ),
            )
        })
    };
    let id_col = find(&config.id_column, "--id-column")?;
    let text_col = find(&config.text_column, "--text-column")?;
    let speaker_col = headers.iter().position(|h| h == "speaker");
    let mut builder = CanonicalBuilder::new();
    let mut seen = BTreeSet::new();
    let mut empty = 0;
    for (i, (line, values)) in rows.into_iter().enumerate() {
        let line = line.or(Some(i + 2));
        let id = values[id_col].clone().unwrap_or_default();
        if id.trim().is_empty() {
            return Err(Error::input(
                path,
                line,
                format!("empty `{}` in this row", config.id_column),
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(Error::input(path, line, format!("the id {id:?} appears twice")));
        }
        let text = values[text_col].clone().unwrap_or_default();
        if text.trim().is_empty() {
            empty += 1;
            continue;
        }
        let speaker = speaker_col.and_then(|c| values[c].clone()).unwrap_or_default();
        let extra = headers
            .iter()
            .zip(values)
            .enumerate()
            .filter(|(c, _)| *c != id_col && *c != text_col && Some(*c) != speaker_col)
            .map(|(_, (h, v))| (h.clone(), v))
            .collect();
        builder.turn(speaker.trim(), &text, (None, None), Some(Row { id, extra }));
    }
    let mut doc = builder.finish(path, Format::Table);
    if empty > 0 {
        doc.warnings.push(format!("{empty} rows with empty `{}` skipped", config.text_column));
    }
    if doc.turns.is_empty() {
        return Err(Error::input(
            path,
            None,
            format!("no row has text in `{}`", config.text_column),
        ));
    }
    Ok(doc)
}

/// Refuses a delimited text in which a quoted field is never closed: the CSV reader would take
/// every later row into that one field without a word. The states follow the reader's own
/// rules (a quote opens a field only at its start; `""` inside one is a quote).
pub fn check_quotes(path: &Path, text: &str, delimiter: u8) -> Result<()> {
    enum S {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let (mut state, mut line, mut opened) = (S::FieldStart, 1, 0);
    for &b in text.as_bytes() {
        state = match (state, b) {
            (S::FieldStart, b'"') => {
                opened = line;
                S::Quoted
            }
            (S::Quoted, b'"') => S::QuoteInQuoted,
            (S::Quoted, _) => S::Quoted,
            (S::QuoteInQuoted, b'"') => S::Quoted,
            (_, b'\n') => S::FieldStart,
            (_, c) if c == delimiter => S::FieldStart,
            _ => S::Unquoted,
        };
        line += usize::from(b == b'\n');
    }
    if matches!(state, S::Quoted) {
        return Err(Error::input(
            path,
            Some(opened),
            "a quote (\") opens a field here that is never closed, so every later row would be \
             read into it; close the quote or remove it",
        ));
    }
    Ok(())
}

/// A flexible CSV reader over `text` and its header names, trimmed and lowercased.
pub fn csv_reader<'t>(
    path: &Path,
    text: &'t str,
    delimiter: u8,
) -> Result<(csv::Reader<&'t [u8]>, Vec<String>)> {
    check_quotes(path, text, delimiter)?;
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::input(path, Some(1), e.to_string()))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    Ok((reader, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclosed_quote_is_found_where_it_opens() {
        let p = Path::new("t.csv");
        let bad = "id,text\n1,\"ok, \"\"quoted\"\" and\nover two lines\"\n2,\"never closed\n3,x\n";
        let e = check_quotes(p, bad, b',').unwrap_err().to_string();
        assert!(e.starts_with("t.csv line 4: a quote"), "{e}");
        assert!(check_quotes(p, "id,text\n1,\"a\"\"b\"\n2,5\" tall\n", b',').is_ok());
        assert!(check_quotes(p, "id\ttext\n1\t\"x\n", b'\t').is_err());
        assert!(check_quotes(p, "id\ttext\n1\tx \"y\n", b'\t').is_ok());
    }
}
