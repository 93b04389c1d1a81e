"""spark-submit entry point: one table-maintenance step (optimize, vacuum, analyze).
See `python jobs/maintenance.py --help`."""

import sys

from lakehouse.jobs import MAINTENANCE, main

if __name__ == "__main__":
    sys.exit(main(MAINTENANCE, sys.argv[1:]))
