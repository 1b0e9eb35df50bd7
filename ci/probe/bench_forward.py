"""PyTorch side of crates/probe/benches/forward.rs: forward throughput (images/s) of each probe
at 64x64 and 224x224, batch 32, CPU, eval, no_grad, on the same machine.

Run: python ci/probe/bench_forward.py [--threads N]   (needs torch, torchvision,
efficientnet-lite-pytorch; the weights' values do not matter for speed)
"""
import argparse
import sys
import time

import torch
import torchvision

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from export_tiny import TinyResNet  # noqa: E402
from export_efficientnet import build as build_effnet  # noqa: E402


def models():
    yield "tiny-resnet", TinyResNet()
    yield "efficientnet-lite0", build_effnet()
    yield "resnet18", torchvision.models.resnet18(weights=None)
    yield "resnet34", torchvision.models.resnet34(weights=None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    for name, model in models():
        model.eval()
        for size in (64, 224):
            x = torch.randn(32, 3, size, size, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                model(x)  # warm-up
                times = []
                for _ in range(args.iters):
                    t = time.perf_counter()
                    model(x)
                    times.append(time.perf_counter() - t)
            times.sort()
            median = times[len(times) // 2]
            print(f"{name}/{size}: {median * 1e3:.1f} ms/batch, {32 / median:.1f} images/s")


if __name__ == "__main__":
    main()
