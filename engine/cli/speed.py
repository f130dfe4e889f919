"""`mvssl speed`: measure (or show the cached measure of) this machine's training step at fp32 and bf16."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _cmd_speed(args: argparse.Namespace) -> int:
    from engine.training import precision
    from engine.training import speed_cache

    if os.environ.get(precision.ENV) and not args.again:
        print(f"{precision.ENV}={os.environ[precision.ENV]} fixes the CPU precision: nothing measured "
              f"(--again measures anyway)", file=sys.stderr)
        return 0
    if args.again:
        measurement = precision.measure(precision._real_step_timer())
        speed_cache.write(speed_cache.machine_key(measurement["torch"], measurement["threads"]), measurement)
    else:
        measurement = precision.cpu_measurement()
    step = measurement["step_s"]
    print(f"{measurement['cpu']} ({measurement['kind']}), torch {measurement['torch']}, {measurement['threads']} "
          f"threads: fp32 {step['fp32']:.3f} s, bf16 {step['bf16']:.3f} s per step of {measurement['batch_size']} "
          f"tracks; precision=auto picks {measurement['chosen']}"
          + (" (provisional: the machine was busy)" if measurement.get("provisional") else ""))
    if args.json:
        print(json.dumps(measurement, indent=1))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    speed = sub.add_parser("speed", help="this machine's training speed at fp32 and bf16 (what precision=auto uses)")
    speed.add_argument("--again", action="store_true", help="measure again even if a measurement is cached")
    speed.add_argument("--json", action="store_true", help="also print the whole measurement as JSON")
    speed.set_defaults(handler=_cmd_speed)
