"""Export the committed `tiny-resnet` probe and its golden outputs.

tiny-resnet is a torchvision-style BasicBlock ResNet ([1,1,1,1] blocks, widths 8/16/32/64,
10-way head) with fixed weights: torch.manual_seed(0) initialisation, plus BatchNorm affine
parameters and running statistics drawn from the same seeded stream so that a BatchNorm bug
cannot hide behind gamma=1, beta=0, mean=0, var=1. Unlike the big probes, its ONNX graph keeps
its weights (~300 KB), so `Probe::tiny` needs no files.

Writes crates/probe/graphs/tiny-resnet.{onnx.gz,layout.json} and
crates/probe/tests/golden/tiny-resnet.json (PyTorch outputs on a formula input).

Run: python ci/probe/export_tiny.py   (needs torch, onnx, onnxruntime; see ci/probe/README.md)
"""
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn

import common


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock, same attribute names."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class TinyResNet(nn.Module):
    """torchvision.models.resnet.ResNet's structure and names, scaled down."""

    def __init__(self, widths=(8, 16, 32, 64), num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(inplanes, w, stride)))
            inplanes = w
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1], num_classes)

    def features(self, x, start=0):
        layers = [self.conv1, self.bn1, self.relu, self.maxpool,
                  self.layer1, self.layer2, self.layer3, self.layer4, self.avgpool]
        for layer in layers[start:]:
            x = layer(x)
        return torch.flatten(x, 1)

    def prefix(self, x, k):
        """REF's layers[:k] (the activations at skip_layers = k)."""
        layers = [self.conv1, self.bn1, self.relu, self.maxpool,
                  self.layer1, self.layer2, self.layer3, self.layer4]
        for layer in layers[:k]:
            x = layer(x)
        return x

    def forward(self, x):
        return self.fc(self.features(x))


def randomise_batch_norms(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=gen)
            m.bias.data = 0.2 * (torch.rand(c, generator=gen) - 0.5)
            m.running_mean.data = 0.2 * (torch.rand(c, generator=gen) - 0.5)
            m.running_var.data = 0.5 + torch.rand(c, generator=gen)


def main():
    torch.manual_seed(0)
    model = TinyResNet()
    randomise_batch_norms(model, torch.Generator().manual_seed(1))
    model.eval()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tiny-resnet.onnx")
        common.export_onnx(model, path, 32)
        layout = common.onnx_layout(path, "tiny-resnet", 32, 10)
        common.gzip_file(path, os.path.join(common.GRAPHS, "tiny-resnet.onnx.gz"))

        import onnxruntime as ort

        x = common.formula_input((2, 3, 32, 32))
        golden = common.golden_outputs(
            model, x, lambda m, x, k: m.prefix(x, k), 6, lambda m, h, k: m.features(h, start=k))
        with torch.no_grad():
            logits = model(torch.from_numpy(x)).numpy()
        ort_logits = ort.InferenceSession(path).run(None, {"input": x})[0]
        diff = float(np.abs(ort_logits - logits).max())
        print(f"onnxruntime vs torch: max abs diff {diff:.2e}")
        assert diff < 1e-5

    common.write_json(os.path.join(common.GRAPHS, "tiny-resnet.layout.json"), layout)
    os.makedirs(common.GOLDEN, exist_ok=True)
    golden.update({"source": "ci/probe/export_tiny.py (PyTorch " + torch.__version__ + ")",
                   "weights": "embedded (torch.manual_seed(0))", "input": "formula_input((2, 3, 32, 32))"})
    common.write_json(os.path.join(common.GOLDEN, "tiny-resnet.json"), golden)
    print("convs:", len(layout["convs"]), "filters:", sum(c["out_channels"] for c in layout["convs"]))


if __name__ == "__main__":
    main()
