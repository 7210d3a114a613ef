"""PyTorch CPU timing of the full-width SegNet VGG16-bn auto-encoder training step (forward in
training mode, MSE, backward, SGD update), as examples/bench_ae_step.rs; same output format,
with the convolutions' arithmetic counted from the layers as they ran.

Each case runs in f32, then (where the CPU has AVX512-BF16, as la's bf16 rows) under
autocast to bfloat16, PyTorch's mixed precision on CPU (oneDNN's bf16 convolutions); those rows'
shapes end in ", bf16 products".

python3 crates/la-segnet/scripts/bench_ae_step.py [--reps N] [--threads 2]
"""
import argparse
import json
import time

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

CASES = [(16, 64), (4, 224)]


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        feats = make_layers(cfgs["D"], batch_norm=True)
        self.enc = nn.ModuleList(
            nn.MaxPool2d(2, 2, return_indices=True) if isinstance(m, nn.MaxPool2d) else m for m in feats)
        mods = []
        for m in reversed(self.enc):
            if isinstance(m, nn.Conv2d):
                mods += [nn.ConvTranspose2d(m.out_channels, m.in_channels, 3, 1, 1),
                         nn.BatchNorm2d(m.in_channels), nn.ReLU(inplace=True)]
            elif isinstance(m, nn.MaxPool2d):
                mods.append(nn.MaxUnpool2d(2, 2))
        self.dec = nn.ModuleList(mods[:-2])

    def forward(self, x):
        idx = []
        for m in self.enc:
            if isinstance(m, nn.MaxPool2d):
                x, i = m(x)
                idx.append(i)
            else:
                x = m(x)
        for m in self.dec:
            x = m(x, idx.pop()) if isinstance(m, nn.MaxUnpool2d) else m(x)
        return x


def step_gflop(model, x):
    """GFLOP of a training step's convolutions: forward, input and filter gradients, less the
    first layer's input gradient (the image needs none)."""
    macs = []

    def count(m, _inputs, out):
        macs.append(out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1])

    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    hooks = [m.register_forward_hook(count) for m in convs]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return 2 * (3 * sum(macs) - macs[0]) / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = AutoEncoder().train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    precisions = ["f32"] + (["bf16"] if torch.ops.mkldnn._is_mkldnn_bf16_supported() else [])
    for precision in precisions:
        bf16 = precision == "bf16"
        for batch, side in CASES:
            x = torch.randn(batch, 3, side, side)

            def step():
                start = time.perf_counter()
                opt.zero_grad()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = nn.functional.mse_loss(model(x).float(), x)
                loss.backward()
                opt.step()
                return (time.perf_counter() - start) * 1e3

            step()
            ms = sorted(step() for _ in range(a.reps))
            shape = f"{batch}x3x{side}x{side}" + (", bf16 products" if bf16 else "")
            print(json.dumps({"op": "ae_train_step", "shape": shape,
                              "impl": "pytorch", "ms": round(ms[len(ms) // 2], 1),
                              "gflop": round(step_gflop(model, x), 3)}), flush=True)


if __name__ == "__main__":
    main()
