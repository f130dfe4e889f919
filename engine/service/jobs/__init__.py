"""Jobs: each kind a `run(spec, report)` function (`kinds.JOBS`), the same in this process and as its own process.

`run_job(kind, run_dir, args, report)` runs one here; the queue starts `python -m engine.service.jobs KIND
RUN_DIR [--OPTION VALUE ...]` (`process.job_argv`), which builds the same spec and reports to its log.
"""
from engine.service.job_specs import ALIASES, KINDS, check_args, make_spec
from engine.service.jobs.kinds import JOBS, JobType, Outcome, job_type, run_job
from engine.service.jobs.process import (
    job_argv, log_path, main, progress_path, read_progress, read_result, result_path, warm_argv,
)
from engine.service.jobs.report import JobCancelled, LocalReport, ProcessReport, Report

__all__ = ["ALIASES", "KINDS", "check_args", "make_spec", "JOBS", "JobType", "Outcome", "job_type", "run_job",
           "job_argv", "log_path", "main", "progress_path", "read_progress", "read_result", "result_path", "warm_argv",
           "JobCancelled", "LocalReport", "ProcessReport", "Report"]
