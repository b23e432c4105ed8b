"""Published results of the mode-coverage protocols in :mod:`gankit.metrics.modes`, with where each
was read and the constants of the protocol that produced it.

Plain data. ``PUBLISHED`` maps a protocol to its rows: ``method``, ``modes``, ``high_quality`` (%),
``kl`` (nats), ``pm`` (the ± printed beside each figure, if any), ``source`` (paper and table) and
``read``: ``"original"`` when the figure was read in the paper's own table (in the authors'
repositories, where the tables are images), ``"reprint"`` when it was read in a later paper's copy
(PacGAN's Table 3 reprints Unrolled GAN's rows). ``None``: the source gives no value.
``PAPER_CONSTANTS`` gives the constants of the setting the rows were measured in, to set beside
ours. The transcriptions, tags and caveats are kept with their sources in the project's
``shared/published/README.md``.

Left out on purpose: GDPP's Stacked MNIST table (its target distribution is not uniform, so its KL
measures something else), DDGAN's row (known only third-hand), and rows remembered rather than
read. The ring rows are all at the VEEGAN / PacGAN scale (radius 1, std 0.01): `ring-veegan`.
"""

from __future__ import annotations

_VEEGAN_T1 = "VEEGAN (Srivastava et al., NeurIPS 2017), Table 1"
_VEEGAN_T2 = "VEEGAN (Srivastava et al., NeurIPS 2017), Table 2"
_GDPP_T1 = "GDPP (Elfeki et al., ICML 2019), Table 1"
_PACGAN_T1 = "PacGAN (Lin et al., NeurIPS 2018), Table 1 (10 runs, ± standard error)"
_PACGAN_T2 = "PacGAN (Lin et al., NeurIPS 2018), Table 2 (10 runs, ± standard error)"
_PACGAN_T3 = "PacGAN (Lin et al., NeurIPS 2018), Table 3 (± standard error)"
_UNROLLED_IN_PACGAN = "Unrolled GAN (Metz et al., ICLR 2017), as reprinted in PacGAN's Table 3"
_R3GAN_T3 = (
    "R3GAN (Huang et al., NeurIPS 2024), Table 3 "
    "(Stacked MNIST from the 60,000 training digits, padded to 32 px)"
)


def _row(method, modes, hq, kl, source, read="original", pm=None) -> dict:
    return {
        "method": method,
        "modes": modes,
        "high_quality": hq,
        "kl": kl,
        "pm": pm or {},
        "source": source,
        "read": read,
    }


def _pac(method, modes, hq, kl, source=_PACGAN_T1) -> dict:
    """A PacGAN row: each figure a (mean, standard error) pair."""
    return _row(
        method,
        modes[0],
        hq[0],
        kl[0],
        source,
        pm={k: v[1] for k, v in (("modes", modes), ("high_quality", hq), ("kl", kl))},
    )


def _hard(method, modes, kl, source=_PACGAN_T3, read="original") -> dict:
    row = _row(method, modes[0], None, kl[0], source, read)
    row["pm"] = {"modes": modes[1], "kl": kl[1]}
    return row


def _metz(method, modes, kl) -> dict:
    """A row of Unrolled GAN's hard-setting table, read in PacGAN's reprint."""
    return _hard(method, modes, kl, _UNROLLED_IN_PACGAN, "reprint")


