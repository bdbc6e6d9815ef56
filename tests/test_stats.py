import math

import pytest
import torch

from kdmeta_lib.support.stats import mean_ci, t_quantile_975


def test_the_interval_is_t_times_standard_error():
    values = [0.9, 0.8, 1.0]
    result = mean_ci(values)
    std = torch.tensor(values, dtype=torch.float64).std().item()
    assert result.mean == pytest.approx(0.9)
    assert result.half_width == pytest.approx(4.303 * std / math.sqrt(3))


def test_many_values_approach_the_normal_quantile():
    assert t_quantile_975(1000) == pytest.approx(1.96, abs=0.01)
    assert t_quantile_975(2) > t_quantile_975(10) > t_quantile_975(100)


def test_overlap_is_symmetric_and_detects_separated_intervals():
    low, high = mean_ci([0.1, 0.11, 0.12]), mean_ci([0.5, 0.51, 0.52])
    assert not low.overlaps(high) and not high.overlaps(low)
    assert mean_ci([0.1, 0.3]).overlaps(mean_ci([0.2, 0.4]))


def test_one_value_has_no_interval():
    with pytest.raises(ValueError, match="at least 2"):
        mean_ci([0.5])
