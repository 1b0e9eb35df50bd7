#!/usr/bin/env python3
"""PyTorch implementation of the same pipeline as `task2vec embed --method montecarlo`, for
end-to-end timing on the same machine (not run by CI; needs torch + torchvision, and timm for
`--probe efficientnet-lite0`).

Pipeline (same defaults as task2vec-fisher): ResNet-18 probe (or timm's EfficientNet-Lite0, the
same 49 convs and 21,008 filters as ours, at skip-layers 0 only), BN in eval mode, activations
cached at `--skip-layers` (REF numbering: 6 = input of layer3), linear head fitted with Adam
(lr 4e-4, wd 1e-4, 10 epochs x 10,000 class-balanced draws, batch 64), then the per-sample
Monte-Carlo Fisher with the same kernel (one backward per batch; per sample either
delta . unfold(a)^T squared, or the Gram-matrix form where that is cheaper, as in Rust),
class-balanced weights, one label draw per image; depthwise convs get their per-channel
gradient (k*k values per filter), as in Rust. Prints seconds per stage as JSON.

usage: bench_torch.py IMAGE_FOLDER [--probe resnet18|efficientnet-lite0] [--weights resnet18.pth]
                      [--size 224] [--skip-layers 0]
                      [--max-samples 1000] [--device cpu|cuda] [--threads N]
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
import torchvision
from torchvision import transforms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--probe", choices=["resnet18", "efficientnet-lite0"], default="resnet18")
    ap.add_argument("--weights")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--skip-layers", type=int, default=0)
    ap.add_argument("--max-samples", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--kernel", choices=["auto", "direct", "gram"], default="auto",
                    help="per-sample squared norms by forming G_n (direct), through the Gram "
                         "matrix of the unfolded input (gram), or the cheaper per layer (auto, "
                         "the rule task2vec-fisher uses)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    t = {}

    if a.probe == "resnet18":
        net = torchvision.models.resnet18()
        layers = [net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                  net.layer4, net.avgpool]
    else:
        import timm  # only for this probe

        if a.skip_layers != 0:
            ap.error("--probe efficientnet-lite0 runs at --skip-layers 0 only")
        net = timm.create_model("efficientnet_lite0")
        # forward_features: stem .. conv_head + BN + ReLU6; forward_head(pre_logits): pool.
        layers = [lambda h: net.forward_head(net.forward_features(h), pre_logits=True)]
    if a.weights:
        net.load_state_dict(torch.load(a.weights, map_location="cpu"))
    net = net.to(dev).eval()
    for p in net.parameters():
        p.requires_grad_(False)

    tf = transforms.Compose([
        transforms.Grayscale(3), transforms.Resize((a.size, a.size)), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = torchvision.datasets.ImageFolder(a.data, transform=tf)
    idx = torch.randperm(len(ds))[: a.max_samples].tolist()
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, idx), batch_size=64)

    def tail(h):
        for m in layers[a.skip_layers:]:
            h = m(h)
        return torch.flatten(h, 1)

    s = time.time()
    acts, feats, labels = [], [], []
    with torch.no_grad():
        for x, y in loader:
            h = x.to(dev)
            for m in layers[: a.skip_layers]:
                h = m(h)
            acts.append(h)
            feats.append(tail(h))
            labels.append(y.to(dev))
    acts, feats, labels = torch.cat(acts), torch.cat(feats), torch.cat(labels)
    t["cache_s"] = time.time() - s

    s = time.time()
    classes = int(labels.max()) + 1
    head = torch.nn.Linear(feats.shape[1], classes).to(dev)
    opt = torch.optim.Adam(head.parameters(), lr=4e-4, weight_decay=1e-4)
    counts = torch.bincount(labels, minlength=classes).float()
    w = (1.0 / counts[labels])
    w = w / w.sum()
    for _ in range(10):
        draws = torch.multinomial(w, 10000, replacement=True)
        for b in range(10000 // 64):
            i = draws[b * 64:(b + 1) * 64]
            loss = F.cross_entropy(head(feats[i]), labels[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    head.requires_grad_(False)
    t["head_s"] = time.time() - s

    # Per-sample kernel via hooks: record each conv's input, retain its output's grad.
    tail_modules = layers[a.skip_layers:] if a.probe == "resnet18" else [net]
    convs = [m for l in tail_modules for m in (l.modules() if isinstance(l, torch.nn.Module) else [])
             if isinstance(m, torch.nn.Conv2d)]
    fisher = [torch.zeros(c.out_channels, device=dev) for c in convs]
    rec = {}

    def hook(mod, inp, out):
        out.retain_grad()
        rec[mod] = (inp[0].detach(), out)

    hs = [c.register_forward_hook(hook) for c in convs]
    s = time.time()
    for start in range(0, len(labels), a.batch):
        h = acts[start:start + a.batch].clone().requires_grad_(True)
        logp = F.log_softmax(head(tail(h)), 1)
        y = torch.multinomial(logp.exp(), 1)
        (-logp.gather(1, y).sum()).backward()
        wb = w[start:start + a.batch]
        for j, c in enumerate(convs):
            x, out = rec[c]
            d = out.grad.flatten(2)                                   # N, Cout, P
            u = F.unfold(x, c.kernel_size, c.dilation, c.padding, c.stride)  # N, Cin k2, P
            p, k, o = d.shape[2], u.shape[1], d.shape[1]
            if c.groups > 1:
                assert c.groups == c.in_channels == c.out_channels, "depthwise convs only"
                u = u.view(u.shape[0], c.in_channels, -1, p)          # N, C, k2, P
                g = torch.einsum("ncp,nckp->nck", d, u)               # N, C, k2
                sq = g.square().mean(2)
            elif a.kernel == "gram" or (a.kernel == "auto" and p * (k + o) < o * k):
                gram = torch.bmm(u.transpose(1, 2), u)                # N, P, P
                sq = (torch.bmm(d, gram) * d).sum(2).clamp_min(0) / k  # N, Cout
            else:
                g = torch.bmm(d, u.transpose(1, 2))                   # N, Cout, Cin k2
                sq = g.square().mean(2)
            fisher[j] += (sq * wb[:, None]).sum(0)
    for hk in hs:
        hk.remove()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t["fisher_s"] = time.time() - s
    t["total_s"] = t["cache_s"] + t["head_s"] + t["fisher_s"]
    t["values"] = int(sum(f.numel() for f in fisher))
    print(json.dumps(t))


if __name__ == "__main__":
    main()