PUBLISHED: dict[str, list[dict]] = {
    "ring": [],  # the Unrolled-GAN scale (radius 2, std 0.02): no table at this scale was read
    "ring-veegan": [
        _row("GAN", 1, 99.3, None, _VEEGAN_T1),
        _row("ALI", 2.8, 0.13, None, _VEEGAN_T1),
        _row("Unrolled GAN", 7.6, 35.6, None, _VEEGAN_T1),
        _row("VEEGAN", 8, 52.9, None, _VEEGAN_T1),
        _row("WGAN-GP", 6.8, 59.6, None, _GDPP_T1),
        _row("GDPP-GAN", 8.0, 71.7, None, _GDPP_T1),
        _pac("GAN", (6.3, 0.5), (98.2, 0.2), (0.45, 0.09)),
        _pac("ALI", (6.6, 0.3), (97.6, 0.4), (0.36, 0.04)),
        _pac("PacGAN2", (7.9, 0.1), (95.6, 2.0), (0.07, 0.03)),
        _pac("PacGAN3", (7.8, 0.1), (97.7, 0.3), (0.10, 0.02)),
        _pac("PacGAN4", (7.8, 0.1), (95.9, 1.4), (0.07, 0.02)),
    ],
    "grid": [
        _row("GAN", 3.3, 0.5, None, _VEEGAN_T1),
        _row("ALI", 15.8, 1.6, None, _VEEGAN_T1),
        _row("Unrolled GAN", 23.6, 16, None, _VEEGAN_T1),
        _row("VEEGAN", 24.6, 40, None, _VEEGAN_T1),
        _row("WGAN-GP", 24.2, 28.7, None, _GDPP_T1),
        _row("GDPP-GAN", 24.8, 68.5, None, _GDPP_T1),
        _pac("GAN", (17.3, 0.8), (94.8, 0.7), (0.70, 0.07)),
        _pac("ALI", (24.1, 0.4), (95.7, 0.6), (0.14, 0.03)),
        _pac("PacGAN2", (23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
        _pac("PacGAN3", (24.6, 0.4), (94.2, 0.4), (0.06, 0.02)),
        _pac("PacGAN4", (24.8, 0.2), (93.6, 0.6), (0.04, 0.01)),
    ],
    "stacked-mnist": [
        _row("DCGAN", 99, None, 3.4, _VEEGAN_T2),
        _row("ALI", 16, None, 5.4, _VEEGAN_T2),
        _row("Unrolled GAN", 48.7, None, 4.32, _VEEGAN_T2),
        _row("VEEGAN", 150, None, 2.95, _VEEGAN_T2),
        _hard("DCGAN (PacGAN's)", (78.9, 6.46), (4.50, 0.127), _PACGAN_T2),
        _hard("PacDCGAN2", (1000.0, 0.0), (0.06, 0.003), _PACGAN_T2),
        _hard("PacDCGAN3", (1000.0, 0.0), (0.06, 0.003), _PACGAN_T2),
        _hard("PacDCGAN4", (1000.0, 0.0), (0.07, 0.005), _PACGAN_T2),
        _row("RpGAN + R1 + R2", 1000, None, 0.0781, _R3GAN_T3),
        _row("GAN + R1 + R2", 693, None, 0.9270, _R3GAN_T3),
    ],
    # the hard setting (PacGAN's Table 3, after Unrolled GAN): D with 1/4 or 1/2 of G's channels
    "stacked-mnist-d-quarter": [
        _metz("DCGAN (Metz et al.)", (30.6, 20.73), (5.99, 0.42)),
        _metz("Unrolled GAN, 1 step", (65.4, 34.75), (5.91, 0.14)),
        _hard(
            "Unrolled GAN, 5 steps", (236.4, 63.30), (4.67, 0.43), _UNROLLED_IN_PACGAN, "reprint"
        ),
        _hard(
            "Unrolled GAN, 10 steps", (327.2, 74.67), (4.66, 0.46), _UNROLLED_IN_PACGAN, "reprint"
        ),
        _hard("DCGAN (PacGAN's)", (78.5, 17.56), (5.21, 0.19)),
        _hard("PacDCGAN2", (484.5, 32.99), (2.61, 0.22)),
        _hard("PacDCGAN3", (601.3, 32.18), (2.00, 0.17)),
        _hard("PacDCGAN4", (667.4, 29.00), (1.81, 0.15)),
    ],
    "stacked-mnist-d-half": [
        _metz("DCGAN (Metz et al.)", (628.0, 140.9), (2.58, 0.75)),
        _metz("Unrolled GAN, 1 step", (523.6, 55.77), (2.44, 0.26)),
        _hard(
            "Unrolled GAN, 5 steps", (732.0, 44.98), (1.66, 0.09), _UNROLLED_IN_PACGAN, "reprint"
        ),
        _hard(
            "Unrolled GAN, 10 steps", (817.4, 37.91), (1.43, 0.12), _UNROLLED_IN_PACGAN, "reprint"
        ),
        _hard("DCGAN (PacGAN's)", (487.7, 34.59), (2.24, 0.15)),
        _hard("PacDCGAN2", (840.7, 15.92), (1.00, 0.05)),
        _hard("PacDCGAN3", (866.6, 12.10), (0.90, 0.04)),
        _hard("PacDCGAN4", (820.2, 25.50), (1.15, 0.14)),
    ],
}

_TWO_D = "2,500 samples; high quality within 3 std of the nearest mean; a mode is captured by one"
_STACKED = "26,000 samples; each channel's digit read by a classifier; KL(p_model || uniform)"

#: the constants of the setting each protocol's published rows were measured in
PAPER_CONSTANTS: dict[str, str] = {
    "ring": "Unrolled GAN: 8 means on a circle of radius 2, std 0.02",
    "ring-veegan": f"8 means on a circle of radius 1, std 0.01; {_TWO_D}",
    "grid": f"25 means at {{-4,-2,0,2,4}}^2, std 0.05; {_TWO_D}",
    "stacked-mnist": f"digits drawn from MNIST's 70,000 train+test images (PacGAN); {_STACKED}; "
    "DCGAN-sized D",
    "stacked-mnist-d-quarter": "digits from MNIST; 25,600 samples; D with 2/4/8 channels (G/4)",
    "stacked-mnist-d-half": "digits from MNIST; 25,600 samples; D with 4/8/16 channels (G/2)",
}
