"""Loading trained generators and drawing samples from them: the one place that knows how
a checkpoint becomes a ready-to-use ``G``, shared by the CLI, the metrics and the book."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.utils as vutils

from .config import Config, config_from_dict
from .data import dataset_info
from .models import build_models
from .utils import UserError, load_checkpoint, resolve_device


@dataclass
class Generator:
    """A trained generator with what is needed to use it."""
    G: torch.nn.Module
    cfg: Config
    class_ids: list[int]          # dataset class id of each of G's labels 0..K-1
    class_names: list[str]
    channels: int
    step: int
    path: str

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    @property
    def conditional(self) -> bool:
        return self.cfg.model != "dcgan"

    def resized(self, size: int) -> "Generator":
        """This generator with its images resized (bilinear, antialiased, clamped to [-1, 1])
        to ``size`` px: how a 64 px model is scored by a classifier of the dataset's native
        size (004 model 4: "downsample each image with bilinear interpolation")."""
        if self.cfg.image_size == size:
            return self
        return dataclasses.replace(self, G=_Resized(self.G, size, self.cfg.z_dim).eval(),
                                   cfg=dataclasses.replace(self.cfg, image_size=size))


class _Resized(torch.nn.Module):
    """``G`` followed by an antialiased bilinear resize (see :meth:`Generator.resized`)."""

    def __init__(self, G: torch.nn.Module, size: int, z_dim: int):
        super().__init__()
        self.G, self.size, self.z_dim = G, size, getattr(G, "z_dim", z_dim)

    def forward(self, z, y):
        x = self.G(z, y)
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True,
                             align_corners=False).clamp(-1, 1)


def load_generator(path, device="auto", ema: bool = True) -> Generator:
    """Load G from a checkpoint (``final.pt``, ``checkpoint.pt`` or a run folder), in eval
    mode. ``ema=True`` uses the EMA copy of G when the run kept one. A checkpoint with
    NaN/inf weights is refused (:func:`~acgan_lib.utils.load_checkpoint`)."""
    ckpt = load_checkpoint(path)
    cfg = config_from_dict(ckpt["config"])
    info = dataset_info(cfg.dataset)
    class_ids = list(ckpt.get("class_ids") or cfg.class_ids(len(info.classes)))
    G, _ = build_models(cfg, info.channels, len(class_ids))
    state = ckpt["G_ema"] if ema and ckpt.get("G_ema") is not None else ckpt["G"]
    try:
        G.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"checkpoint {path} does not match its own config ({str(e).splitlines()[0][:120]})") from None
    G.to(resolve_device(device)).eval()
    return Generator(G, cfg, class_ids, [info.classes[c] for c in class_ids], info.channels,
                     int(ckpt.get("step", 0)), str(path))


def noise(n: int, z_dim: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """Latent vectors z ~ N(0, I) (drawn on the CPU for reproducibility, then moved)."""
    return torch.randn(n, z_dim, generator=generator).to(device)


@torch.no_grad()
def generate(gen: Generator | torch.nn.Module, labels: torch.Tensor, z: torch.Tensor | None = None,
             batch_size: int = 500, seed: int | None = 0, z_dim: int | None = None) -> torch.Tensor:
    """Images in [-1, 1] for ``labels`` (G's label ids 0..K-1), in batches, on G's device.
    ``z`` defaults to N(0, I) drawn from ``seed`` (so the same call gives the same images)."""
    G = gen.G if isinstance(gen, Generator) else gen
    device = next(G.parameters()).device
    z_dim = z_dim or (gen.cfg.z_dim if isinstance(gen, Generator) else G.z_dim)
    if z is None:
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(len(labels), z_dim, generator=g)
    was_training = G.training
    G.eval()
    out = []
    for i in range(0, len(labels), batch_size):
        out.append(G(z[i:i + batch_size].to(device), labels[i:i + batch_size].to(device)).float())
    G.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def class_grid_inputs(num_classes: int, n_cols: int, z_dim: int, seed: int = 0, share_z: bool = True):
    """Inputs of a grid with one row per class: ``(z, labels)`` in row-major order. With
    ``share_z`` each column uses one z for every class (shows the class-independent style)."""
    g = torch.Generator().manual_seed(seed)
    if share_z:
        z = torch.randn(n_cols, z_dim, generator=g).repeat(num_classes, 1)
    else:
        z = torch.randn(num_classes * n_cols, z_dim, generator=g)
    labels = torch.arange(num_classes).repeat_interleave(n_cols)
    return z, labels


GRID_PAD = 2  # pixels between the tiles of a saved grid (read back by acgan_lib.runs.Run.grid)


def save_grid(images: torch.Tensor, path, nrow: int) -> None:
    """Save images in [-1, 1] as one PNG grid (torchvision's ``save_image``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vutils.save_image(images.float().cpu(), path, nrow=nrow, normalize=True, value_range=(-1, 1), padding=GRID_PAD,
                      pad_value=1.0)


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def check_image_path(path) -> Path:
    """``path`` as a :class:`Path` if it names an image file we can write (a known image
    extension, not a folder), else a one-line :class:`UserError`."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--out {path} is a folder: give an image file, e.g. {path / 'grid.png'}")
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise UserError(f"--out {path} has no image extension (use one of {', '.join(IMAGE_EXTENSIONS)})")
    return path


def _save_out(images, path: Path, nrow: int) -> None:
    try:
        save_grid(images, path, nrow=nrow)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def sample_to_png(checkpoint, out_png, classes: list[int] | None = None, n: int = 10, seed: int = 0,
                  device="auto", ema: bool = True) -> Path:
    """CLI ``sample``: a grid with one row per requested class and ``n`` samples per row.
    ``classes`` are dataset class ids (for class-split runs, only the trained ones)."""
    out_png = check_image_path(out_png)
    if n < 1:
        raise UserError(f"-n must be >= 1, got {n}")
    gen = load_generator(checkpoint, device, ema)
    if not gen.conditional:
        if classes:
            raise UserError(f"{checkpoint} holds an unconditional {gen.cfg.model} generator: --classes does not apply")
        z = torch.randn(n * 10, gen.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
        imgs = generate(gen, torch.zeros(len(z), dtype=torch.long), z=z)
        _save_out(imgs, out_png, n)
        return out_png
    rows = list(range(gen.num_classes))
    if classes:
        bad = [c for c in classes if c not in gen.class_ids]
        if bad:
            raise UserError(f"class ids {bad} not in this model's classes {gen.class_ids}")
        rows = [gen.class_ids.index(c) for c in classes]
    z, _ = class_grid_inputs(1, n, gen.cfg.z_dim, seed)
    z = z.repeat(len(rows), 1)
    labels = torch.tensor(rows).repeat_interleave(n)
    _save_out(generate(gen, labels, z=z), out_png, n)
    return out_png
