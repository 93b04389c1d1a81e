"""spark-submit entry point: apply bronze batches to silver. See `python jobs/silver.py --help`."""

import sys

from lakehouse.jobs import main

if __name__ == "__main__":
    sys.exit(main("silver", sys.argv[1:]))
