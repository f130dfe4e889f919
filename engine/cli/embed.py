"""`mvssl embed`, `mvssl project`, `mvssl neighbours`: embeddings of a run, its 2-D maps, nearest tracks."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _segments(value: str) -> int | str:
    if value == "all":
        return value
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise argparse.ArgumentTypeError(f"must be 'all' or a positive integer, got '{value}'")
    return k


def _cmd_embed(args: argparse.Namespace) -> int:
    from engine.evaluation.embed import embed, embed_logmel

    common = dict(segments_per_track=args.segments_per_track, train_segments=args.train_segments, batch=args.batch,
                  progress=True)
    if args.logmel:
        path = embed_logmel(Path(args.run_dir), corpus=args.corpus or "demo", **common)
    else:
        bf16 = {"auto": None, "bf16": True, "fp32": False}[args.precision]
        path = embed(Path(args.run_dir), checkpoint=args.checkpoint, corpus=args.corpus, bf16=bf16, **common)
    from engine.rundir.embeddings_store import open_embeddings

    with open_embeddings(path.parent) as emb:
        print(f"{path}: {len(emb.tracks)} tracks, {int(emb.n_segments.sum())} segments, "
              f"{emb.attrs['n_skipped']} skipped")
    return 0


def _cmd_project(args: argparse.Namespace) -> int:
    from engine.evaluation.projection import project

    maps = project(Path(args.run_dir), methods=tuple(args.method or ("pca", "umap")), seed=args.seed,
                   force=args.force)
    for name, xy in maps.items():
        print(f"{name}: {len(xy)} points")
    return 0


def _cmd_neighbours(args: argparse.Namespace) -> int:
    from engine.evaluation.projection import neighbours

    found = neighbours(Path(args.run_dir), args.track, k=args.k, metric="raw" if args.raw else "centred")
    if args.json:
        print(json.dumps([n._asdict() for n in found], indent=1))
    else:
        for n in found:
            print(f"{n.similarity:7.4f}  {n.id}  {' '.join(n.tags)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the embed, project and neighbours sub-commands to the `mvssl` parser."""
    embed = sub.add_parser("embed", help="embed every track of a corpus with a run's frozen backbone")
    embed.add_argument("--run-dir", required=True)
    embed.add_argument("--checkpoint", default="last", help="last | STEP")
    embed.add_argument("--corpus", help="corpus SOURCE (default: the run's corpus)")
    embed.add_argument("--segments-per-track", type=_segments, default="all", metavar="K|all",
                       help="every non-overlapping 4 s segment, or K random non-silent ones")
    embed.add_argument("--train-segments", type=_segments, metavar="K|all",
                       help="the training tracks' segments when they differ (the paper: 25 random per track; "
                            "default: as --segments-per-track)")
    embed.add_argument("--batch", type=int, help="segments per forward pass (default: 32 on CPU, 256 on GPU)")
    embed.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                       help="auto: bf16 where it is faster here (CUDA with bf16; a CPU where a cached measurement finds it faster)")
    embed.add_argument("--logmel", action="store_true",
                       help="make --run-dir the log-mel statistics baseline (a pseudo-run) and embed with it")
    embed.set_defaults(handler=_cmd_embed)

    project = sub.add_parser("project", help="2-D maps (PCA, UMAP) of a run's track embeddings, cached")
    project.add_argument("--run-dir", required=True)
    project.add_argument("--method", action="append", choices=["pca", "umap"], help="default: both")
    project.add_argument("--seed", type=int, default=0)
    project.add_argument("--force", action="store_true", help="recompute even when cached")
    project.set_defaults(handler=_cmd_project)

    near = sub.add_parser("neighbours", help="the tracks nearest to one track (cosine of centred embeddings)")
    near.add_argument("--run-dir", required=True)
    near.add_argument("--track", required=True, help="track id")
    near.add_argument("-k", type=int, default=10)
    near.add_argument("--raw", action="store_true",
                      help="cosine of the raw embeddings (post-ReLU: all near 1) instead of the centred ones")
    near.add_argument("--json", action="store_true")
    near.set_defaults(handler=_cmd_neighbours)
