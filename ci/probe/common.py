"""Shared helpers for the probe export scripts (ci/probe/export_*.py).

Everything here is numpy/onnx only, except `export_onnx`, which needs torch.
"""
import gzip
import hashlib
import json
import os

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GRAPHS = os.path.join(REPO, "crates", "probe", "graphs")
GOLDEN = os.path.join(REPO, "crates", "probe", "tests", "golden")


# ---------------------------------------------------------------------------------------------
# Deterministic "formula" weights, reproduced bit-for-bit by crates/probe/src/formula.rs.
# Integer hashing only (no transcendental functions), so numpy and Rust agree exactly.
# ---------------------------------------------------------------------------------------------
MASK = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & MASK
    return h


def uniform01(seed: int, n: int) -> np.ndarray:
    """n values in [0, 1), a pure function of (seed, index) (a 32-bit integer hash)."""
    i = np.arange(n, dtype=np.uint64)
    x = (i * np.uint64(0x9E3779B1) + np.uint64(seed)) & np.uint64(MASK)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x045D9F3B)) & np.uint64(MASK)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x045D9F3B)) & np.uint64(MASK)
    x ^= x >> np.uint64(16)
    # 24 bits so that the float32 value is exact.
    return (x >> np.uint64(8)).astype(np.float64) / float(1 << 24)


def formula_tensor(name: str, shape) -> np.ndarray:
    """The deterministic value of the state-dict entry `name` (torch naming) of `shape`."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform01(fnv1a32(name), n).astype(np.float32)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_mean":
        v = np.float32(0.2) * (np.float32(2) * u - np.float32(1))
    elif leaf == "running_var":
        v = np.float32(0.5) + u
    elif leaf == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    elif len(shape) == 1 and leaf == "weight":  # BatchNorm gamma
        v = np.float32(0.5) + u
    elif leaf == "bias":
        v = np.float32(0.1) * (np.float32(2) * u - np.float32(1))
    else:  # conv / linear weight: uniform with variance 1/fan_in
        fan_in = int(np.prod(shape[1:]))
        scale = np.float32(np.sqrt(3.0 / fan_in))
        v = scale * (np.float32(2) * u - np.float32(1))
    return v.astype(np.float32).reshape(shape)


def formula_input(shape) -> np.ndarray:
    u = uniform01(fnv1a32("input"), int(np.prod(shape))).astype(np.float32)
    return (np.float32(2) * u - np.float32(1)).reshape(shape)


# ---------------------------------------------------------------------------------------------
# ONNX export and post-processing
# ---------------------------------------------------------------------------------------------
def export_onnx(model, path: str, size: int):
    """Export with BatchNorm kept as its own nodes (docs/burn-notes.md pitfall 1)."""
    import torch

    model.eval()
    x = torch.zeros(1, 3, size, size)
    torch.onnx.export(
        model, (x,), path, opset_version=16, dynamo=False,
        training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}},
    )


def onnx_layout(path: str, probe: str, input_size: int, num_classes: int) -> dict:
    """The ordered conv and BatchNorm layout, read off the ONNX graph (node order = the order
    burn-onnx generates its `conv2dN`/`batchnormalizationN` fields and forward calls in)."""
    import onnx

    m = onnx.load(path)
    inits = {t.name: t for t in m.graph.initializer}
    producer = {}
    for node in m.graph.node:
        for o in node.output:
            producer[o] = node
    convs, bns = [], []
    conv_of_output = {}
    for node in m.graph.node:
        if node.op_type == "Conv":
            w = inits[node.input[1]]
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            name = node.input[1][: -len(".weight")]
            out_c, in_per_group, kh, kw = list(w.dims)
            groups = int(attrs.get("group", 1))
            conv_of_output[node.output[0]] = len(convs)
            convs.append({
                "name": name, "out_channels": out_c, "in_channels": in_per_group * groups,
                "kernel": [kh, kw], "groups": groups, "stride": list(attrs.get("strides", [1, 1])),
                "bias": len(node.input) > 2,
            })
        elif node.op_type == "BatchNormalization":
            name = node.input[1][: -len(".weight")]
            src = node.input[0]
            if src not in conv_of_output:
                raise SystemExit(f"BatchNorm {name} does not directly follow a conv")
            bns.append({"name": name, "channels": int(inits[node.input[1]].dims[0]),
                        "follows_conv": conv_of_output[src]})
    heads = [n for n in m.graph.node if n.op_type == "Gemm"]
    if len(heads) != 1 or heads[0].input[1] not in inits:
        raise SystemExit("expected exactly one Gemm (the classification head)")
    head = heads[0].input[1][: -len(".weight")]
    head_shape = list(inits[heads[0].input[1]].dims)
    if any(n.op_type == "Identity" for n in m.graph.node):
        raise SystemExit("Identity nodes in the graph: the exporter merged equal initializers")
    return {"probe": probe, "input_size": input_size, "num_classes": num_classes,
            "convs": convs, "batch_norms": bns, "head": head, "head_shape": head_shape}


def zero_initializers(path: str):
    """Replace every initializer's data by zeros (same shape and type): the committed graph
    carries structure only; real weights are loaded at run time."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    for i, t in enumerate(m.graph.initializer):
        # Graph constants (e.g. the folded Pad amounts) are structure, not weights.
        if t.name.startswith("pad_const"):
            continue
        arr = numpy_helper.to_array(t)
        z = numpy_helper.from_array(np.zeros_like(arr), t.name)
        m.graph.initializer[i].CopyFrom(z)
    onnx.save(m, path)


