"""The published mode-coverage rows: every protocol's rows carry a source, where they were read and
the constants of their setting; spot checks against the transcribed tables."""

import pytest

from gankit.data.options import TOY_MIXTURES
from gankit.metrics.modes import MIXTURES, mixture
from gankit.metrics.published import PAPER_CONSTANTS, PUBLISHED


@pytest.mark.parametrize("protocol", list(PUBLISHED))
def test_every_row_names_its_source_and_where_it_was_read(protocol):
    assert protocol in PAPER_CONSTANTS
    for row in PUBLISHED[protocol]:
        assert row["source"] and row["read"] in ("original", "reprint")
        assert row["modes"] is not None and set(row["pm"]) <= {"modes", "high_quality", "kl"}
        of = 8 if protocol.startswith("ring") else 25 if protocol == "grid" else 1000
        assert 0 <= row["modes"] <= of
        assert row["high_quality"] is None or 0 <= row["high_quality"] <= 100


def test_spot_checks_against_the_papers_tables():
    def find(protocol, method, source):
        (row,) = [r for r in PUBLISHED[protocol] if r["method"] == method and source in r["source"]]
        return row

    assert find("grid", "GDPP-GAN", "GDPP")["high_quality"] == 68.5
    pac4 = find("grid", "PacGAN4", "PacGAN")
    assert (pac4["modes"], pac4["high_quality"], pac4["kl"]) == (24.8, 93.6, 0.04)
    assert pac4["pm"] == {"modes": 0.2, "high_quality": 0.6, "kl": 0.01}
    assert find("ring-veegan", "GAN", "VEEGAN")["high_quality"] == 99.3
    assert find("stacked-mnist", "PacDCGAN2", "Table 2")["kl"] == 0.06
    assert find("stacked-mnist-d-quarter", "PacDCGAN4", "PacGAN")["modes"] == 667.4
    reprint = find("stacked-mnist-d-half", "Unrolled GAN, 10 steps", "Unrolled GAN")
    assert reprint["read"] == "reprint" and reprint["modes"] == 817.4


def test_the_mixtures_are_named_once_for_the_config_and_the_counts():
    assert tuple(MIXTURES) == TOY_MIXTURES
    centers, std = mixture("ring-veegan")
    assert centers.norm(dim=1).tolist() == pytest.approx([1.0] * 8) and std == 0.01
    centers, std = mixture("ring")
    assert centers.norm(dim=1).tolist() == pytest.approx([2.0] * 8) and std == 0.02
    assert len(mixture("grid")[0]) == 25
