"""Pre-training: one readable step, events, atomic checkpoints, exact resume, NaN guard, SIGTERM."""
from __future__ import annotations

import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import torch
import torch.distributed as tdist
from torch.utils.data import DataLoader
from tqdm import tqdm

from engine.data import audio_cache
from engine import config as config_mod
from engine.training import precision as precision_mod
from engine.training import schedules
from engine.model.checkpoints import resume_point, save_checkpoint
from engine.config import RunConfig
from engine.data.corpora import load_source
from engine.rundir.events import EventWriter, truncate_after
from engine.training.tensorboard import event_log
from engine.training.precision import Precision
from engine.rundir.disk import WriteFailed, remove_stale_temps
from engine.rundir.files import read_status, write_status
from engine.rundir.layout import RunDir
from engine.training.snapshots import CollapseProbe
from engine.model.ssl_model import SSLModel
from engine.data.views import MultiViewDataset, ViewConfig
from engine.training.batches import EpochIndexed, StepBatches
from engine.data.workers import ignore_stop_signals


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # to the process or its whole group: checkpoint, then `cancelled`


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""


# --------------------------------------------------------------------------------------------------
# runtime choices
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Runtime:
    device: torch.device
    dtype: torch.dtype  # autocast dtype; float32 = off
    rank: int = 0
    world: int = 1
    precision: Precision | None = None  # how `dtype` was chosen (None: set directly, as in tests and benches)

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_runtime(cfg: RunConfig) -> Runtime:
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    cuda = torch.cuda.is_available() and cfg.device in ("auto", "cuda")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("config field 'device': cuda requested but no CUDA device is available")
    if world > 1 and not tdist.is_initialized():
        tdist.init_process_group("nccl" if cuda else "gloo")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    chosen = precision_mod.resolve(cfg.precision, device)
    return Runtime(device, chosen.dtype, rank, world, chosen)


