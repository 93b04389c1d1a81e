"""spark-submit entry point: bronze -> silver -> gold -> publish in one driver (what `lakehouse run
--profile cluster` submits). See `python jobs/pipeline.py --help`."""

import sys

from lakehouse.jobs import ALL, main

if __name__ == "__main__":
    sys.exit(main(ALL, sys.argv[1:]))
