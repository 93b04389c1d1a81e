"""spark-submit entry point: refresh the gold tables from silver. See `python jobs/gold.py --help`."""

import sys

from lakehouse.jobs import main

if __name__ == "__main__":
    sys.exit(main("gold", sys.argv[1:]))
