"""Every claim of the paper and of the four reference reports that the book tests: where
it is made (seed file and section), the value there (quoted as text), the metric key of
``book/results/<chapter>/metrics.json`` that measures it, the rule that turns our value
into a verdict, and what differs in our protocol.

Metric keys are ``"<chapter>:<path>"``; the path is a key of the chapter's ``metrics``
(keys may contain dots) followed by nested keys, e.g.
``"02_conditional_gan:table1.base.accuracy"``.

Rules (``Rule``): ``at_least(x)``, ``at_most(x)``, ``within(x, tol)``, ``true()``,
``false()`` decide "reproduced" / "not reproduced"; ``info()`` reports our value without a
verdict ("not comparable": e.g. an ImageNet number that no Fashion-MNIST value can match).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    kind: str                 # at_least | at_most | within | true | false | info
    value: float | None = None
    tol: float = 0.0

    def describe(self) -> str:
        return {"at_least": f"ours >= {self.value:g}" if self.value is not None else "",
                "at_most": f"ours <= {self.value:g}" if self.value is not None else "",
                "within": f"|ours - {self.value:g}| <= {self.tol:g}" if self.value is not None else "",
                "true": "holds in our runs", "false": "does not occur in our runs",
                "info": "no verdict (not comparable)"}[self.kind]

    def verdict(self, ours) -> str:
        if self.kind == "info":
            return "not comparable"
        if self.kind in ("true", "false"):
            if not isinstance(ours, bool):
                return "not comparable"
            return "reproduced" if ours == (self.kind == "true") else "not reproduced"
        if not isinstance(ours, (int, float)) or isinstance(ours, bool):
            return "not comparable"
        ok = {"at_least": ours >= self.value, "at_most": ours <= self.value,
              "within": abs(ours - self.value) <= self.tol}[self.kind]
        return "reproduced" if ok else "not reproduced"


def at_least(x): return Rule("at_least", x)
def at_most(x): return Rule("at_most", x)
def within(x, tol): return Rule("within", x, tol)
def true(): return Rule("true")
def false(): return Rule("false")
def info(): return Rule("info")


@dataclass(frozen=True)
class Claim:
    id: str
    source: str         # seed file and section, e.g. "001 Sec. 4.2"
    claim: str
    source_value: str   # as written in the source
    metric: str         # "<chapter>:<path>"
    rule: Rule
    protocol: str       # how we measure it (dataset, model, what differs)
    why: str = ""       # known differences that can explain a failure to reproduce
    needs: str = ""     # a dataset the measurement needs ("cifar10"): "not run" says so


FMNIST = "Fashion-MNIST AC-GAN (paper's CIFAR-10 networks at 28 px), LeNet-5 evaluation classifier"
CIFAR = "CIFAR-10, 004's protocol (ResNet-20 classifier, 25,000 samples at full scale)"

CLAIMS: list[Claim] = [
    # ------------------------------------------------------------------ the paper (001)
    Claim("P1", "001 Sec. 4.2", "Most classes have samples as diverse as real data: their MS-SSIM is below the "
          "maximum MS-SSIM of the training classes", "84.7 % of 1000 ImageNet classes below 0.25",
          "05_evaluation:msssim.28px.share_below_train_max", at_least(0.847),
          FMNIST + "; MS-SSIM of 100 same-class pairs at 64 px, window 3", "10 classes instead of 1000; few "
          "iterations at cpu scale; MS-SSIM computed on up-sampled 28 px images"),
    Claim("P2", "001 Sec. 4.1", "High-resolution samples are more than twice as discriminable as the same samples "
          "resized to a quarter of their size", "10.1 % at 128 px vs 5.0 % resized to 32 px (ratio 2.0)",
          "05_evaluation:discriminability_ratio_28_vs_8.28px", at_least(2.0),
          FMNIST + "; classifier accuracy at 28 px divided by that after resizing to 8 px and back",
          "Fashion-MNIST classes stay recognisable at low resolution (the real-data curve shows how much); "
          "ImageNet's 1000 classes need detail"),
    Claim("P3", "001 Sec. 4.1", "A model trained at higher resolution gives more discriminable samples than one "
          "trained at lower resolution", "64 px model below the 128 px model at every resolution",
          "05_evaluation:checks.higher_res_model_more_discriminable", true(),
          "64 px vs 28 px Fashion-MNIST AC-GAN, both scored at 28 px by the LeNet",
          "at cpu scale the 64 px model trains a third of the 28 px model's iterations (similar compute)"),
    Claim("P4", "001 Sec. 4.1", "Real images lose class information when resized down",
          "ImageNet real data: 24 / 54 / 81 / 81 % at 32 / 64 / 128 / 256 px",
          "05_evaluation:checks.real_falls_with_resolution", true(),
          "real Fashion-MNIST test images at 28 vs 8 px, LeNet"),
    Claim("P5", "001 Sec. 4.3", "Accuracy and MS-SSIM are anti-correlated across classes: diversity is not traded "
          "for discriminability", "r = -0.16 over 1000 classes",
          "05_evaluation:acc_vs_msssim.28px.pearson", at_most(0.0),
          FMNIST + "; Pearson r over 10 classes", "10 points only: the sign of r is fragile"),
    Claim("P6", "001 Sec. 4.5", "AC-GAN on CIFAR-10 reaches an Inception score of 8.25 +- 0.07",
          "8.25 +- 0.07 (real data 11.24)", "03_acgan-cifar10:cifar10.main.score", info(),
          "CIFAR-10, paper's model; our score uses a ResNet-20 classifier, not Inception (no offline Inception "
          "logits), so it cannot be compared with 8.25", needs="cifar10"),
    Claim("P7", "001 Sec. 4.4", "Samples are not copies: their nearest training images do not resemble them",
          "nearest neighbours (L1, pixels) differ from the samples",
          "06_overfitting:verdict.no_memorisation", true(),
          FMNIST + "; rule: sample-to-train L1 median >= 0.9 x test-to-train median and < 5 % of samples "
          "closer than the closest 1 % of test images"),
    Claim("P8", "001 Sec. 4.4", "Latent interpolations are smooth: no discrete transitions or holes",
          "no discrete transitions or 'holes' in latent space", "06_overfitting:verdict.smooth_interpolation",
          true(), FMNIST + "; rule: max / mean consecutive-frame distance < 3 on linear within-class paths"),
    Claim("P9", "001 Sec. 4.4", "A fixed z across classes keeps global structure (style is shared)",
          "global structure preserved across bird classes", "06_overfitting:verdict.shared_style", true(),
          FMNIST + "; rule: style-descriptor correlation, same z minus different z > 0.1"),
    Claim("P10", "001 Sec. 4.6", "Training on more classes per model lowers sample diversity (MS-SSIM rises)",
          "mean MS-SSIM rises quickly with the class count", "07_class_splitting:verdict.msssim_rises_with_classes",
          true(), "Fashion-MNIST AC-GANs on 2 and 10 classes, same iterations, MS-SSIM of classes 0 and 1",
          "one seed per class count; Fashion-MNIST classes are few and distinct"),
    # ------------------------------------------------------------------ 003 (DCGAN / CGAN on MNIST)
    Claim("D1", "003 Table 1", "The LeNet evaluation classifier reaches about 99 % on the real MNIST test set",
          "99 %", "02_conditional_gan:table1.real.accuracy", within(0.99, 0.01),
          "LeNet-5, 10 epochs (003: 30), test subset of n_eval images"),
    Claim("D2", "003 Table 1", "DCGAN samples score 9.026 +- 0.043 (Inception-score formula on the LeNet)",
          "9.026 +- 0.043", "02_conditional_gan:table1.dcgan.score", within(9.026, 0.3),
          "003's DCGAN, classifier score on our LeNet, n_eval samples",
          "fewer iterations at cpu scale; another LeNet (score depends on the classifier's confidence)"),
    Claim("D3", "003 Table 1", "The base CGAN's samples are classified as their label 98.7 % of the time",
          "98.7 %", "02_conditional_gan:table1.base.accuracy", within(0.987, 0.015),
          "003's CGAN, LeNet accuracy on n_eval samples", "fewer iterations at cpu scale"),
    Claim("D4", "003 Table 1", "Best CGAN (2x filters + one-sided label smoothing): 99.7 % accuracy, score 10.029",
          "99.7 %, 10.029 +- 0.028", "02_conditional_gan:table1.base_2x_osls.accuracy", within(0.997, 0.015),
          "003's CGAN with width 2 and real label 0.9", "fewer iterations at cpu scale"),
    Claim("D5", "003 Sec. 3", "One-sided label smoothing and twice the filters improve the CGAN",
          "99.7 % vs 98.7 % (base)", "02_conditional_gan:orderings.2x_osls_beats_base", true(),
          "accuracy of the two models on n_eval samples each", "differences of a fraction of a percent "
          "are within sampling noise at 2,000 samples"),
    Claim("D6", "003 Table 1", "Halving the filters lowers accuracy", "95.3 % vs 98.7 % (base)",
          "02_conditional_gan:orderings.half_worse_than_base", true(), "CGAN width 0.5 vs 1"),
    Claim("D7", "003 Table 1", "The conditional GAN scores above the unconditional DCGAN", "9.982 vs 9.026",
          "02_conditional_gan:orderings.cgan_above_dcgan", true(), "classifier score, same LeNet"),
    Claim("D8", "003 Sec. 1, app. figs. 5-6", "An overconfident discriminator (D loss to 0) ruins training",
          "D loss went to zero while G's loss rose; images singular and blurry",
          "01_gan_dcgan:strong_d.overconfident", true(),
          "provoked: DCGAN with the saturating minimax G loss and a 5x D learning rate; rule: D > 95 % correct "
          "on real and fake over the last tenth"),
    Claim("D9", "003 Sec. 1, app. fig. 4", "Mode collapse is rare with the DCGAN architecture",
          "encountered only once while tuning", "01_gan_dcgan:dcgan.collapsed", false(),
          "003's DCGAN settings; rule: fixed-noise grid diversity below half of real data's"),
    Claim("D10", "003 Sec. 4, Table 3", "A LeNet trained on synthetic images only reaches 93.2 % on real test data",
          "93.2 % (30 epochs; 82.4 % with 15)", "08_synthetic_data:summary.synthetic_only", within(0.932, 0.02),
          "CGAN 2x+OSLS samples, balanced, LeNet on the real test set",
          "cpu scale: 5,500 images and 10 epochs instead of 55,000 and 30"),
    Claim("D11", "003 Sec. 4, Table 3", "Trained on real images only, the LeNet reaches 99.1 %", "99.1 %",
          "08_synthetic_data:summary.real_only", within(0.991, 0.01), "same protocol, 100 % real",
          "cpu scale: 5,500 images and 10 epochs instead of 55,000 and 30"),
    Claim("D12", "003 Table 3", "10 % real images bring the accuracy to 98.0 %", "0.980 (no strategy)",
          "08_synthetic_data:summary.real_10pct", within(0.980, 0.01), "same protocol, 10 % real, mixed",
          "cpu scale: 5,500 images and 10 epochs instead of 55,000 and 30"),
    # ------------------------------------------------------------------ 004 (AC-GAN on CIFAR-10)
    Claim("C1", "004 Table 2", "Model 1 (paper model, class loss x2): ResNet score 4.12, accuracy 46.27 %",
          "4.12 +- 0.02 / 46.27 %", "03_acgan-cifar10:cifar10.model1.accuracy", within(0.4627, 0.05), CIFAR,
          needs="cifar10"),
    Claim("C2", "004 Table 2", "Model 2 (model 1 fine-tuned, class loss x10): 4.99, 63.52 %", "4.99 +- 0.04 / 63.52 %",
          "03_acgan-cifar10:cifar10.model2.accuracy", within(0.6352, 0.05), CIFAR, needs="cifar10"),
    Claim("C3", "004 Table 2", "Model 3 (64 px): 4.98, 59.70 %", "4.98 +- 0.05 / 59.70 %",
          "03_acgan-cifar10:cifar10.model3.accuracy", within(0.5970, 0.05), CIFAR, needs="cifar10"),
    Claim("C4", "004 Table 2", "Model 4 (model 3 fine-tuned): 7.11, 90.82 %", "7.11 +- 0.04 / 90.82 %",
          "03_acgan-cifar10:cifar10.model4.accuracy", within(0.9082, 0.05), CIFAR, needs="cifar10"),
    Claim("C5", "004 Table 2", "The ResNet-20 scores the CIFAR-10 test data 8.49, 92.06 %", "8.49 +- 0.10 / 92.06 %",
          "03_acgan-cifar10:cifar10.real.accuracy", within(0.9206, 0.02), CIFAR, needs="cifar10"),
    Claim("C6", "004 Sec. 2.2", "D's class accuracy on real images ends near 58 % for model 1", "57.95 %",
          "03_acgan-cifar10:cifar10.model1.d_cls_acc_real_final", within(0.5795, 0.05), CIFAR + "; training-log window mean",
          needs="cifar10"),
    Claim("C7", "004 Sec. 3.2", "Fine-tuning with a heavier real class loss improves the model (model 2 > model 1)",
          "46.27 % -> 63.52 %", "03_acgan:fmnist.orderings.finetune_improves_28", true(),
          "004's recipes applied to Fashion-MNIST (classifier accuracy)", "tested on Fashion-MNIST, where "
          "model 1 is already far more accurate than on CIFAR-10; short fine-tune at cpu scale"),
    Claim("C8", "004 Sec. 3.2", "Fine-tuning also improves the 64 px model (model 4 > model 3)", "59.70 % -> 90.82 %",
          "03_acgan:fmnist.orderings.finetune_improves_64", true(), "004's recipes on Fashion-MNIST at 64 px",
          "very short 64 px runs at cpu scale"),
    Claim("C9", "004 Sec. 3.2", "The higher-capacity 64 px model beats the 32 px one (model 3 > model 1)",
          "59.70 % vs 46.27 %", "03_acgan:fmnist.orderings.capacity_improves", true(),
          "004's recipes on Fashion-MNIST, 64 px vs 28 px", "the 64 px model trains far fewer iterations at cpu scale"),
    # ------------------------------------------------------------------ 000 (AC-GAN, noise in D)
    Claim("N1", "000 Sec. 5.2, Fig. 4", "Noise in D's activations (three stages: noise, less noise, none) makes "
          "the AC-GAN train", "shapes appeared only once noise was added; final samples clearer",
          "04_activation_noise:verdict.schedule_helps", true(),
          "Fashion-MNIST AC-GAN with the three-stage schedule vs without noise; rule: higher classifier accuracy "
          "and lower Frechet distance", "000's failure used one-batch epochs and batches of 1,000 in Keras; we "
          "test the mechanism in the paper's setting, where training without noise may also work"),
    Claim("N2", "000 Sec. 5.2", "Without noise the discriminator learns much faster than the generator",
          "the discriminator learning way faster than the generator",
          "04_activation_noise:verdict.d_overpowers_early.none", true(),
          "D > 90 % correct on real and fake images during the first third of training, no-noise run"),
    # ------------------------------------------------------------------ 002 (AC-BigGAN)
    Claim("B1", "002 abstract", "AC-BigGAN on CIFAR-10: FID 45.04, IS 7.19 after 80 epochs (8 h on a P100)",
          "FID 45.04, IS 7.19", "09_modern_acgan:cifar10.reproduction_002.fid", within(45.04, 5.0),
          "chapter 9: AC-BigGAN preset acbiggan-cifar10, Inception FID vs the training set", needs="cifar10"),
]


def by_id() -> dict[str, Claim]:
    return {c.id: c for c in CLAIMS}
