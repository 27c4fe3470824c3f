"""Peak memory of a local run over many darks: flat from 200 to 2,000 darks?

Usage::

    .venv/bin/python benchmarks/bench_memory.py                 # 200 and 2,000 full-frame darks
    .venv/bin/python benchmarks/bench_memory.py --n 200 --shape 256

The driver, the cheap dark copies and the /proc sampler are
:mod:`hstcr_common.pipeline.soak` (shared with the soak test).
"""

from hstcr_common.pipeline.soak import main

if __name__ == "__main__":
    main()
