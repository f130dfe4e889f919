"""`make bench`: speed of training, data, embedding, evaluation and GUI as same-run ratios (benchmarks/run.py)."""
