"""`python -m engine.service.jobs KIND RUN_DIR [--OPTION VALUE ...]`: one job as its own process."""
import sys

from engine.service.jobs.process import main

sys.exit(main())
