"""Run the benchmark without the CLI: `python benchmarks/bench.py [--quick] [--device cpu|cuda|auto] [--out F]`.

The same as `hyperinterp bench`; see src/hyperinterp/experiments/bench.py and docs/performance.md."""

import sys

from hyperinterp.experiments.bench import main

if __name__ == "__main__":
    sys.exit(main())
