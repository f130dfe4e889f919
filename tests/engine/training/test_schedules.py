"""Schedules: endpoints, shape (linear warm-up, cosine), monotonicity, and bad input."""
from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from engine.training.schedules import cosine_at, ema_momentum_at, lr_at, teacher_temp_at, weight_decay_at

TOTAL, WARMUP, BASE = 100, 10, 1e-3


def _is_monotone(values: list[float], increasing: bool) -> bool:
    pairs = zip(values[:-1], values[1:])
    return all(b >= a for a, b in pairs) if increasing else all(b <= a for a, b in pairs)


def test_lr_endpoints_and_peak() -> None:
    assert lr_at(0, TOTAL, BASE, WARMUP) == pytest.approx(1e-7)
    assert lr_at(WARMUP, TOTAL, BASE, WARMUP) == pytest.approx(BASE)
    assert lr_at(TOTAL, TOTAL, BASE, WARMUP) == pytest.approx(1e-7)
    assert max(lr_at(s, TOTAL, BASE, WARMUP) for s in range(TOTAL + 1)) == pytest.approx(BASE)


def test_lr_warmup_is_linear_then_cosine_decays_monotonically() -> None:
    warm = [lr_at(s, TOTAL, BASE, WARMUP) for s in range(WARMUP + 1)]
    steps = [b - a for a, b in zip(warm[:-1], warm[1:])]
    assert all(d == pytest.approx(steps[0]) for d in steps) and steps[0] > 0
    decay = [lr_at(s, TOTAL, BASE, WARMUP) for s in range(WARMUP, TOTAL + 1)]
    assert _is_monotone(decay, increasing=False)
    halfway = WARMUP + (TOTAL - WARMUP) // 2
    assert lr_at(halfway, TOTAL, BASE, WARMUP) == pytest.approx((BASE + 1e-7) / 2)


def test_lr_without_warmup_and_warmup_over_the_whole_run() -> None:
    assert lr_at(0, TOTAL, BASE, 0) == pytest.approx(BASE)
    assert lr_at(TOTAL, TOTAL, BASE, TOTAL) == pytest.approx(BASE)
    assert lr_at(5, 10, BASE, 10, final_lr=0.0) == pytest.approx(BASE / 2)
    assert lr_at(10, 10, BASE, 20, final_lr=0.0) == pytest.approx(BASE / 2)  # warm-up cut by the end


def test_weight_decay_cosine_from_0_04_to_0_4() -> None:
    values = [weight_decay_at(s, TOTAL) for s in range(TOTAL + 1)]
    assert values[0] == pytest.approx(0.04) and values[-1] == pytest.approx(0.4)
    assert values[TOTAL // 2] == pytest.approx(0.22)
    assert values[TOTAL // 4] == pytest.approx(0.4 + 0.5 * (0.04 - 0.4) * (1 + math.cos(math.pi / 4)))
    assert _is_monotone(values, increasing=True)


def test_ema_momentum_cosine_from_0_996_to_1() -> None:
    values = [ema_momentum_at(s, TOTAL) for s in range(TOTAL + 1)]
    assert values[0] == pytest.approx(0.996) and values[-1] == pytest.approx(1.0)
    assert _is_monotone(values, increasing=True)
    assert all(0.996 <= v <= 1.0 for v in values)


def test_teacher_temperature_warms_up_then_stays() -> None:
    values = [teacher_temp_at(s, WARMUP) for s in range(3 * WARMUP)]
    assert values[0] == pytest.approx(0.02)
    assert values[WARMUP // 2] == pytest.approx(0.03)
    assert all(v == 0.04 for v in values[WARMUP:])
    assert _is_monotone(values, increasing=True)
    assert teacher_temp_at(0, 0) == 0.04


def test_cosine_at_goes_either_way() -> None:
    assert cosine_at(0, 4, 1.0, 3.0) == 1.0 and cosine_at(4, 4, 1.0, 3.0) == 3.0
    assert cosine_at(2, 4, 3.0, 1.0) == pytest.approx(2.0)


@pytest.mark.parametrize("call, message", [
    (lambda: lr_at(-1, TOTAL, BASE, WARMUP), "step"),
    (lambda: lr_at(TOTAL + 1, TOTAL, BASE, WARMUP), "step"),
    (lambda: lr_at(0, 0, BASE, 0), "total_steps"),
    (lambda: lr_at(0, TOTAL, BASE, -1), "warmup_steps"),
    (lambda: lr_at(0, TOTAL, 1e-8, WARMUP), "final_lr"),
    (lambda: weight_decay_at(0, TOTAL, start=-0.1), "weight decay"),
    (lambda: weight_decay_at(TOTAL + 1, TOTAL), "step"),
    (lambda: ema_momentum_at(0, TOTAL, end=1.1), "momentum"),
    (lambda: teacher_temp_at(-1, WARMUP), "step"),
    (lambda: teacher_temp_at(0, -1), "warmup_steps"),
    (lambda: teacher_temp_at(0, WARMUP, start=0.0), "temperatures"),
])
def test_bad_input_raises(call: Callable[[], float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
