"""Pieces every model shares: the paper's weight init, activation noise, channel widths."""
from __future__ import annotations

import torch
from torch import nn


def ch(base: int, width: float) -> int:
    """Channels of a layer after the width multiplier (at least 1)."""
    return max(1, int(round(base * width)))


def init_paper(module: nn.Module, std: float = 0.02) -> None:
    """Paper / 004 Table 1 init: conv and linear weights N(0, 0.02), biases 0, BN weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise to activations in training mode ("activation noise" of
    the paper's CIFAR-10 discriminator, after Salimans et al. 2016). ``std`` is changed
    during training by the noise schedule (:func:`set_noise_std`).

    The std lives twice: as the float ``std`` (the eager path skips the draw when it is 0)
    and as the 0-dim buffer ``std_t`` (not saved in state dicts) that the fast training
    step reads (:class:`acgan_lib.train.FastStep`): a CUDA graph replays what it captured,
    so it may neither branch on the std nor hold it as a constant. With ``static`` set, the
    layer always draws and multiplies by ``std_t``; the random streams of the two paths
    therefore match only while std > 0 (at std 0 the eager path draws nothing).

    Taught in chapter 4 (book/src/04_activation_noise.md)."""

    def __init__(self, std: float = 0.0):
        super().__init__()
        self.std = float(std)
        self.static = False
        self.register_buffer("std_t", torch.tensor(self.std), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self.static:  # the product in fp32, rounded once: what `* self.std` computes
            return x + (torch.randn_like(x).float() * self.std_t).to(x.dtype)
        if self.std > 0:
            return x + torch.randn_like(x) * self.std
        return x

    def extra_repr(self) -> str:
        return f"std={self.std}"


def set_noise_std(module: nn.Module, std: float) -> None:
    """Set the std of every :class:`GaussianNoise` in ``module`` (the float, and the
    buffer in place, so a captured graph sees the new value)."""
    for m in module.modules():
        if isinstance(m, GaussianNoise):
            m.std = float(std)
            m.std_t.fill_(m.std)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def one_hot(y: torch.Tensor, num_classes: int, dtype=torch.float32) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, num_classes).to(dtype)


@torch.no_grad()
def layer_table(G: nn.Module, D: nn.Module, z_dim: int, skip_noise: bool = False) -> list[dict]:
    """Layer-by-layer rows of G and D (net, layer, kernel/stride, output shape, parameters)
    from one forward pass on a batch of 2 with hooks; ``skip_noise`` leaves out the
    (inactive) activation-noise layers of a run without noise. Printed by ``presets --show``
    and shown in chapters 2 and 3."""
    rows, handles = [], []

    def hook(net):
        def f(mod, inp, out):
            out = out["adv"] if isinstance(out, dict) else out
            detail = ""
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
                detail = f"{mod.kernel_size[0]}x{mod.kernel_size[1]}, stride {mod.stride[0]}"
            rows.append({"net": net, "layer": type(mod).__name__, "detail": detail,
                         "output shape": "x".join(str(s) for s in out.shape[1:]),
                         "parameters": sum(p.numel() for p in mod.parameters(recurse=False))})
        return f

    for name, net in (("G", G), ("D", D)):
        for m in net.modules():
            if next(m.children(), None) is None and not isinstance(m, nn.Identity) \
                    and not (skip_noise and isinstance(m, GaussianNoise)):
                handles.append(m.register_forward_hook(hook(name)))
    G.eval()
    D.eval()
    y = torch.zeros(2, dtype=torch.long)
    try:
        D(G(torch.randn(2, z_dim), y), y)
    finally:
        for h in handles:
            h.remove()
    return rows
