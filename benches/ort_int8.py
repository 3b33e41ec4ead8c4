"""ONNX Runtime int8, the peer of `make bench-embed`.

Builds e5-small as an ONNX graph from the same dequantised weights terreno runs (written by
the benchmark as weights.bin + weights.json), in the layout Hugging Face's BERT export has so
that ONNX Runtime's transformer optimizer recognises and fuses it (attention, skip layer norm,
GELU); quantises it dynamically with per-channel int8 weights (ONNX Runtime's
`quantize_dynamic`, what fastembed-style deployments run); then embeds the texts with 2
threads, sorted batches of 32, mean pooling over the attention mask, and writes the vectors
and the seconds.

usage: ort_int8.py WORKDIR TEXTS.json TOKENIZER.json OUT.f32
"""

import json
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(work):
    index = json.load(open(os.path.join(work, "weights.json")))
    blob = np.fromfile(os.path.join(work, "weights.bin"), dtype="<f4")
    dims = index.pop("_dims")
    h, heads, layers = dims["hidden"], dims["heads"], dims["layers"]
    hd = h // heads

    def tensor(name):
        off, shape = index[name]
        return blob[off : off + int(np.prod(shape))].reshape(shape)

    inits, nodes = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x, prefix, w, b):
        m = node("MatMul", [x, init(prefix + ".w", tensor(w).T)], prefix + "_mm")
        return node("Add", [init(prefix + ".b", tensor(b)), m], prefix + "_add")

    def layernorm(x, prefix, w, b):
        return node(
            "LayerNormalization",
            [x, init(prefix + ".g", tensor(w)), init(prefix + ".beta", tensor(b))],
            prefix,
            axis=-1,
            epsilon=float(dims["eps"]),
        )

    ids = "input_ids"
    mask = "attention_mask"
    word = node("Gather", [init("word", tensor("emb.word")), ids], "word_emb")
    seq = node("Shape", [ids], "shape_ids")
    s = node("Gather", [seq, init("one_idx", np.array(1, dtype=np.int64))], "seq_len", axis=0)
    pos_ids = node(
        "Range",
        [init("zero64", np.array(0, dtype=np.int64)), s, init("one64", np.array(1, dtype=np.int64))],
        "pos_ids",
    )
    pos_ids = node("Unsqueeze", [pos_ids, init("axes0", np.array([0], dtype=np.int64))], "pos_ids2")
    pos = node("Gather", [init("pos", tensor("emb.pos")), pos_ids], "pos_emb")
    x = node("Add", [word, pos], "emb_add1")
    x = node("Add", [x, init("type0", tensor("emb.type")[0])], "emb_add2")
    x = layernorm(x, "emb_ln", "emb.ln.w", "emb.ln.b")
    # The additive mask: 0 where attended, -10000 where padding, shaped [B, 1, 1, S].
    m = node("Unsqueeze", [mask, init("axes1", np.array([1], dtype=np.int64))], "mask3")
    m = node("Unsqueeze", [m, init("axes2", np.array([2], dtype=np.int64))], "mask4")
    m = node("Cast", [m], "mask_f", to=TensorProto.FLOAT)
    m = node("Sub", [init("one_f", np.array(1.0, dtype=np.float32)), m], "mask_inv")
    m = node("Mul", [m, init("neg", np.array(-10000.0, dtype=np.float32))], "mask_add")
    split = init("split_shape", np.array([0, 0, heads, hd], dtype=np.int64))
    merge = init("merge_shape", np.array([0, 0, h], dtype=np.int64))
    sqrt = init("sqrt_hd", np.array(np.sqrt(hd), dtype=np.float32))
    for l in range(layers):
        p = f"l{l}"

        def heads_of(t, name, perm):
            r = node("Reshape", [t, split], f"{p}_{name}_r")
            return node("Transpose", [r], f"{p}_{name}_t", perm=perm)

        q = heads_of(linear(x, f"{p}.q", f"{p}.q.w", f"{p}.q.b"), "q", [0, 2, 1, 3])
        k = heads_of(linear(x, f"{p}.k", f"{p}.k.w", f"{p}.k.b"), "k", [0, 2, 3, 1])
        v = heads_of(linear(x, f"{p}.v", f"{p}.v.w", f"{p}.v.b"), "v", [0, 2, 1, 3])
        sc = node("MatMul", [q, k], f"{p}_qk")
        sc = node("Div", [sc, sqrt], f"{p}_scale")
        sc = node("Add", [sc, m], f"{p}_masked")
        sc = node("Softmax", [sc], f"{p}_softmax", axis=-1)
        ctx = node("MatMul", [sc, v], f"{p}_ctx")
        ctx = node("Transpose", [ctx], f"{p}_ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge], f"{p}_ctx_r")
        a = linear(ctx, f"{p}.ao", f"{p}.ao.w", f"{p}.ao.b")
        a = node("Add", [a, x], f"{p}_res1")
        x = layernorm(a, f"{p}_aln", f"{p}.aln.w", f"{p}.aln.b")
        f = linear(x, f"{p}.fi", f"{p}.fi.w", f"{p}.fi.b")
        g = node("Div", [f, init(f"{p}_sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))], f"{p}_gd")
        g = node("Erf", [g], f"{p}_erf")
        g = node("Add", [g, init(f"{p}_one", np.array(1.0, dtype=np.float32))], f"{p}_ga")
        g = node("Mul", [f, g], f"{p}_gm")
        g = node("Mul", [g, init(f"{p}_half", np.array(0.5, dtype=np.float32))], f"{p}_gelu")
        o = linear(g, f"{p}.fo", f"{p}.fo.w", f"{p}.fo.b")
        o = node("Add", [o, x], f"{p}_res2")
        x = layernorm(o, f"{p}_oln", f"{p}.oln.w", f"{p}.oln.b")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="out"))
    graph = helper.make_graph(
        nodes,
        "e5-small",
        [
            helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", h])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, heads, h


def main():
    work, texts_path, tokenizer_path, out_path = sys.argv[1:5]
    quantised = os.path.join(work, "e5-small-int8.onnx")
    if not os.path.exists(quantised):
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model

        model, heads, h = build(work)
        plain = os.path.join(work, "e5-small.onnx")
        onnx.save(model, plain)
        optimised = optimize_model(
            plain, model_type="bert", num_heads=heads, hidden_size=h, opt_level=0
        )
        fused = optimised.get_fused_operator_statistics()
        print("fused:", {k: v for k, v in fused.items() if v}, file=sys.stderr)
        optimised.save_model_to_file(os.path.join(work, "e5-small-opt.onnx"))
        quantize_dynamic(
            os.path.join(work, "e5-small-opt.onnx"),
            quantised,
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    import onnxruntime as ort
    from tokenizers import Tokenizer

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(quantised, opts, providers=["CPUExecutionProvider"])
    texts = ["passage: " + t for t in json.load(open(texts_path))]
    tokenizer = Tokenizer.from_file(tokenizer_path)

    def embed(texts):
        enc = [e.ids for e in tokenizer.encode_batch(texts)]
        order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for b in range(0, len(order), 32):
            idx = order[b : b + 32]
            longest = max(len(enc[i]) for i in idx)
            ids = np.ones((len(idx), longest), dtype=np.int64)  # 1 is <pad>
            mask = np.zeros((len(idx), longest), dtype=np.int64)
            for r, i in enumerate(idx):
                ids[r, : len(enc[i])] = enc[i]
                mask[r, : len(enc[i])] = 1
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            pooled = (hidden * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
            out[idx] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    embed(texts[:8])
    times = []
    for _ in range(2):
        start = time.perf_counter()
        vectors = embed(texts)
        times.append(time.perf_counter() - start)
    vectors.astype("<f4").tofile(out_path)
    print(json.dumps({"seconds": times, "version": ort.__version__}))


if __name__ == "__main__":
    main()
