"""Writes tests/fixtures/segnet_parity.safetensors: the reference auto-encoder of the seed
tutorial (VGG16-bn features with pool indices, mirrored decoder), built with PyTorch at 1/16
width, with fixed random weights and a fixed 2x3x64x64 input; one training-mode forward pass
and the backward pass of the MSE loss.

Stored (names as la-segnet's: encoder.features.{i}.*, decoder.layers.{k}.*):
  weights        every parameter and buffer before the forward pass
  input          the batch
  out.*          reconstruction, code, pool indices (int64), loss, running statistics after
  grad.*         gradients of the input and of every parameter

python3 crates/la-segnet/scripts/make_parity_fixture.py   (needs torch, torchvision, safetensors)
"""
import pathlib

import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

DIVISOR = 16
torch.manual_seed(0)


class Encoder(nn.Module):
    """VGG16-bn features whose pools return indices."""

    def __init__(self):
        super().__init__()
        cfg = [c if c == "M" else c // DIVISOR for c in cfgs["D"]]
        layers = make_layers(cfg, batch_norm=True)
        self.encoder = nn.ModuleList(
            nn.MaxPool2d(2, 2, return_indices=True) if isinstance(m, nn.MaxPool2d) else m
            for m in layers
        )

    def forward(self, x):
        indices = []
        for m in self.encoder:
            if isinstance(m, nn.MaxPool2d):
                x, i = m(x)
                indices.append(i)
            else:
                x = m(x)
        return x, indices


class Decoder(nn.Module):
    """Each encoder conv mirrored as ConvTranspose2d + BN + ReLU, each pool as MaxUnpool2d;
    the final BN and ReLU dropped."""

    def __init__(self, encoder):
        super().__init__()
        mods = []
        for m in reversed(encoder.encoder):
            if isinstance(m, nn.Conv2d):
                mods += [nn.ConvTranspose2d(m.out_channels, m.in_channels, 3, 1, 1),
                         nn.BatchNorm2d(m.in_channels), nn.ReLU()]
            elif isinstance(m, nn.MaxPool2d):
                mods.append(nn.MaxUnpool2d(2, 2))
        self.decoder = nn.ModuleList(mods[:-2])

    def forward(self, x, indices):
        indices = list(reversed(indices))
        for m in self.decoder:
            x = m(x, indices.pop(0)) if isinstance(m, nn.MaxUnpool2d) else m(x)
        return x


def la_name(name):
    return name.replace("encoder.encoder.", "encoder.features.").replace(
        "decoder.decoder.", "decoder.layers.")


def main():
    enc = Encoder()
    dec = Decoder(enc)
    model = nn.ModuleDict({"encoder": enc, "decoder": dec})
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.5) + (1.0 if "weight" in name and p.dim() == 1 else 0.0))
        for name, b in model.named_buffers():
            if "running_mean" in name:
                b.copy_(torch.randn_like(b) * 0.1)
            elif "running_var" in name:
                b.copy_(torch.rand_like(b) + 0.5)
    out = {}
    for name, t in model.state_dict().items():
        if "num_batches_tracked" not in name:
            out["weights." + la_name(name)] = t.clone()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    out["input"] = x.detach().clone()
    model.train()
    code, indices = enc(x)
    recon = dec(code, indices)
    loss = torch.nn.functional.mse_loss(recon, x.detach())
    loss.backward()
    out["out.reconstruction"] = recon.detach()
    out["out.code"] = code.detach()
    for k, i in enumerate(indices):
        out[f"out.indices.{k}"] = i
    out["out.loss"] = loss.detach().reshape(1)
    for name, t in model.state_dict().items():
        if "running" in name:
            out["out.running." + la_name(name)] = t.clone()
    out["grad.input"] = x.grad
    for name, p in model.named_parameters():
        out["grad." + la_name(name)] = p.grad
    path = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/segnet_parity.safetensors"
    save_file({k: v.contiguous() for k, v in out.items()}, str(path))
    print(f"wrote {path} ({len(out)} tensors, loss {loss.item():.6f})")


if __name__ == "__main__":
    main()
