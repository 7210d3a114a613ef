"""Fixture for crates/la-train/tests/sgd.rs: three torch.optim.SGD steps on two parameters.

A weight w (2x3, weight decay group) and a bias b (3, no weight decay) minimise
    loss = sum(a_w * w^2) / 2 + sum(c_w * w) + sum(a_b * b^2) / 2 + sum(c_b * b),
so the gradients depend on the parameters. Prints the parameters after each step for two
configurations; the numbers are pasted into the Rust test.

    python3 crates/la-train/scripts/sgd_fixture.py
"""
import torch

W0 = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
A_W = [[1.0, 2.0, 0.5], [0.25, 3.0, 1.5]]
C_W = [[0.1, -0.2, 0.3], [-0.4, 0.5, -0.6]]
B0 = [0.3, -0.2, 0.1]
A_B = [2.0, 1.0, 0.5]
C_B = [-0.5, 0.25, 1.0]

CONFIGS = {
    "momentum_dampening": dict(lr=0.05, momentum=0.9, dampening=0.1, nesterov=False),
    "nesterov": dict(lr=0.05, momentum=0.9, dampening=0.0, nesterov=True),
}


def run(cfg):
    w = torch.tensor(W0, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(B0, dtype=torch.float32, requires_grad=True)
    a_w, c_w = torch.tensor(A_W), torch.tensor(C_W)
    a_b, c_b = torch.tensor(A_B), torch.tensor(C_B)
    opt = torch.optim.SGD(
        [{"params": [w], "weight_decay": 0.01}, {"params": [b], "weight_decay": 0.0}], **cfg
    )
    out = []
    for _ in range(3):
        opt.zero_grad()
        loss = (a_w * w * w).sum() / 2 + (c_w * w).sum() + (a_b * b * b).sum() / 2 + (c_b * b).sum()
        loss.backward()
        opt.step()
        out.append((w.detach().flatten().tolist(), b.detach().tolist()))
    return out


for name, cfg in CONFIGS.items():
    print(name)
    for w, b in run(cfg):
        print("  w:", ", ".join(f"{x:.9g}" for x in w))
        print("  b:", ", ".join(f"{x:.9g}" for x in b))