def gzip_file(src: str, dst: str):
    with open(src, "rb") as f:
        data = f.read()
    # mtime=0: the compressed bytes depend on the content only.
    with open(dst, "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0, filename="") as g:
            g.write(data)


def write_json(path: str, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_formula_weights(model):
    """Sets every state-dict entry of `model` to its `formula_tensor` value."""
    import torch

    state = {k: torch.from_numpy(formula_tensor(k, tuple(v.shape))) for k, v in model.state_dict().items()}
    model.load_state_dict(state)


def golden_outputs(model, x, prefix, split_k, features_from):
    """Logits, pooled features, the activation at split k, and the features recomputed from
    that activation, on the numpy input x; `prefix(model, x, k)` and `features_from(model, h, k)`
    run the model's parts."""
    import torch

    with torch.no_grad():
        xt = torch.from_numpy(x)
        logits = model(xt).numpy()
        h = prefix(model, xt, split_k)
        feats = features_from(model, h, split_k).numpy()
        feats0 = features_from(model, xt, 0).numpy()
    flat = h.numpy().reshape(-1).astype(np.float64)
    return {
        "logits": f32_list(logits),
        "features": f32_list(feats0),
        "split": split_k,
        "split_shape": list(h.shape),
        # The activation is large: its first 512 values and two sums pin it down.
        "split_activation_head": f32_list(flat[:512]),
        "split_activation_sum": float(flat.sum()),
        "split_activation_abs_sum": float(np.abs(flat).sum()),
        "features_from_split": f32_list(feats),
    }


def f32_list(a):
    """Nested lists of floats with 9 significant digits: exact for float32, half the bytes."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 0:
        return float(f"{float(a):.9g}")
    return [f32_list(v) for v in a]


def fold_pad_inputs(path: str, size: int):
    """Replaces the computed `pads`/`constant_value` inputs of every Pad node by constants.

    torch exports F.pad (EfficientNet's static "SAME" padding) as a Pad fed by a small
    Reshape/Slice/Concat graph that only constant folding would remove, and constant folding
    is off with training=PRESERVE. The values do not depend on the input, so we evaluate them
    once with onnxruntime and drop the feeding graph."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    m = onnx.load(path)
    pads = [n for n in m.graph.node if n.op_type == "Pad"]
    inits = {t.name for t in m.graph.initializer}
    names = sorted({i for n in pads for i in n.input[1:] if i and i not in inits})
    if not names:
        return
    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    for name in names:
        probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    x = np.zeros((1, 3, size, size), dtype=np.float32)
    values = ort.InferenceSession(probe.SerializeToString()).run(names, {"input": x})
    renamed = {}
    for name, value in zip(names, values):
        new = "pad_const_" + str(len(renamed))
        renamed[name] = new
        m.graph.initializer.append(numpy_helper.from_array(np.asarray(value), new))
    for n in pads:
        for i in range(1, len(n.input)):
            if n.input[i] in renamed:
                n.input[i] = renamed[n.input[i]]
    # Drop nodes whose outputs nobody reads any more.
    outputs = {o.name for o in m.graph.output}
    while True:
        used = {i for n in m.graph.node for i in n.input} | outputs
        dead = [n for n in m.graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            m.graph.node.remove(n)
    onnx.save(m, path)
