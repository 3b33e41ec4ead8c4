//! Writing files so that a run stopped half-way leaves every earlier file whole: each write
//! goes to a temporary file beside its target, is flushed to disk, then renamed over it. A
//! leaf module: it knows nothing of runs or stages.

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};

/// Writes `path` atomically: into a temporary file beside it, then renamed over it.
pub fn write_atomic(path: &Path, f: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = tmp_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f(&mut file)?;
        file.flush().map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Writes text atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |f| f.write_all(text.as_bytes()).map_err(|e| Error::io(path, e)))
}

/// Writes a JSON file atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |f| {
        serde_json::to_writer_pretty(&mut *f, value)?;
        f.write_all(b"\n").map_err(|e| Error::io(path, e))
    })
}

/// Reads a JSON file; a syntax error names the file and line.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::input(path, Some(e.line()), e.to_string()))
}

/// Writes a table as Parquet atomically.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    write_atomic(path, |f| {
        ParquetWriter::new(f)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(df)
            .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
        Ok(())
    })
}

/// Writes a Parquet table of `rows` rows in row groups of `group`, each built by `make` just
/// before it is written, so that a large table is never in memory twice.
pub fn write_parquet_chunked(
    path: &Path,
    rows: usize,
    group: usize,
    make: impl Fn(std::ops::Range<usize>) -> Result<DataFrame>,
) -> Result<()> {
    let group = group.max(1);
    let polars_error = |e: PolarsError| Error::io(path, std::io::Error::other(e.to_string()));
    write_atomic(path, |f| {
        let first = make(0..rows.min(group))?;
        let mut writer = ParquetWriter::new(f)
            .with_compression(ParquetCompression::Zstd(None))
            .batched(first.schema())
            .map_err(polars_error)?;
        writer.write_batch(&first).map_err(polars_error)?;
        drop(first);
        for start in (group..rows).step_by(group) {
            let df = make(start..(start + group).min(rows))?;
            writer.write_batch(&df).map_err(polars_error)?;
        }
        writer.finish().map_err(polars_error)?;
        Ok(())
    })
}

/// Reads a Parquet table.
pub fn read_parquet(path: &Path) -> Result<DataFrame> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    guarded(path, || {
        check_parquet(path, &bytes)?;
        ParquetReader::new(std::io::Cursor::new(&bytes))
            .finish()
            .map_err(|e| Error::input(path, None, format!("not a readable Parquet file: {e}")))
    })
}

