"""Precompute chapter 8's Table 3 at `full` scale (003: 55,000 images, 30 epochs, the 14
shares, 3 strategies, classifier seeds 0-2) with the chapter's own calls, so that
`execute --scale full --chapters 08` only reads the cached cells. Jobs are (seed, share);
a worker claims one by an atomic mkdir; book.synthetic_table keeps each finished cell, so
an interrupted job resumes. Runs (the generator is chapter 2's 2x + OSLS run) live under
ACGAN_BOOK_RUNS."""
import os, sys, time
from acgan_lib import book
from acgan_lib.metrics import synthetic
scale, iters, seeds = "full", 18000, [0, 1, 2]
total, epochs = synthetic.FULL["total"], synthetic.FULL["epochs"]
if not os.environ.get("ACGAN_BOOK_RUNS"):
    sys.exit("set ACGAN_BOOK_RUNS=DIR: the runs folder the chapter will be executed with")
gan = book.run("cgan-mnist-2x-osls", scale, iters=iters)
claims = os.path.join(os.environ["ACGAN_BOOK_RUNS"], "claims08")
os.makedirs(claims, exist_ok=True)
for s in seeds:
    for p in synthetic.TABLE3_PERCENTS:
        try:
            os.mkdir(os.path.join(claims, f"s{s}-p{p:g}"))
        except FileExistsError:
            continue
        t = time.time()
        rows = book.synthetic_table(gan, total=total, epochs=epochs, percents=[p], seed=s)
        acc = ", ".join(f"{r['strategy']} {r['test_accuracy']:.4f}" for r in rows)
        print(f"{time.strftime('%H:%M:%S')} seed {s} real {p:g} %: {acc} ({time.time() - t:.0f} s)", flush=True)
print("worker", sys.argv[1], "finished", flush=True)
