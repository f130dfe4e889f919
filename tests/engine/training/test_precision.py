"""precision=auto: one decision for every job, from a measurement cached per machine (faked here)."""
from __future__ import annotations

import json

import pytest
import torch

from engine import config as config_mod
from engine.training import precision
from engine.training import speed_cache
from engine.training.loop import resolve_runtime


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty speed cache and no MVSSL_CPU_PRECISION override."""
    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(precision.ENV, raising=False)
    return tmp_path / "speed"


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch):
    """The load average the measurement sees (a busy machine is tested on its own)."""
    monkeypatch.setattr(precision.os, "getloadavg", lambda: (0.1, 0.1, 0.1))


def timer_of(fp32: float, bf16: float, spread: float = 1.0):
    calls = []

    def timer(name: str) -> list[float]:
        calls.append(name)
        t = {"fp32": fp32, "bf16": bf16}[name]
        return [t, t * spread, t]
    timer.calls = calls
    return timer


def test_a_cpu_where_bf16_is_slow_gets_fp32(cache) -> None:
    choice = precision.resolve("auto", "cpu", timer=timer_of(fp32=1.0, bf16=7.6))
    assert choice.name == "fp32" and choice.dtype == torch.float32 and not choice.autocast
    assert "7.60x the time of fp32" in choice.reason


def test_a_cpu_where_bf16_is_clearly_faster_gets_bf16(cache) -> None:
    choice = precision.resolve("auto", "cpu", timer=timer_of(fp32=1.0, bf16=0.5))
    assert choice.name == "bf16" and choice.autocast
    assert "2.00x faster" in choice.reason


def test_a_tie_keeps_fp32(cache) -> None:
    assert precision.resolve("auto", "cpu", timer=timer_of(fp32=1.0, bf16=0.95)).name == "fp32"


def test_the_measurement_is_cached_per_machine_and_reused(cache, monkeypatch) -> None:
    precision.resolve("auto", "cpu", timer=timer_of(fp32=1.0, bf16=0.5))
    files = list(cache.glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith(speed_cache.machine_kind())
    stored = json.loads(files[0].read_text())
    assert stored["chosen"] == "bf16" and stored["step_s"] == {"fp32": 1.0, "bf16": 0.5}
    assert stored["torch"] == torch.__version__ and stored["threads"] == torch.get_num_threads()
    monkeypatch.setattr(precision, "_real_step_timer", lambda: pytest.fail("measured again"))
    assert precision.resolve("auto", "cpu").name == "bf16"
    summary = speed_cache.latest_measurement()
    assert summary["precision"] == "bf16" and summary["step_s"] == pytest.approx(0.5 * 32 / precision.MEASURE_BATCH)


def test_another_torch_build_thread_count_or_isa_cap_is_measured_apart(monkeypatch) -> None:
    for name in speed_cache.ISA_CAPS:  # the test may itself run with the kernels capped
        monkeypatch.delenv(name, raising=False)
    assert speed_cache.machine_key("2.9.1", 2) != speed_cache.machine_key("2.14.1", 2)
    assert speed_cache.machine_key("2.14.1", 1) != speed_cache.machine_key("2.14.1", 2)
    native = speed_cache.machine_key("2.14.1", 2)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert speed_cache.machine_key("2.14.1", 2) != native


def test_an_unreadable_cache_file_is_measured_again(cache) -> None:
    key = speed_cache.machine_key(torch.__version__, torch.get_num_threads())
    cache.mkdir(parents=True)
    (cache / f"{key}.json").write_text("{not json")
    timer = timer_of(fp32=1.0, bf16=3.0)
    assert speed_cache.read(key) is None
    assert precision.resolve("auto", "cpu", timer=timer).name == "fp32" and timer.calls == ["fp32", "bf16"]


def test_explicit_bf16_on_a_slow_cpu_runs_with_a_one_line_warning(cache, capsys) -> None:
    choice = precision.resolve("bf16", "cpu", timer=timer_of(fp32=1.0, bf16=7.6))
    assert choice.name == "bf16"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "7.6x slower than fp32" in err[0]


def test_explicit_fp32_and_the_override_measure_nothing(cache, monkeypatch) -> None:
    monkeypatch.setattr(precision, "_real_step_timer", lambda: pytest.fail("measured"))
    assert precision.resolve("fp32", "cpu").name == "fp32"
    monkeypatch.setenv(precision.ENV, "bf16")
    assert precision.resolve("auto", "cpu").reason == f"set by {precision.ENV}"
    monkeypatch.setenv(precision.ENV, "fast")
    with pytest.raises(ValueError, match=precision.ENV):
        precision.resolve("auto", "cpu")


def test_fp16_on_cpu_is_a_clear_error(cache) -> None:
    with pytest.raises(ValueError, match="config field 'precision'"):
        precision.resolve("fp16", "cpu")


def test_the_trainer_and_embedding_take_the_same_decision(cache, monkeypatch) -> None:
    from engine.evaluation.embed import fast_bf16

    precision.resolve("auto", "cpu", timer=timer_of(fp32=1.0, bf16=0.4))  # cached: bf16 on this "machine"
    rt = resolve_runtime(config_mod.build("demo", overrides={"device": "cpu"}))
    assert rt.dtype == torch.bfloat16 and rt.precision.name == "bf16"
    assert fast_bf16("cpu")


def test_the_real_measurement_times_both_precisions() -> None:
    timer = precision._real_step_timer(warmup=0, timed=1)
    assert all(len(timer(name)) == 1 and timer(name)[0] > 0 for name in ("fp32", "bf16"))


def test_a_measurement_on_a_busy_machine_is_used_once_then_taken_again(cache, monkeypatch) -> None:
    monkeypatch.setattr(precision.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    first = precision.cpu_measurement(timer=timer_of(fp32=1.0, bf16=1.3))
    assert first["provisional"] and first["chosen"] == "fp32"
    monkeypatch.setattr(precision.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    monkeypatch.setattr(precision, "_real_step_timer", lambda: timer_of(fp32=1.0, bf16=0.6))
    again = precision.resolve("auto", "cpu")
    assert again.name == "bf16" and not again.measurement["provisional"]
    monkeypatch.setattr(precision, "_real_step_timer", lambda: pytest.fail("a clean measurement is kept"))
    assert precision.resolve("auto", "cpu").name == "bf16"


def test_widely_spread_steps_are_provisional_too(cache) -> None:
    assert precision.measure(timer_of(fp32=1.0, bf16=0.5, spread=2.0))["provisional"]
    assert not precision.measure(timer_of(fp32=1.0, bf16=0.5, spread=1.1))["provisional"]


def test_mvssl_speed_measures_caches_and_reports(tmp_path, monkeypatch) -> None:
    import subprocess
    import sys

    env = {**__import__("os").environ, "MVSSL_CACHE_DIR": str(tmp_path)}
    fixed = subprocess.run([sys.executable, "-m", "engine.cli", "speed"], env=env, capture_output=True, text=True)
    assert fixed.returncode == 0 and "nothing measured" in fixed.stderr and not (tmp_path / "speed").exists()
    env.pop(precision.ENV)
    out = subprocess.run([sys.executable, "-m", "engine.cli", "speed", "--json"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first, _, rest = out.stdout.partition("\n")
    measured = json.loads(rest)
    assert f"precision=auto picks {measured['chosen']}" in first
    assert measured["step_s"]["fp32"] > 0 and measured["step_s"]["bf16"] > 0
    [cached] = (tmp_path / "speed").glob("*.json")
    assert json.loads(cached.read_text())["measured_at"] == measured["measured_at"]
    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path))
    assert speed_cache.latest_measurement()["step_s"] == pytest.approx(measured["demo_step_s"][measured["chosen"]])
