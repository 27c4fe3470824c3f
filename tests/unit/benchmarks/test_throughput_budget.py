"""The four-dark budget ``benchmarks/bench_throughput.py`` prints beside its ratios."""

import re

import pytest

from benchmarks.bench_throughput import budget_line


def _figures(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d+", line)]


def test_a_run_exactly_at_the_goal_has_its_own_per_dark_cost_as_budget():
    # hstcr: F = 0.9 s, m = 0.5 s; the bare reference: exactly 1 / 0.8 of each whole run
    fixed, m = 0.9, 0.5
    t1, t4 = fixed + m, fixed + 4 * m
    line = budget_line(t1, t4, t1 / 0.8, t4 / 0.8)
    # the fixed costs (the bare's is F / 0.8), then a budget per dark equal to the measured m
    assert _figures(line)[:2] == pytest.approx([0.9, 0.9 / 0.8], abs=0.01)
    budget = float(re.search(r"leave hstcr (\d+\.\d+) s per dark", line).group(1))
    measured = float(re.search(r"measured (\d+\.\d+) s", line).group(1))
    assert budget == pytest.approx(0.5, abs=0.005) and measured == pytest.approx(0.5, abs=0.005)


def test_a_larger_fixed_cost_leaves_less_per_dark():
    small = budget_line(1.0, 2.5, 1.2, 3.0)
    large = budget_line(1.4, 2.9, 1.2, 3.0)     # same m, 0.4 s more fixed cost
    budget = [float(re.search(r"leave hstcr (\d+\.\d+) s", x).group(1)) for x in (small, large)]
    assert budget[0] - budget[1] == pytest.approx(0.1, abs=0.005)
