"""Training-progress animations: the fixed-noise sample grids a run saved over training
(``samples/step_XXXXXXX.png``) as one GIF with a step caption, like the GIFs of the 002
report. Several runs can share one animation (panels side by side, one label each), which
shows how variants trained with the same seeds evolve from the same latent vectors.

In a chapter::

    path = book.training_gif({"AC": run_a, "TAC": run_b}, save_as="progress")
    book.show_gif(path)

Only PIL is needed (the GIF is written with ``Image.save(save_all=True)``).
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

from ..runs import Run
from ..sample import GRID_PAD
from .core import runs_root

WEBP_QUALITY = 75  # lossy WebP quality: chapter 9's 10-frame animation stays under 1 MB
_BG = (255, 255, 255)
_FG = (20, 20, 20)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: scalable default font
    except TypeError:  # older Pillow: the fixed bitmap font
        return ImageFont.load_default()


def _steps(run_dir) -> list[int]:
    return Run(run_dir).sample_steps()


def _frame_of(run_dir, step: int, max_cols: int | None):
    """The run's grid at ``step`` (RGB), cropped to its first ``max_cols`` columns."""
    from PIL import Image

    run = Run(run_dir)
    img = Image.open(run / "samples" / f"step_{step:07d}.png").convert("RGB")
    if max_cols:
        s = run.cfg.image_size
        width = GRID_PAD + max_cols * (s + GRID_PAD)
        if width < img.width:
            img = img.crop((0, 0, width, img.height))
    return img


def training_gif(runs, out=None, save_as: str | None = "training", chapter: str | None = None,
                 max_cols: int | None = None, cols: int | None = None, zoom: int = 1,
                 frame_ms: int = 600, last_ms: int = 2000, title: str | None = None,
                 steps: list[int] | None = None, max_frames: int | None = 24, fmt: str = "gif") -> Path:
    """Write an animation (``fmt``: ``gif``, or ``webp``: lossy animated WebP, about a
    quarter of the GIF's size for noisy sample grids) of the fixed-noise sample grids over
    training and return its path.

    ``runs``: one run folder, or ``{label: run_folder}`` (panels laid out in ``cols``
    columns, default all in one row; each labelled). Frames are the steps saved by every
    run (or ``steps``); a run lacking a step shows its latest earlier grid. Each frame
    carries the caption ``iteration N`` (plus ``title``). ``max_cols`` crops every grid
    to its first columns (samples per class), ``zoom`` enlarges with nearest-neighbour
    pixels. The file goes to ``out`` if given (its suffix sets the format), else
    ``runs/book/animations/<chapter>-<save_as>.<fmt>`` (beside the runs, not committed: the
    executed notebook that shows it is its one committed copy). The last frame is held for
    ``last_ms``.
    """
    from PIL import Image, ImageDraw

    webp = (Path(out).suffix.lower() if out is not None else f".{fmt}") == ".webp"
    fmt = "webp" if webp else "gif"

    if isinstance(runs, (str, os.PathLike)):
        runs = {"": runs}
    runs = {str(k): Path(v) for k, v in runs.items()}
    if not runs:
        raise ValueError("training_gif needs at least one run")
    per_run = {k: _steps(v) for k, v in runs.items()}
    empty = [k or str(runs[k]) for k, s in per_run.items() if not s]
    if empty:
        raise ValueError(f"no sample grids (samples/step_*.png) in: {', '.join(empty)}")
    if steps is None:
        steps = sorted(set().union(*per_run.values()))
    if not steps:
        raise ValueError("no steps to animate")
    if max_frames and len(steps) > max_frames:
        k = max(2, max_frames)
        idx = sorted({round(i * (len(steps) - 1) / (k - 1)) for i in range(k)})
        steps = [steps[i] for i in idx]

    labelled = any(runs)
    cols = max(1, min(cols or len(runs), len(runs)))
    rows = -(-len(runs) // cols)
    sample = _frame_of(next(iter(runs.values())), per_run[next(iter(runs))][0], max_cols)
    pw, ph = sample.width * zoom, sample.height * zoom
    font_size = max(11, min(18, pw // 12))
    font, cap_font = _font(font_size), _font(font_size + 3)
    label_h = font_size + 8 if labelled else 0
    cap_h = font_size + 14
    gap = 8
    W = cols * pw + (cols + 1) * gap
    H = cap_h + rows * (ph + label_h + gap) + gap

    frames = []
    for step in steps:
        canvas = Image.new("RGB", (W, H), _BG)
        draw = ImageDraw.Draw(canvas)
        caption = f"iteration {step:,}" + (f"  ·  {title}" if title else "")
        draw.text((gap, 6), caption, fill=_FG, font=cap_font)
        for i, (label, run_dir) in enumerate(runs.items()):
            have = [s for s in per_run[label] if s <= step] or per_run[label][:1]
            img = _frame_of(run_dir, have[-1], max_cols)
            if zoom != 1:
                img = img.resize((img.width * zoom, img.height * zoom), Image.NEAREST)
            r, c = divmod(i, cols)
            x = gap + c * (pw + gap)
            y = cap_h + r * (ph + label_h + gap)
            if label:
                draw.text((x, y + 2), label, fill=_FG, font=font)
            canvas.paste(img, (x, y + label_h))
        frames.append(canvas if webp else canvas.convert("P", palette=Image.ADAPTIVE, colors=255))

    if out is None:
        if not save_as:
            raise ValueError("give out=<path> or save_as=<name>")
        out = runs_root() / "animations" / f"{chapter or 'book'}-{save_as}.{fmt}"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{out.suffix}")
    durations = [frame_ms] * (len(frames) - 1) + [last_ms]
    extra = dict(lossless=False, quality=WEBP_QUALITY, method=6) if webp else dict(optimize=False, disposal=1)
    frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=durations, loop=0, **extra)
    os.replace(tmp, out)
    return out


def show_gif(path, width: int | None = None):
    """Display the animation in the notebook: a GIF as an ``image/gif`` output, an animated
    WebP as an ``<img>`` with the file inlined (both render animated in the book, offline)."""
    from IPython.display import HTML, Image, display

    path = Path(path)
    if path.suffix == ".webp":
        data = base64.b64encode(path.read_bytes()).decode()
        style = f' width="{width}"' if width else ' style="max-width:100%"'
        display(HTML(f'<img src="data:image/webp;base64,{data}"{style} alt="training animation">'))
    else:
        display(Image(filename=str(path), width=width))


def gif_info(path) -> dict:
    """``{"frames", "width", "height", "bytes"}`` of a GIF (checks in tests and chapters)."""
    from PIL import Image

    with Image.open(path) as im:
        return {"frames": getattr(im, "n_frames", 1), "width": im.width, "height": im.height,
                "bytes": Path(path).stat().st_size}


__all__ = ["training_gif", "show_gif", "gif_info"]
