"""Export the `resnet18` and `resnet34` probe graphs (torchvision architecture) and goldens.

No ImageNet ResNet weights are obtainable from the package registries (torchvision's come
from download.pytorch.org; README "Probes and weights"), so the graphs are exported with the deterministic formula weights
(common.formula_tensor) and then ZEROED; the golden outputs are PyTorch's with the formula
weights on a 2x3x64x64 formula input. Real torchvision weights are loaded at run time
(`cargo xtask fetch-probe resnet18`).

BatchNorm is kept as its own nodes (training=PRESERVE, no constant folding).

Run: python ci/probe/export_resnet.py   (needs torch, torchvision, onnx, onnxruntime)
"""
import os
import tempfile

import numpy as np
import torch
import torchvision

import common


def ref_layers(model):
    """REF's `layers` list minus flatten/fc: skip_layers = k starts at layers[k]."""
    return [model.conv1, model.bn1, model.relu, model.maxpool,
            model.layer1, model.layer2, model.layer3, model.layer4, model.avgpool]


def prefix(model, x, k):
    for layer in ref_layers(model)[:k]:
        x = layer(x)
    return x


def features_from(model, h, k):
    for layer in ref_layers(model)[k:]:
        h = layer(h)
    return torch.flatten(h, 1)


def export(name):
    model = getattr(torchvision.models, name)(weights=None)
    model.eval()
    common.load_formula_weights(model)
    x = common.formula_input((2, 3, 64, 64))
    golden = common.golden_outputs(model, x, prefix, 6, features_from)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name + ".onnx")
        common.export_onnx(model, path, 224)
        layout = common.onnx_layout(path, name, 224, 1000)
        import onnxruntime as ort
        ort_logits = ort.InferenceSession(path).run(None, {"input": x})[0]
        diff = float(np.abs(ort_logits - np.array(golden["logits"], dtype=np.float32)).max())
        print(f"{name}: onnxruntime vs torch max abs diff {diff:.2e}")
        assert diff < 1e-4, diff
        common.zero_initializers(path)
        common.gzip_file(path, os.path.join(common.GRAPHS, name + ".onnx.gz"))
    common.write_json(os.path.join(common.GRAPHS, name + ".layout.json"), layout)
    golden.update({"source": "ci/probe/export_resnet.py (PyTorch " + torch.__version__
                   + ", torchvision " + torchvision.__version__ + ")",
                   "weights": "formula", "input": "formula_input((2, 3, 64, 64))"})
    common.write_json(os.path.join(common.GOLDEN, name + "-formula.json"), golden)
    print(name, "convs:", len(layout["convs"]),
          "filters:", sum(c["out_channels"] for c in layout["convs"]))


if __name__ == "__main__":
    for name in ("resnet18", "resnet34"):
        export(name)
