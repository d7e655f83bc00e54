"""Run configuration: one flat dataclass, presets as plain data, ``key=value`` overrides.

Every preset reproduces a model of the source documents (``../shared/seeds/``); the
``source`` line of each says which table or section. Presets are *full scale*; the book's
``cpu`` and ``smoke`` scales override ``iters``, ``batch_size`` or ``width`` on top, and
record that they did.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, fields

from .utils import UserError, check_device_name

DATASETS = ("mnist", "fashion-mnist", "cifar10")
MODELS = {  # model -> image sizes it supports
    "dcgan": (28,),
    "cgan": (28,),
    "acgan": (28, 32, 64),
    "acbiggan": (32,),
}
ADV_LOSSES = ("bce", "hinge")
G_LOSSES = ("ns", "minimax")
AUX_LOSSES = ("none", "ac", "ac-real", "tac", "adc", "d2d")
PRECISIONS = ("auto", "fp32", "bf16")
FAST_STEPS = ("auto", "off", "on")


@dataclass
class Config:
    """Everything a training run depends on. Field comments give the allowed values.

    Defaults are the AC-GAN paper's CIFAR-10 hyper-parameters (paper Table, see
    ``../shared/reference/paper-notes.md``): batch 100, Adam 2e-4 / beta1 0.5, activation
    noise 0.1, 50,000 iterations, equal loss weights.
    """

    preset: str = ""              # name of the preset this config came from (record only)
    # ---- data
    dataset: str = "cifar10"      # mnist | fashion-mnist | cifar10
    image_size: int = 32          # images are resized on the device when this differs from the data
    resize: str = "bilinear"      # how real images are resized: bilinear | nearest (004 model 3)
    classes: str = ""             # "" = all classes; "0,1,5" = train on a subset (class splitting)
    data_root: str = ""           # "" = $ACGAN_DATA, else ./data
    # ---- model
    model: str = "acgan"          # dcgan | cgan | acgan | acbiggan
    width: float = 1.0            # channel multiplier of G and D (CGAN "2x filters" = 2), in (0, 16]
    z_dim: int = 100
    d_dropout: float = 0.5        # dropout in D (DCGAN 0.3 at the output, AC-GAN 0.5 per layer)
    kernel: int = 5               # cgan: kernel of the stride-2 layers, 2..7 (003 Table 1 "4x4": 4)
    extra_layer: bool = False     # cgan: a third hidden layer in G and D (003 Table 1 "Extra layer")
    # ---- losses (see acgan_lib/losses.py)
    adv_loss: str = "bce"         # bce (paper) | hinge (BigGAN)
    g_loss: str = "ns"            # ns: non-saturating -log D(G(z)) | minimax: log(1 - D(G(z)))
    aux_loss: str = "ac"          # none | ac | ac-real | tac | adc | d2d
    real_label: float = 1.0       # < 1: one-sided label smoothing (Salimans et al. 2016)
    d_loss_scale: float = 1.0     # multiplies all D terms (004 Algorithm 1: 0.5); loss weights in [0, 1000]
    cls_real_weight: float = 1.0  # D class term on real images (004: 2, fine-tunes: 10)
    cls_fake_weight: float = 1.0  # D class term on fake images
    g_cls_weight: float = 1.0     # G class term
    cls_smoothing: float = 0.0    # label smoothing of the auxiliary cross-entropy (002)
    noise: str = "0.1"            # D activation-noise std: "0.1", or stages "0.2,0.1@0.33,0@0.67" (stds in [0, 10])
    # ---- modern AC-GAN (acbiggan and the aux-loss variants)
    g_ch: int = 64                # BigGAN channel base of G
    d_ch: int = 64                # BigGAN channel base of D
    shared_dim: int = 128         # shared class embedding feeding G's conditional BN
    spectral_norm: bool = False   # spectral norm on G and D weights (002: a failed experiment)
    diffaug: str = ""             # DiffAugment policy, e.g. "color,translation,cutout" (002: failed)
    d2d_temperature: float = 0.5  # ReACGAN data-to-data cross-entropy, in (0, 10]
    d2d_margin_pos: float = 0.98  # cosine-similarity margins, in [-1, 1]
    d2d_margin_neg: float = 0.02  # ReACGAN / StudioGAN: 1 - d2d_margin_pos
    embed_dim: int = 512          # ReACGAN projection dimension
    # ---- optimisation
    batch_size: int = 100
    iters: int = 50000            # generator updates
    lr_g: float = 2e-4            # learning rates in (0, 1]
    lr_d: float = 2e-4
    beta1_g: float = 0.5
    beta2_g: float = 0.999
    beta1_d: float = 0.5
    beta2_d: float = 0.999
    lr_decay: float = 1.0         # lr multiplied by this once per epoch (003's CGAN decays)
    d_steps: int = 1              # D updates per iteration
    g_steps: int = 1              # G updates per iteration
    ema: float = 0.0              # decay of an EMA copy of G used for evaluation (0 = off)
    ema_start: int = 0            # iteration at which the EMA starts tracking
    seed: int = 0                 # 0 .. 2**63 - 1
    init_from: str = ""           # checkpoint to initialise G and D from (fine-tune stages)
    # ---- execution
    device: str = "auto"          # auto | cpu | cuda | cuda:N
    precision: str = "auto"       # auto (bf16 autocast where fast: GPU, CPU with native bf16) | fp32 | bf16
    compile: bool = False         # torch.compile G and D
    fast_step: str = "auto"       # auto (CUDA graphs on CUDA, eager elsewhere) | off (eager) | on (also on CPU, uncaptured); $ACGAN_FAST_STEP overrides
    # ---- outputs
    log_every: int = 100          # log row (window means) every N iterations
    sample_every: int = 1000      # fixed-noise sample grid every N iterations
    ckpt_every: int = 1000        # checkpoint every N iterations

    # ------------------------------------------------------------------ derived values
    def class_ids(self, num_classes: int = 10) -> list[int]:
        """The dataset's class ids this run trains on (all of them unless ``classes``)."""
        if not self.classes.strip():
            return list(range(num_classes))
        return [int(c) for c in self.classes.split(",")]

    def noise_stages(self) -> list[tuple[float, float]]:
        """``noise`` parsed into ``[(start_fraction, std), ...]`` sorted by start."""
        return parse_noise(self.noise)

    def noise_std_at(self, it: int, total: int | None = None) -> float:
        """The activation-noise std at iteration ``it``: the std of the last stage that
        has started (stage starts are fractions of ``total``, by default ``iters``; a run
        extended by ``resume`` passes its original length, so the boundaries stay put).

        Taught in chapter 4 (book/src/04_activation_noise.md)."""
        total = self.iters if total is None else total
        std = 0.0
        for start, s in self.noise_stages():
            if it >= round(start * total):
                std = s
        return std

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------- presets
# Full-scale settings of every model in the seeds. "source" says what each reproduces.
_EPOCH_MNIST = 600      # 60,000 images / batch 100
_EPOCH_CIFAR = 500      # 50,000 images / batch 100
PRESETS: dict[str, dict] = {
    "dcgan-mnist": dict(
        source="003 Sec. 1: DCGAN 28x28, 30 epochs, batch 100, Adam 2e-4 (0.5, 0.999), D dropout 0.3",
        model="dcgan", dataset="mnist", image_size=28, aux_loss="none", noise="0", d_dropout=0.3,
        iters=30 * _EPOCH_MNIST, sample_every=_EPOCH_MNIST, ckpt_every=_EPOCH_MNIST),
    "cgan-mnist": dict(
        source="003 Sec. 2: CGAN base, 30 epochs, batch 100, Adam 2e-4 with exponential decay "
               "(rate not given in 003; 0.95 per epoch is our choice)",
        model="cgan", dataset="mnist", image_size=28, aux_loss="none", noise="0", d_dropout=0.0,
        lr_decay=0.95, iters=30 * _EPOCH_MNIST, sample_every=_EPOCH_MNIST, ckpt_every=_EPOCH_MNIST),
    "cgan-mnist-2x-osls": dict(
        source="003 Table 1 best row: CGAN base + 2x filters + one-sided label smoothing (0.9)",
        model="cgan", dataset="mnist", image_size=28, aux_loss="none", noise="0", d_dropout=0.0,
        width=2.0, real_label=0.9, lr_decay=0.95, iters=30 * _EPOCH_MNIST,
        sample_every=_EPOCH_MNIST, ckpt_every=_EPOCH_MNIST),
    "acgan-mnist": dict(
        source="paper's CIFAR-10 AC-GAN adapted to 28x28x1 (000 Sec. 5.1), paper objective, noise 0.1",
        model="acgan", dataset="mnist", image_size=28, noise="0.1",
        iters=30 * _EPOCH_MNIST, sample_every=_EPOCH_MNIST, ckpt_every=_EPOCH_MNIST),
    "acgan-fmnist": dict(
        source="paper's AC-GAN adapted to Fashion-MNIST 28x28 (000 Sec. 5.1), paper objective and "
               "the paper's constant activation noise 0.1 in D",
        model="acgan", dataset="fashion-mnist", image_size=28, noise="0.1",
        iters=30 * _EPOCH_MNIST, sample_every=_EPOCH_MNIST, ckpt_every=_EPOCH_MNIST),
    "acgan-fmnist-000-noise": dict(
        source="000 Sec. 5: acgan-fmnist with 000's three-stage activation noise (noise, less "
               "noise, none; stds from the paper's grid 0.2/0.1/0): chapter 4's ablation",
        model="acgan", dataset="fashion-mnist", image_size=28, noise="0.2,0.1@0.34,0@0.67",
        iters=30 * _EPOCH_MNIST, sample_every=_EPOCH_MNIST, ckpt_every=_EPOCH_MNIST),
    "acgan-cifar10": dict(
        source="paper, CIFAR-10 table: G 110->384->192->96->3, D 16..512, batch 100, Adam 2e-4 "
               "(middle of the grid), noise 0.1, 50,000 iterations, equal loss weights",
        model="acgan", dataset="cifar10", image_size=32, noise="0.1", iters=50000,
        sample_every=_EPOCH_CIFAR * 5, ckpt_every=_EPOCH_CIFAR * 5),
    "acgan-cifar10-004": dict(
        source="004 model 1: paper architecture, Algorithm 1 losses (D halved, real class x2), "
               "100 epochs",
        model="acgan", dataset="cifar10", image_size=32, noise="0.1", d_loss_scale=0.5,
        cls_real_weight=2.0, iters=100 * _EPOCH_CIFAR, sample_every=_EPOCH_CIFAR * 5,
        ckpt_every=_EPOCH_CIFAR * 5),
    "acgan-cifar10-ft": dict(
        source="004 model 2: model 1 fine-tuned 60 epochs, lr 1e-4, real class loss x10 "
               "(needs init_from=<model-1 checkpoint>)",
        model="acgan", dataset="cifar10", image_size=32, noise="0.1", d_loss_scale=0.5,
        cls_real_weight=10.0, lr_g=1e-4, lr_d=1e-4, iters=60 * _EPOCH_CIFAR,
        sample_every=_EPOCH_CIFAR * 5, ckpt_every=_EPOCH_CIFAR * 5),
    "acgan-cifar10-64": dict(
        source="004 model 3: 64x64 higher-capacity G (768->384->192->96->48->3), real images "
               "upsampled (nearest), Algorithm 1 losses, 100 epochs",
        model="acgan", dataset="cifar10", image_size=64, resize="nearest", noise="0.1",
        d_loss_scale=0.5, cls_real_weight=2.0, iters=100 * _EPOCH_CIFAR,
        sample_every=_EPOCH_CIFAR * 5, ckpt_every=_EPOCH_CIFAR * 5),
    "acgan-cifar10-64-ft": dict(
        source="004 model 4: model 3 fine-tuned 20 epochs, lr 1e-4, real class loss x10 "
               "(needs init_from=<model-3 checkpoint>)",
        model="acgan", dataset="cifar10", image_size=64, resize="nearest", noise="0.1",
        d_loss_scale=0.5, cls_real_weight=10.0, lr_g=1e-4, lr_d=1e-4, iters=20 * _EPOCH_CIFAR,
        sample_every=_EPOCH_CIFAR * 5, ckpt_every=_EPOCH_CIFAR * 5),
    # ---- AC-BigGAN (002) and the auxiliary-classifier variants compared on Fashion-MNIST.
    # 002's text gives the method (BigGAN backbone, cBN with shared embedding + skip-z, hinge
    # loss, orthogonal init, label-smoothed class loss) and 80 epochs, not the numbers; the
    # numbers below are from the 002 author's published notebooks (batch 128, z 80, shared
    # embedding 128, G 384 / D 192 channels, Adam 2e-4 (0.5, 0.999), one D update per G update,
    # label smoothing 0.1, 80 epochs of CIFAR-10 train + test = 60,000 images) unless marked.
    # EMA of G (0.9999 from iteration 1000, BigGAN / StudioGAN) is our choice: 002 has none.
    "acbiggan-cifar10": (_ACBIGGAN_CIFAR := dict(
        source="002 AC-BigGAN on CIFAR-10 (FID 45.04, IS 7.19): BigGAN 32 px G (g_ch 96 = 384 ch) / "
               "D (d_ch 48 = 192 ch, batch norm, no SN), hinge, class CE smoothing 0.1, z 80, batch 128, "
               "Adam 2e-4 (0.5, 0.999), d_steps 1, 37,500 iterations (80 epochs of 002's 60,000 images; "
               "we train on the 50,000 train images), aux_loss=ac-real as in 002's code (D's classifier "
               "learns from real images only). Ours: EMA 0.9999 from iteration 1000",
        model="acbiggan", dataset="cifar10", image_size=32, noise="0", adv_loss="hinge", aux_loss="ac-real",
        cls_smoothing=0.1, z_dim=80, g_ch=96, d_ch=48, shared_dim=128, batch_size=128, lr_g=2e-4,
        lr_d=2e-4, beta1_g=0.5, beta1_d=0.5, beta2_g=0.999, beta2_d=0.999, d_steps=1, ema=0.9999,
        ema_start=1000, iters=80 * 60000 // 128, sample_every=5 * (60000 // 128),
        ckpt_every=5 * (60000 // 128))),
    "acbiggan-fmnist": (_ACBIGGAN_FMNIST := dict(
        _ACBIGGAN_CIFAR,
        source="acbiggan-cifar10 (002) on Fashion-MNIST resized to 32 px, 1 channel; 80 epochs of the "
               "60,000 training images at batch 128 (37,440 iterations). Base of the aux-loss comparison "
               "(paper objective: D's classifier on real and fake, aux_loss=ac)",
        dataset="fashion-mnist", aux_loss="ac", iters=80 * (60000 // 128))),
    "acbiggan-fmnist-acreal": dict(
        _ACBIGGAN_FMNIST, aux_loss="ac-real",
        source="acbiggan-fmnist with D's classifier trained on real images only (what 002's code does; "
               "StudioGAN's ACGAN setting)"),
    "acbiggan-fmnist-tac": dict(
        _ACBIGGAN_FMNIST, aux_loss="tac",
        source="acbiggan-fmnist with TAC-GAN's twin classifier (Gong et al. 2019): D learns fake classes "
               "with a second head, G minimises CE(cls) - CE(mi); weights 1 (StudioGAN's CIFAR-10 TAC)"),
    "acbiggan-fmnist-adc": dict(
        _ACBIGGAN_FMNIST, aux_loss="adc",
        source="acbiggan-fmnist with ADC-GAN's 2K-way classifier (Hou et al. 2022): real class k vs "
               "fake class k; G minimises CE(y) - CE(y + K); weights 1"),
    "acbiggan-fmnist-d2d": dict(
        _ACBIGGAN_FMNIST, aux_loss="d2d", cls_real_weight=0.5, g_cls_weight=0.5, embed_dim=512,
        d2d_temperature=0.5, d2d_margin_pos=0.98, d2d_margin_neg=0.02,
        source="acbiggan-fmnist with ReACGAN's data-to-data cross-entropy (Kang et al. 2021): 512-d "
               "projection + class proxies, temperature 0.5, margins 0.98 / 0.02, weight 0.5 for D and G "
               "(StudioGAN's CIFAR-10 ReACGAN config). Ours: no SN, no self-attention (002's backbone)"),
    "acbiggan-fmnist-sn": dict(
        _ACBIGGAN_FMNIST, spectral_norm=True,
        source="acbiggan-fmnist with spectral norm on every conv / linear layer of G and D, replacing "
               "D's batch norm (002's failed experiment 2; SN-GAN, Miyato et al. 2018)"),
    "acbiggan-fmnist-diffaug": dict(
        _ACBIGGAN_FMNIST, diffaug="color,translation,cutout",
        source="acbiggan-fmnist with DiffAugment color,translation,cutout on real and fake images "
               "before D (002's failed experiment 1; Zhao et al. 2020; colour saturation is a no-op "
               "on 1-channel images)"),
}
_NEEDS_INIT = {"acgan-cifar10-ft", "acgan-cifar10-64-ft"}


# Run scales of the book and of the reduced-scale reports: overrides applied on top of a
# preset. "full" is the preset itself (GPU); "cpu" finishes in minutes on 2 CPU cores;
# "smoke" only checks that everything runs (seconds). Results are labelled with the scale.
SCALES: dict[str, dict] = {
    "smoke": dict(iters=6, batch_size=8, log_every=2, sample_every=3, ckpt_every=3),
    "cpu": dict(iters=3000, batch_size=64, log_every=50, sample_every=250, ckpt_every=500),
    "full": {},
}


def scaled_config(preset: str, scale: str = "full", **overrides) -> Config:
    """``make_config(preset)`` with the overrides of ``scale`` (then ``overrides``) applied."""
    if scale not in SCALES:
        raise UserError(f"unknown scale '{scale}' (choose from {', '.join(SCALES)})")
    return make_config(preset, {**SCALES[scale], **overrides})


def register_preset(name: str, source: str, **overrides) -> None:
    """Add a preset (used by model families that live in their own module)."""
    PRESETS[name] = dict(source=source, **overrides)


# ---------------------------------------------------------------------------- parsing
_FIELDS = {f.name: f for f in fields(Config)}


def _field_type(name: str) -> type:
    return type(getattr(Config(), name))


def _parse_value(key: str, raw: str):
    typ = _field_type(key)
    text = raw.strip()
    try:
        if typ is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if typ is int:
            value = float(text)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if typ is float:
            return float(text)
    except ValueError:
        raise UserError(f"bad value for {key}: '{raw}' is not {'a boolean' if typ is bool else 'an integer' if typ is int else 'a number'}") from None
    return text


def _check_key(key: str) -> None:
    if key not in _FIELDS:
        hint = difflib.get_close_matches(key, list(_FIELDS), n=1)
        raise UserError(f"unknown config key '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                        + "; see `python -m acgan_lib presets --keys`")


def parse_overrides(items) -> dict:
    """``["iters=100", "lr_g=1e-4"]`` -> ``{"iters": 100, "lr_g": 0.0001}`` (typed, checked)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"bad override '{item}': expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        _check_key(key)
        out[key] = _parse_value(key, raw)
    return out


MAX_NOISE_STD = 10.0


def parse_noise(text: str) -> list[tuple[float, float]]:
    """``"0.2,0.1@0.34,0@0.67"`` -> ``[(0.0, 0.2), (0.34, 0.1), (0.67, 0.0)]``."""
    stages = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        std_s, _, start_s = part.partition("@")
        try:
            std = float(std_s)
            start = float(start_s) if start_s else 0.0
        except ValueError:
            raise UserError(f"bad value for noise: '{text}' (expected 'std' or 'std@fraction,...', "
                            "e.g. '0.2,0.1@0.34,0@0.67')") from None
        if not (0.0 <= std <= MAX_NOISE_STD) or not (0.0 <= start < 1.0):
            raise UserError(f"bad value for noise: '{text}' (stds must be in [0, {MAX_NOISE_STD:g}], "
                            "start fractions in [0, 1))")
        if start in [s for s, _ in stages]:
            raise UserError(f"bad value for noise: '{text}' (two stages start at {start:g}; "
                            "each stage needs its own start fraction)")
        stages.append((start, std))
    if not stages:
        raise UserError("bad value for noise: empty schedule (use 0 for no noise)")
    stages.sort()
    if stages[0][0] != 0.0:
        stages.insert(0, (0.0, 0.0))
    return stages


def make_config(preset: str | None = None, overrides: dict | list | None = None, **kwargs) -> Config:
    """Build and validate a :class:`Config` from a preset name plus overrides.

    ``overrides`` may be a dict or a list of ``key=value`` strings; keyword arguments are
    further overrides. Unknown presets, unknown keys and bad values raise :class:`UserError`.
    """
    values: dict = {}
    if preset:
        if preset not in PRESETS:
            hint = difflib.get_close_matches(preset, list(PRESETS), n=1)
            raise UserError(f"unknown preset '{preset}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                            + "; list them with `python -m acgan_lib presets`")
        values.update({k: v for k, v in PRESETS[preset].items() if k != "source"})
        values["preset"] = preset
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(overrides)
    for src in (overrides or {}, kwargs):
        for key, value in src.items():
            _check_key(key)
            if isinstance(value, str) and _field_type(key) is not str:
                value = _parse_value(key, value)
            values[key] = value
    cfg = Config(**values)
    validate(cfg)
    return cfg


def config_from_dict(d: dict) -> Config:
    """Rebuild a config saved in a run folder or checkpoint (unknown keys are an error)."""
    if not isinstance(d, dict):
        raise UserError(f"config must be a JSON object of key: value pairs, not {type(d).__name__}")
    unknown = sorted(set(d) - set(_FIELDS))
    if unknown:
        raise UserError(f"config has unknown keys {unknown}: written by a newer acgan_lib?")
    cfg = Config(**d)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Raise :class:`UserError` naming the first bad field."""
    def bad(msg):
        raise UserError(msg)

    for f in fields(Config):  # types first: catches e.g. iters="ten" set from Python
        v = getattr(cfg, f.name)
        want = _field_type(f.name)
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            setattr(cfg, f.name, float(v))
        elif not isinstance(v, want) or (want is int and isinstance(v, bool)):
            bad(f"bad value for {f.name}: {v!r} is not of type {want.__name__}")
        if want is float and not math.isfinite(getattr(cfg, f.name)):
            bad(f"bad value for {f.name}: {v} (must be a finite number)")
    if cfg.dataset not in DATASETS:
        bad(f"unknown dataset '{cfg.dataset}' (choose from {', '.join(DATASETS)})")
    if cfg.model not in MODELS:
        bad(f"unknown model '{cfg.model}' (choose from {', '.join(MODELS)})")
    if cfg.image_size not in MODELS[cfg.model]:
        sizes = " or ".join(str(s) for s in MODELS[cfg.model])
        bad(f"model {cfg.model} makes {sizes} px images, not image_size={cfg.image_size}")
    if cfg.resize not in ("bilinear", "nearest"):
        bad(f"bad value for resize: '{cfg.resize}' (bilinear or nearest)")
    if cfg.classes.strip():
        try:
            ids = [int(c) for c in cfg.classes.split(",")]
        except ValueError:
            bad(f"bad value for classes: '{cfg.classes}' (comma-separated class ids, e.g. 0,1,5)")
        if len(ids) < 2 or len(set(ids)) != len(ids) or min(ids) < 0 or max(ids) > 9:
            bad(f"bad value for classes: '{cfg.classes}' (at least two distinct ids in 0..9)")
    for name in ("lr_g", "lr_d"):
        if not 0.0 < getattr(cfg, name) <= 1.0:
            bad(f"bad value for {name}: {getattr(cfg, name)} (learning rates must be > 0 and <= 1)")
    for name in ("beta1_g", "beta2_g", "beta1_d", "beta2_d", "ema"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            bad(f"bad value for {name}: {getattr(cfg, name)} (must be in [0, 1))")
    if not 0.0 <= cfg.d_dropout < 1.0:
        bad(f"bad value for d_dropout: {cfg.d_dropout} (must be in [0, 1))")
    if not 0.0 < cfg.lr_decay <= 1.0:
        bad(f"bad value for lr_decay: {cfg.lr_decay} (must be in (0, 1])")
    if not 0.0 < cfg.real_label <= 1.0:
        bad(f"bad value for real_label: {cfg.real_label} (must be in (0, 1])")
    if not 0.0 <= cfg.cls_smoothing < 1.0:
        bad(f"bad value for cls_smoothing: {cfg.cls_smoothing} (must be in [0, 1))")
    for name in ("batch_size", "iters", "d_steps", "g_steps", "z_dim", "log_every", "sample_every",
                 "ckpt_every", "g_ch", "d_ch", "shared_dim", "embed_dim"):
        if getattr(cfg, name) < 1:
            bad(f"bad value for {name}: {getattr(cfg, name)} (must be >= 1)")
    if cfg.batch_size < 2:
        bad("bad value for batch_size: batch norm needs at least 2 images per batch")
    if cfg.ema_start < 0:
        bad(f"bad value for ema_start: {cfg.ema_start} (must be >= 0)")
    if not 0.0 <= cfg.seed < 2 ** 63:
        bad(f"bad value for seed: {cfg.seed} (must be in 0 .. 2**63 - 1)")
    if not 0.0 < cfg.width <= 16.0:
        bad(f"bad value for width: {cfg.width} (must be > 0 and <= 16)")
    for name in ("d_loss_scale", "cls_real_weight", "cls_fake_weight", "g_cls_weight"):
        if not 0.0 <= getattr(cfg, name) <= 1000.0:
            bad(f"bad value for {name}: {getattr(cfg, name)} (loss weights must be in [0, 1000])")
    if not 0.0 < cfg.d2d_temperature <= 10.0:
        bad(f"bad value for d2d_temperature: {cfg.d2d_temperature} (must be > 0 and <= 10)")
    for name in ("d2d_margin_pos", "d2d_margin_neg"):
        if not -1.0 <= getattr(cfg, name) <= 1.0:
            bad(f"bad value for {name}: {getattr(cfg, name)} (cosine-similarity margins must be in [-1, 1])")
    check_device_name(cfg.device)
    if cfg.adv_loss not in ADV_LOSSES:
        bad(f"bad value for adv_loss: '{cfg.adv_loss}' (choose from {', '.join(ADV_LOSSES)})")
    if cfg.g_loss not in G_LOSSES:
        bad(f"bad value for g_loss: '{cfg.g_loss}' (choose from {', '.join(G_LOSSES)})")
    if cfg.aux_loss not in AUX_LOSSES:
        bad(f"bad value for aux_loss: '{cfg.aux_loss}' (choose from {', '.join(AUX_LOSSES)})")
    has_classifier = cfg.model in ("acgan", "acbiggan")
    if has_classifier and cfg.aux_loss == "none":
        bad(f"model {cfg.model} has an auxiliary classifier: aux_loss must be one of "
            f"{', '.join(AUX_LOSSES[1:])}")
    if not has_classifier and cfg.aux_loss != "none":
        bad(f"aux_loss={cfg.aux_loss} needs a model with a classifier head (acgan, acbiggan); "
            f"{cfg.model} has none")
    if cfg.model == "acgan" and cfg.aux_loss == "d2d":
        bad("aux_loss=d2d (ReACGAN) needs the projection head of model acbiggan")
    stages = parse_noise(cfg.noise)
    if cfg.model not in ("acgan",) and any(s > 0 for _, s in stages):
        bad(f"activation noise is part of the AC-GAN discriminator only; set noise=0 for model {cfg.model}")
    if cfg.model != "cgan" and (cfg.kernel != 5 or cfg.extra_layer):
        bad(f"kernel and extra_layer are options of model cgan (003 Table 1), not of {cfg.model}")
    if not 2 <= cfg.kernel <= 7:
        bad(f"bad value for kernel: {cfg.kernel} (must be in 2..7)")
    if cfg.extra_layer and cfg.kernel % 2 == 0:
        bad(f"extra_layer needs an odd kernel (its stride-1 layer keeps the map size), not kernel={cfg.kernel}")
    if cfg.model != "acbiggan" and (cfg.spectral_norm or cfg.diffaug):
        bad("spectral_norm and diffaug are options of model acbiggan")
    if cfg.diffaug:
        allowed = {"color", "translation", "cutout"}
        parts = [p.strip() for p in cfg.diffaug.split(",") if p.strip()]
        if not parts or set(parts) - allowed:
            bad(f"bad value for diffaug: '{cfg.diffaug}' (comma-separated from color, translation, cutout)")
    if cfg.precision not in PRECISIONS:
        bad(f"bad value for precision: '{cfg.precision}' (choose from {', '.join(PRECISIONS)})")
    if cfg.fast_step not in FAST_STEPS:
        bad(f"bad value for fast_step: '{cfg.fast_step}' (choose from {', '.join(FAST_STEPS)})")
    if cfg.preset in _NEEDS_INIT and not cfg.init_from:
        bad(f"preset {cfg.preset} fine-tunes an earlier model: give init_from=<checkpoint of the "
            f"{'model-1' if '64' not in cfg.preset else 'model-3'} run>")


def describe_presets() -> list[tuple[str, str]]:
    return [(name, p["source"]) for name, p in PRESETS.items()]


def config_keys_help() -> list[tuple[str, str, str]]:
    """(key, default, comment) for ``presets --keys``; comments come from this file."""
    import inspect
    import re

    src = inspect.getsource(Config)
    comments = dict(re.findall(r"^\s+(\w+): [^=]+=[^#\n]*#\s*(.*)$", src, flags=re.M))
    return [(f.name, repr(getattr(Config(), f.name)), comments.get(f.name, "")) for f in fields(Config)]


__all__ = ["Config", "PRESETS", "SCALES", "scaled_config", "make_config", "parse_overrides", "config_from_dict", "validate",
           "describe_presets", "register_preset"]
