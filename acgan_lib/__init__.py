"""acgan_lib: the library behind the AC-GAN book (Odena, Olah, Shlens 2017).

Modules: ``config`` (presets and overrides), ``data`` (datasets, device-resident loader),
``models`` (DCGAN, CGAN, AC-GAN, AC-BigGAN), ``losses``, ``train`` (the training loop),
``sample`` (loading generators, drawing samples), ``metrics`` (evaluation), ``probes``
(overfitting probes), ``cli`` (``python -m acgan_lib``).
"""
__version__ = "0.1.0"
