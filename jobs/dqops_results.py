"""spark-submit entry point: DQOps's latest check results into ops.dqops_checks. See `--help`."""

import sys

from lakehouse.jobs import DQOPS_RESULTS, main

if __name__ == "__main__":
    sys.exit(main(DQOPS_RESULTS, sys.argv[1:]))