/// Reads one member of a zip archive (`.docx`, `.qdpx`) as UTF-8 text, without its byte-order
/// mark; `None` if there is no such member. A member that would inflate past
/// [`crate::limits::Limits::unzipped_mb`], or over 16 MiB at more than
/// [`crate::limits::Limits::zip_ratio`] times its compressed size (a zip bomb), is an error
/// before it is inflated, and so is one whose inflated size turns out larger than it declared.
pub fn read_zip_text<R: std::io::Read + std::io::Seek>(
    path: &Path,
    archive: &mut ::zip::ZipArchive<R>,
    name: &str,
) -> Result<Option<String>> {
    use std::io::Read;
    let limits = crate::limits::limits();
    let cap = limits.unzipped_mb.saturating_mul(1 << 20);
    let mut member = match archive.by_name(name) {
        Ok(m) => m,
        Err(::zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(Error::input(path, None, format!("{name}: {e}"))),
    };
    let compressed = member.compressed_size().max(1);
    let too_big =
        |size: u64| size > cap || (size > 16 << 20 && size / compressed > limits.zip_ratio);
    let bomb = |size: u64| {
        Error::input(
            path,
            None,
            format!(
                "{name} would inflate to {} MiB from {} KiB: refused as a zip bomb (the limits \
                 are {} MiB, and {}x for members over 16 MiB; set {}=N or {}=N to read it anyway)",
                size >> 20,
                compressed >> 10,
                limits.unzipped_mb,
                limits.zip_ratio,
                crate::limits::UNZIPPED_MB,
                crate::limits::ZIP_RATIO,
            ),
        )
    };
    if too_big(member.size()) {
        return Err(bomb(member.size()));
    }
    let declared = member.size();
    let mut bytes = Vec::with_capacity(declared.min(cap) as usize);
    (&mut member)
        .take(declared.min(cap) + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::input(path, None, format!("{name}: {e}")))?;
    if bytes.len() as u64 > declared || too_big(bytes.len() as u64) {
        return Err(Error::input(
            path,
            None,
            format!("{name} inflates to more than it declares: a damaged or crafted zip"),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::input(
            path,
            None,
            format!("{name} is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })?;
    Ok(Some(match text.strip_prefix('\u{feff}') {
        Some(t) => t.to_string(),
        None => text,
    }))
}

/// Runs a reader from another crate on an outside file, turning a panic inside it (a damaged
/// file some readers answer with a panic, not an error) into an input error that names the
/// file, with nothing printed: `--keep-going` then skips the file like any other bad one.
pub fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    use std::cell::Cell;
    use std::sync::Once;
    thread_local!(static GUARDED: Cell<bool> = const { Cell::new(false) });
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    GUARDED.with(|g| g.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(false));
    result.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::input(path, None, format!("a damaged file: its reader stopped ({why})")))
    })
}

/// Checks a Parquet file's page headers against its footer before the Parquet reader decodes
/// it: the reader trusts a page's value count when it sizes its buffers, so a damaged or
/// crafted page header (billions of values in a page of a few rows) would make it ask for
/// exabytes and abort the process, which no error handling can catch.
pub fn check_parquet(path: &Path, bytes: &[u8]) -> Result<()> {
    use polars_parquet::parquet::page::CompressedPage;
    use polars_parquet::parquet::read::{get_page_iterator, read_metadata};
    let bad = |m: String| Error::input(path, None, format!("not a readable Parquet file: {m}"));
    thrift_sizes(footer(bytes).ok_or_else(|| bad("no Parquet footer".into()))?, Role::File, 0)
        .map_err(|m| bad(format!("its footer is damaged ({m})")))?;
    let meta = read_metadata(&mut std::io::Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let buffer = polars_buffer::Buffer::from(bytes.to_vec());
    for group in &meta.row_groups {
        let rows = group.num_rows();
        for column in group.parquet_columns() {
            let pages = get_page_iterator(
                column,
                std::io::Cursor::new(buffer.clone()),
                Vec::new(),
                bytes.len().max(1 << 20),
            )
            .map_err(|e| bad(e.to_string()))?;
            let mut values = 0usize;
            for page in pages {
                let page = page.map_err(|e| bad(e.to_string()))?;
                let CompressedPage::Data(page) = page else { continue };
                values = values.saturating_add(page.num_values());
                // Nested (list) columns hold more values than rows; 1,000 per row is far more
                // than any table of passages has.
                if values > rows.saturating_mul(1000).max(1000)
                    || page.uncompressed_size() > 1 << 30
                {
                    return Err(bad(format!(
                        "a page of column `{}` claims {} values in a row group of {rows} rows: \
                         the file is damaged",
                        column.descriptor().path_in_schema.join("."),
                        page.num_values()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The footer of a Parquet file: its metadata, before the 4-byte length and `PAR1`.
fn footer(bytes: &[u8]) -> Option<&[u8]> {
    let n = bytes.len();
    if n < 12 || &bytes[n - 4..] != b"PAR1" || &bytes[..4] != b"PAR1" {
        return None;
    }
    let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().ok()?) as usize;
    (len <= n - 12).then(|| &bytes[n - 8 - len..n - 8])
}

/// Which struct of the Parquet footer is being walked: the reader takes the fields it knows by
/// their number, whatever type the file declares for them, and sizes a vector from the six
/// that are lists of structs, so those must be declared as such.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// `FileMetaData`: 2 schema, 4 row groups, 5 key-value metadata, 7 column orders.
    File,
    /// `RowGroup`: 1 columns, 4 sorting columns.
    RowGroup,
    /// Anything else.
    Other,
}

/// Walks a Thrift compact-protocol struct (the Parquet footer) and checks that every list,
/// map and string it declares fits in the bytes that are left: the Parquet reader allocates
/// what a length declares before reading it, so a crafted length of billions aborts it.
/// Returns the bytes after the struct.
fn thrift_sizes(mut b: &[u8], role: Role, depth: usize) -> std::result::Result<&[u8], String> {
    fn varint(b: &mut &[u8]) -> std::result::Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first().ok_or("cut short")?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number too long".into())
    }
    /// One value of `kind`; `element`: inside a list, set or map, where a boolean takes a byte.
    fn value(
        b: &mut &[u8],
        kind: u8,
        depth: usize,
        element: bool,
    ) -> std::result::Result<(), String> {
        if depth > 64 {
            return Err("nested too deep".into());
        }
        let take = |b: &mut &[u8], n: u64| -> std::result::Result<(), String> {
            if n > b.len() as u64 {
                return Err(format!("a length of {n} with {} bytes left", b.len()));
            }
            *b = &b[n as usize..];
            Ok(())
        };
        match kind {
            1 | 2 if element => take(b, 1),
            1 | 2 => Ok(()),
            3 => take(b, 1),
            4..=6 => varint(b).map(drop),
            7 => take(b, 8),
            8 => {
                let n = varint(b)?;
                take(b, n)
            }
            9 | 10 => {
                let (&h, rest) = b.split_first().ok_or("cut short")?;
                *b = rest;
                let n = if h >> 4 == 15 { varint(b)? } else { u64::from(h >> 4) };
                // Every element takes at least one byte (booleans in a list do too).
                if n > b.len() as u64 {
                    return Err(format!("a list of {n} with {} bytes left", b.len()));
                }
                (0..n).try_for_each(|_| value(b, h & 0x0f, depth + 1, true))
            }
            11 => {
                let n = varint(b)?;
                if n == 0 {
                    return Ok(());
                }
                if n > b.len() as u64 {
                    return Err(format!("a map of {n} with {} bytes left", b.len()));
                }
                let (&h, rest) = b.split_first().ok_or("cut short")?;
                *b = rest;
                (0..n).try_for_each(|_| {
                    value(b, h >> 4, depth + 1, true)?;
                    value(b, h & 0x0f, depth + 1, true)
                })
            }
            12 => {
                *b = thrift_sizes(b, Role::Other, depth + 1)?;
                Ok(())
            }
            other => Err(format!("an unknown field type {other}")),
        }
    }
    if depth > 64 {
        return Err("nested too deep".into());
    }
    let mut id = 0i64;
    loop {
        let (&h, rest) = b.split_first().ok_or("cut short")?;
        b = rest;
        if h == 0 {
            return Ok(b);
        }
        id = if h >> 4 == 0 {
            // A long-form field id follows (zigzag i16).
            let z = varint(&mut b)? as i64;
            (z >> 1) ^ -(z & 1)
        } else {
            id + i64::from(h >> 4)
        };
        let lists = match role {
            Role::File => &[2, 4, 5, 7][..],
            Role::RowGroup => &[1, 4][..],
            Role::Other => &[][..],
        };
        if !lists.contains(&id) {
            value(&mut b, h & 0x0f, depth, false)?;
            continue;
        }
        // A list of structs, as the reader will take it.
        if h & 0x0f != 9 {
            return Err(format!("field {id} is not a list"));
        }
        let (&lh, rest) = b.split_first().ok_or("cut short")?;
        b = rest;
        let n = if lh >> 4 == 15 { varint(&mut b)? } else { u64::from(lh >> 4) };
        if lh & 0x0f != 12 || n > b.len() as u64 {
            return Err(format!("field {id}: a list of {n} with {} bytes left", b.len()));
        }
        let inner = if role == Role::File && id == 4 { Role::RowGroup } else { Role::Other };
        for _ in 0..n {
            b = thrift_sizes(b, inner, depth + 1)?;
        }
    }
}
