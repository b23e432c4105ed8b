"""Published results for the mode-coverage protocols in :mod:`gankit.metrics.modes`.

Plain data: ``PUBLISHED`` maps a protocol ("ring", "grid", "stacked-mnist") to a list of rows
``{"method", "modes", "high_quality", "kl", "source"}`` plus an optional ``"note"``. Numbers are
the means exactly as printed in the named source (``high_quality`` in percent, ``kl`` in nats);
a "± std" printed beside a mean goes in ``note``. ``None`` means the source gives no value.

Only rows whose numbers were read in a source that can be named are listed. The primary result
tables could not be read as text when this module was written: VEEGAN (Srivastava et al.,
NeurIPS 2017) Tables 1-2, PacGAN (Lin et al., NeurIPS 2018) Tables 1-3 and the Unrolled GAN
(Metz et al., ICLR 2017) Stacked MNIST table exist, in the authors' repositories, only as images
(akashgit/VEEGAN tab.png; fjxmlzn/PacGAN synthetic_data_experiments/results/Table1.png and
stacked_MNIST_experiments/results/Table2.png, Table3.png). So "ring" and "grid" are empty,
and the Stacked MNIST rows below are second-hand: they are copied from Table 1 of the EnGAN
ICLR 2019 submission ("EnGAN: Latent space MCMC and maximum entropy generators for energy-based
models", later Kumar et al., arXiv:1901.08508), which says they are taken from Belghazi et al.
(2018, MINE). Check them against the original tables before citing them as the originals'
numbers. Do not fill in other rows from memory.

Protocol details confirmed in the sources (gankit's implementation is in ``modes.py``):

- VEEGAN (project page, akashgit/VEEGAN index.md): 2D mixtures use 2,500 generated samples per
  trained model, averaged over five runs. A sample is "high quality" if it lies within three
  standard deviations of its nearest mode (ten for the 1200-D mixture). "Modes captured" is the
  number of mixture components whose mean is nearest to at least one high-quality sample. The
  Unrolled GAN baseline uses 5 unrolling steps. Stacked MNIST has 1,000 modes, which a trained
  classifier reads. It uses 26,000 samples, averaged over five runs, and also reports the KL
  divergence between the generated and the data mode distributions.
- PacGAN released code (fjxmlzn/PacGAN): grid means {-4,-2,0,2,4}^2 with variance 0.05**2
  (synthetic_data_experiments/2DGrid_GAN&PacGAN/config.py). Metrics are computed on 2,500
  generated points (GraphLogger num_samples = num_log_figure_sample = 2500, in pacgan_task.py).
  A point counts if its std-scaled distance to the nearest mode is < 3 (strict; MetricLogger
  dis_thre=3, pacgan/extensions.py). A mode is covered when its count is non-zero. Packing
  degrees 1-4 are run 10 times each. That MetricLogger records the JSD of the mode histogram
  against uniform; it does not record the reverse KL that the paper's synthetic table reports.
  Stacked MNIST, VEEGAN architecture: 26,000 test samples, 128,000 training images, 10 runs per
  packing degree (stacked_MNIST_experiments/VEEGAN_experiment/config.py). Unrolled GAN
  architecture with D = 1/4 G: 25,600 test samples, 50 runs per packing degree
  (unrolled_GAN_experiment/D=0.25G/config.py).
"""

from __future__ import annotations

_ENGAN_T1 = (
    "EnGAN (ICLR 2019 submission; Kumar et al., arXiv:1901.08508), Table 1, "
    "which says it borrows these numbers from Belghazi et al. 2018 (MINE)"
)

PUBLISHED: dict[str, list[dict]] = {
    "ring": [],
    "grid": [],
    "stacked-mnist": [
        {
            "method": "Unrolled GAN",
            "modes": 48.7,
            "high_quality": None,
            "kl": 4.32,
            "source": _ENGAN_T1,
            "note": "Second-hand; VEEGAN-paper protocol (Srivastava et al. 2017, Table 2), "
            "not checked against that table.",
        },
        {
            "method": "VEEGAN",
            "modes": 150.0,
            "high_quality": None,
            "kl": 2.95,
            "source": _ENGAN_T1,
            "note": "Second-hand; VEEGAN's own result (Srivastava et al. 2017, Table 2), "
            "not checked against that table.",
        },
        {
            "method": "PacGAN",
            "modes": 1000.0,
            "high_quality": None,
            "kl": 0.06,
            "source": _ENGAN_T1,
            "note": "Printed as 1000.0 ± 0.0 modes, KL 0.06 ± 1.0e-2. The packing degree is not "
            "stated; not checked against PacGAN (Lin et al. 2018), Table 2.",
        },
    ],
}
