"""spark-submit entry point: apply the records a rule quarantined again. See `python jobs/reprocess.py --help`."""

import sys

from lakehouse.jobs import REPROCESS, main

if __name__ == "__main__":
    sys.exit(main(REPROCESS, sys.argv[1:]))
