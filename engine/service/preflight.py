"""What a pre-training job is checked for when it is submitted, before any run folder exists: its corpus holds
tracks on disk, and its device is there. A refused job answers one line at once and leaves nothing behind."""
from __future__ import annotations

from engine.config import RunConfig


def check_corpus(spec: str) -> None:
    """ValueError naming the SOURCE when it names no audio file on disk (the demo corpus is built on demand)."""
    from engine.data.corpora.sources import catalog_source, keep_present, parse_source

    kind, _ = parse_source(spec)
    if kind == "demo":
        return
    try:
        corpus = keep_present(catalog_source(spec))
    except OSError as err:
        raise ValueError(f"corpus '{spec}': {err.strerror or err}: {err.filename or ''}".rstrip(": ")) from None
    if not corpus.tracks:
        raise ValueError(f"corpus '{spec}': no audio track found on disk")


def check_device(device: str) -> None:
    """ValueError when the config asks for CUDA on a machine where no GPU is visible."""
    from engine.service.queue import visible_gpus

    if device == "cuda" and not visible_gpus():
        raise ValueError("device 'cuda': no CUDA GPU is visible on this machine (use device auto or cpu)")


def check_run(cfg: RunConfig, here: bool = True) -> None:
    """Everything about a new run that can fail later and can be known now; the device only when it trains
    `here` (not on Slurm's nodes)."""
    check_corpus(cfg.corpus)
    if here:
        check_device(cfg.device)
