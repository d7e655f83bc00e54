"""Pretrain (and pre-evaluate) chapter 9's variants on CIFAR-10 at cpu scale with the
knobs of `execute --scale cpu --chapters 09 -p dataset=cifar10 -p iters=4000 -p sample_every=400`
(the chapter's own calls: comparison.train_variants / evaluate_run), last variant first, so
that the chapter's execution reuses them."""
from acgan_lib.book import comparison as C
knobs = dict(iters=4000, batch_size=32, g_ch=8, d_ch=4, ema=0.99, ema_start=170,
             sample_every=400, log_every=10, ckpt_every=100)
for v in reversed(C.ALL_VARIANTS):
    (key, run_dir), = C.train_variants([v], "cifar10", "cpu", seeds=[0], **knobs).items()
    C.evaluate_run(run_dir, "cpu", 2000, 0)
    print("done", v, run_dir.path if hasattr(run_dir, "path") else run_dir, flush=True)
print("all variants done")
