"""`mvssl corpus cache SOURCE`: decode a corpus once into the audio cache that training reads crops from."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_corpus_cache(args: argparse.Namespace) -> int:
    from engine.data import audio_cache
    from engine.data.corpora.sources import load_source

    corpus = load_source(args.source)
    for problem in corpus.problems:
        print(f"mvssl: skipped {problem}", file=sys.stderr)
    folder = Path(args.out) if args.out else audio_cache.cache_dir(args.source)
    result = audio_cache.build(corpus.tracks, folder, progress=not args.quiet, workers=args.workers)
    print(f"audio cache {folder}: {result.cached} tracks decoded, {result.reused} already cached, "
          f"{len(result.failed)} unreadable")
    return 0


def register(csub: argparse._SubParsersAction) -> None:
    cache = csub.add_parser("cache", help="decode every track once to 16 kHz int16 for fast training crops "
                                          "(resumable: run again to continue)")
    cache.add_argument("source", help="corpus SOURCE, as for `mvssl corpus info`")
    cache.add_argument("--out", help="cache folder (default: the user cache dir, keyed by SOURCE; "
                                     "training finds only the default)")
    cache.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    cache.add_argument("--quiet", action="store_true", help="no progress bar")
    cache.set_defaults(handler=_cmd_corpus_cache)
