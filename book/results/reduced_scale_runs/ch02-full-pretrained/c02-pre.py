"""Pretrain (and pre-evaluate) chapter 2's runs at `full` scale with the chapter's own calls
(the ROWS table, book.run / book.evaluate with the knobs of KNOBS["full"]), so that
`execute --scale full --chapters 02` only reloads them. Two workers share one ordered job
list; a job is claimed by an atomic mkdir, so each runs exactly once. Runs live under
ACGAN_BOOK_RUNS; an interrupted run resumes from its last epoch checkpoint."""
import os, sys, time
from acgan_lib import book
scale, iters, n_eval, seeds = "full", 18000, 10000, [0, 1, 2]
ROWS = {  # copied from book/src/02_conditional_gan.md
    "base": ("cgan-mnist", {}),
    "base_osls": ("cgan-mnist", dict(real_label=0.9)),
    "base_2x_osls": ("cgan-mnist-2x-osls", {}),
    "base_half": ("cgan-mnist", dict(width=0.5)),
    "base_extra_layer_osls": ("cgan-mnist", dict(extra_layer=True, real_label=0.9)),
    "base_4x4_osls": ("cgan-mnist", dict(kernel=4, real_label=0.9)),
    "base_2x_dropout_osls": ("cgan-mnist-2x-osls", dict(d_dropout=0.3)),
    "base_half_15ep": ("cgan-mnist", dict(width=0.5, iters=iters // 2)),
}
METRICS = ["accuracy", "classifier_score", "frechet_classifier"]
# the orderings' seeded rows first, then Table 1's single rows (seed 0)
JOBS = [(k, s) for s in seeds for k in ("base_2x_osls", "base", "base_half")] + \
       [(k, 0) for k in ("base_osls", "base_extra_layer_osls", "base_4x4_osls",
                         "base_2x_dropout_osls", "base_half_15ep")]
if not os.environ.get("ACGAN_BOOK_RUNS"):
    sys.exit("set ACGAN_BOOK_RUNS=DIR: the runs folder the chapter will be executed with")
claims = os.path.join(os.environ["ACGAN_BOOK_RUNS"], "claims")
os.makedirs(claims, exist_ok=True)
for k, s in JOBS:
    try:
        os.mkdir(os.path.join(claims, f"{k}-s{s}"))
    except FileExistsError:
        continue
    preset, ov = ROWS[k]
    t = time.time()
    r = book.run(preset, scale, **{"iters": iters, **ov}, seed=s)
    book.evaluate(r, scale, n=n_eval, metrics=METRICS)
    print(f"{time.strftime('%H:%M:%S')} done {k} seed {s} ({time.time() - t:.0f} s) -> {r.path}", flush=True)
print("worker", sys.argv[1], "finished", flush=True)