def _param_groups(model: SSLModel) -> list[dict]:
    """Weight decay on weights only; biases, norms and the positional embedding are exempt."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if name.startswith("teacher.") or not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith("positional_embedding") else decay).append(p)
    return [{"params": decay, "apply_wd": True}, {"params": no_decay, "apply_wd": False}]


# --------------------------------------------------------------------------------------------------
# one training step
# --------------------------------------------------------------------------------------------------
class Scheduled(NamedTuple):
    """The per-step values of every schedule."""

    lr: float
    wd: float
    momentum: float
    teacher_temp: float


def scheduled_at(cfg: RunConfig, step: int, steps_per_epoch: int) -> Scheduled:
    """Learning rate, weight decay, EMA momentum and teacher temperature of `step`.

    `ema_schedule_epochs` and `teacher_temp_per_epoch` switch the last two to the official code's
    schedules (README "Where we differ from the official code").
    """
    if cfg.ema_schedule_epochs is None:
        momentum = schedules.ema_momentum_at(step, cfg.steps, cfg.ema_start, cfg.ema_end)
    else:  # the official cosine runs over its own length, then holds ema_end
        span = max(1, round(cfg.ema_schedule_epochs * steps_per_epoch))
        momentum = schedules.ema_momentum_at(min(step, span), span, cfg.ema_start, cfg.ema_end)
    if cfg.teacher_temp_per_epoch:  # one value per epoch, the warm-up counted in whole epochs
        at, warmup = step // steps_per_epoch, round(cfg.teacher_temp_warmup_epochs)
    else:
        at, warmup = step, round(cfg.teacher_temp_warmup_epochs * steps_per_epoch)
    return Scheduled(
        lr=schedules.lr_at(step, cfg.steps, cfg.lr, cfg.warmup_steps, cfg.final_lr),
        wd=schedules.weight_decay_at(step, cfg.steps, cfg.weight_decay_start, cfg.weight_decay_end),
        momentum=momentum,
        teacher_temp=schedules.teacher_temp_at(at, warmup, cfg.teacher_temp_start, cfg.teacher_temp_end),
    )


class StepResult(NamedTuple):
    """What one step reports; tensors stay on the device until a logging step reads them."""

    loss: torch.Tensor
    components: dict[str, torch.Tensor]
    grad_norm: torch.Tensor


def build_model(cfg: RunConfig, rt: Runtime) -> SSLModel:
    """The seeded model of the run on its device, in the configured memory format."""
    torch.manual_seed(cfg.seed)
    model = SSLModel(cfg).to(rt.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


class TrainStep:
    """One optimisation step: all views in one forward under autocast, loss, backward, gradient
    clipping, AdamW, EMA teacher and center update. The trainer and `make bench` both run this."""

    def __init__(self, cfg: RunConfig, model: SSLModel, rt: Runtime) -> None:
        self.cfg, self.model, self.rt = cfg, model, rt
        self.optimizer = torch.optim.AdamW(_param_groups(model), lr=cfg.lr, weight_decay=0.0,
                                           fused=rt.device.type in ("cpu", "cuda"))
        self.scaler = torch.amp.GradScaler(enabled=rt.dtype == torch.float16)
        self.forward: torch.nn.Module = model  # the DistributedDataParallel wrapper once `distribute` ran
        if cfg.compile:  # the ResNets only: the front end is shared by student and teacher and runs eagerly
            model.backbone.resnet.compile()
            if model.teacher is not None:
                model.teacher["backbone"].resnet.compile()

    def distribute(self) -> None:
        """Wrap the model for several processes, or wherever a process group is up (after the checkpoint is loaded)."""
        if self.rt.world > 1 or tdist.is_initialized():
            ids = [self.rt.device] if self.rt.device.type == "cuda" else None
            self.forward = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def __call__(self, views: torch.Tensor, step: int, sched: Scheduled) -> StepResult:
        """Train on views (V, B, T) at `step`; raises Diverged on a non-finite loss, before any update."""
        cfg, model, optimizer, scaler = self.cfg, self.model, self.optimizer, self.scaler
        for group in optimizer.param_groups:
            group["lr"] = sched.lr
            group["weight_decay"] = sched.wd if group["apply_wd"] else 0.0
        autocast = (torch.autocast(self.rt.device.type, dtype=self.rt.dtype) if self.rt.dtype != torch.float32
                    else nullcontext())
        with autocast:
            out = self.forward(views, sched.teacher_temp)
        if not torch.isfinite(out.loss):
            raise Diverged(f"non-finite loss at step {step}")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(out.loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.student_parameters(),
                                                   cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        if step < cfg.freeze_last_layer_steps and model.spec is not None and model.spec.head == "clustering":
            model.head.ops[-1].weight.grad = None
        scaler.step(optimizer)
        scaler.update()
        model.after_step(out, sched.momentum)
        return StepResult(out.loss.detach(), out.components, grad_norm)


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------
def train(run_dir: Path, progress: bool = True, preempted: Callable[[], bool] | None = None,
          on_step: Callable[[int, int], None] | None = None) -> str:
    """Train (or resume) the run in `run_dir`; returns the final state written to status.json.

    `preempted` (asked after each step, on rank 0 only) stops the run with a checkpoint of that step and
    returns "requeued"; the caller writes that state once it has requeued the job (engine.training.slurm_job).
    `on_step(steps done, steps)` is called each time a step is logged (a job's progress)."""
    run_dir = Path(run_dir)
    cfg = config_mod.load(RunDir(run_dir).config)
    rt = resolve_runtime(cfg)
    model = build_model(cfg, rt)

    if cfg.method == "random":
        return _write_random_control(run_dir, cfg, model, rt)

    trainer = TrainStep(cfg, model, rt)
    optimizer, scaler = trainer.optimizer, trainer.scaler
    run = RunDir(run_dir)
    if rt.main:
        remove_stale_temps(run.path, run.checkpoints, run.logs)  # left by a writer that was killed
    start, point = 0, resume_point(run_dir, map_location=rt.device)
    if point is not None:
        model.load_state_dict(point.state["model"])
        if point.full:
            optimizer.load_state_dict(point.state["optimizer"])
            scaler.load_state_dict(point.state["scaler"])
        start = point.step
        if rt.main and start < cfg.steps:
            print(f"{run_dir}: {point.note}", file=sys.stderr, flush=True)
    if rt.main:
        truncate_after(run.events, start)  # a crash may have logged steps past the checkpoint
    if start >= cfg.steps and read_status(run_dir).get("state") == "done":
        return "done"

    corpus = load_source(cfg.corpus)
    tracks = corpus.split("train") or corpus.tracks
    views = ViewConfig(n_views=cfg.views, segment_s=cfg.segment_s, min_gap_s=cfg.min_gap_s, augment=cfg.augment)
    dataset = MultiViewDataset(tracks, views, seed=cfg.seed, cache=audio_cache.find(cfg.corpus))
    sampler = StepBatches(len(dataset), cfg.batch_size, cfg.seed, start, cfg.steps, rt.rank, rt.world)
    loader = DataLoader(EpochIndexed(dataset), batch_sampler=sampler, num_workers=cfg.num_workers,
                        pin_memory=rt.device.type == "cuda", persistent_workers=cfg.num_workers > 0,
                        prefetch_factor=4 if cfg.num_workers > 0 else None, worker_init_fn=ignore_stop_signals)
    probe = CollapseProbe.from_corpus(corpus, views, seed=cfg.seed, device=rt.device)
    trainer.distribute()

    events = event_log(run_dir, cfg.tensorboard, start) if rt.main else None
    if rt.main:
        _record_precision(run_dir, rt, events, start, progress)
        if point is not None:
            events.write({"type": "resume", "step": start, "checkpoint": point.path.name, "message": point.note,
                          "time": time.time()})
    stop: dict[str, int | None] = {"signal": None}
    previous = {s: signal.signal(s, lambda signum, frame: stop.update(signal=signum)) for s in STOP_SIGNALS}
    status = read_status(run_dir)
    if rt.main:
        write_status(run_dir, "running", method=cfg.method, step=start, total_steps=cfg.steps, pid=os.getpid(),
                     started_at=status.get("started_at", time.time()), message="", world_size=rt.world)
    bar = tqdm(total=cfg.steps, initial=start, desc=f"{cfg.method}", disable=not (progress and rt.main),
               unit="step", dynamic_ncols=True)
    window = {"t0": time.perf_counter(), "wait": 0.0, "views": 0}
    step, state = start, "done"
    try:
        batches = iter(loader)
        for step in range(start, cfg.steps):
            # ---- data ----------------------------------------------------------------------------
            t_wait = time.perf_counter()
            batch = next(batches)  # (B, V, T)
            window["wait"] += time.perf_counter() - t_wait
            views_t = batch.to(rt.device, non_blocking=True).transpose(0, 1)  # (V, B, T)
            window["views"] += views_t.shape[0] * views_t.shape[1] * rt.world

            # ---- the step ------------------------------------------------------------------------
            sched = scheduled_at(cfg, step, sampler.steps_per_epoch)
            result = trainer(views_t, step, sched)
            bar.update(1)

            # ---- events and checkpoints ----------------------------------------------------------
            done = step + 1
            if rt.main and (done % cfg.log_every == 0 or done == cfg.steps):
                elapsed = time.perf_counter() - window["t0"]
                event = {"type": "train", "step": done, "epoch": done / sampler.steps_per_epoch,
                         "loss": float(result.loss), **sched._asdict(),
                         "views_per_s": window["views"] / max(elapsed, 1e-9),
                         "data_wait": window["wait"] / max(elapsed, 1e-9), "grad_norm": float(result.grad_norm),
                         "time": time.time()}
                event.update({k: float(v) for k, v in result.components.items() if v.ndim == 0})
                events.write(event)
                snapshot = probe.snapshot(model, sched.teacher_temp, rt.dtype)
                events.write({"type": "collapse", "step": done, **snapshot})
                warning = probe.warning(done, snapshot)
                if warning is not None:
                    events.write({**warning, "time": time.time()})
                write_status(run_dir, "running", step=done)
                if on_step is not None:
                    on_step(done, cfg.steps)
                bar.set_postfix(loss=f"{event['loss']:.3f}")
                window = {"t0": time.perf_counter(), "wait": 0.0, "views": 0}
            if rt.main and (done % cfg.checkpoint_every == 0 or done == cfg.steps):
                save_checkpoint(run_dir, done, model, optimizer, scaler, epoch=done // sampler.steps_per_epoch)
            if stop["signal"] is not None and done < cfg.steps:
                if rt.main:
                    save_checkpoint(run_dir, done, model, optimizer, scaler, epoch=done // sampler.steps_per_epoch)
                step, state = done, "cancelled"
                break
            if preempted is not None and preempted() and done < cfg.steps:
                save_checkpoint(run_dir, done, model, optimizer, scaler, epoch=done // sampler.steps_per_epoch)
                step, state = done, "requeued"
                break
            step = done
    except Diverged as err:
        state = "diverged"
        if rt.main:
            events.write({"type": "diverged", "step": step, "message": str(err), "time": time.time()})
            write_status(run_dir, "diverged", step=step, message=f"{err}; last good checkpoint kept")
        return state
    except BaseException as err:
        if rt.main:
            message = str(err) if isinstance(err, WriteFailed) else f"{type(err).__name__}: {err}"
            try:
                write_status(run_dir, "failed", step=step, message=message)
            except WriteFailed:
                pass  # the disk is full even for status.json: the error itself still reaches the user
        raise
    finally:
        bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if events is not None:
            events.close()
    if rt.main and state != "requeued":
        stats = dataset.stats
        write_status(run_dir, state, step=step, finished_at=time.time(), skipped_audio=stats.unreadable,
                     message=f"stopped by {_signal_name(stop['signal'])}; resumable" if state == "cancelled" else "")
    return state


def _signal_name(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "a signal"


def _record_precision(run_dir: Path, rt: Runtime, events: EventWriter, step: int, progress: bool) -> None:
    """Say at start which precision the run trains at and why: on stderr, in config.toml, in events.jsonl."""
    choice = rt.precision or Precision(str(rt.dtype).removeprefix("torch."), "fixed", "set by the caller")
    if progress:
        print(f"precision: {choice.name} (requested {choice.requested}; {choice.reason})", file=sys.stderr, flush=True)
    config_mod.record_resolved(RunDir(run_dir).config, precision=choice.name, precision_reason=choice.reason,
                               device=str(rt.device), world_size=rt.world)
    events.write({"type": "runtime", "step": step, "device": str(rt.device), "threads": torch.get_num_threads(),
                  "world_size": rt.world, **choice.record(), "time": time.time()})


def _write_random_control(run_dir: Path, cfg: RunConfig, model: SSLModel, rt: Runtime) -> str:
    """The untrained backbone: its seeded initial weights become the run's checkpoint."""
    model.eval()
    save_checkpoint(run_dir, 0, model, None, None, epoch=0)
    if rt.main:
        with EventWriter(RunDir(run_dir).events) as events:
            events.write({"type": "train", "step": 0, "epoch": 0.0, "time": time.time(),
                          "message": "random control: seeded initial weights, BatchNorm at initial statistics"})
            views = ViewConfig(n_views=cfg.views, segment_s=cfg.segment_s, min_gap_s=cfg.min_gap_s, augment=False)
            probe = CollapseProbe.from_corpus(load_source(cfg.corpus), views, seed=cfg.seed, device=rt.device)
            events.write({"type": "collapse", "step": 0, **probe.snapshot(model, cfg.teacher_temp_end, rt.dtype)})
        write_status(run_dir, "done", step=cfg.steps, total_steps=cfg.steps, finished_at=time.time(),
                     message="random control (untrained backbone)")
    return "done"
