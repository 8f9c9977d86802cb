#!/usr/bin/env python3
"""fp32 GEMM benchmark for the guest: torch.mm GFLOP/s at several sizes.

  cargo xtask run -- python3 /mnt/scripts/gemm_bench.py --sizes 128,256,512 --repeats 5
  cargo xtask run --smp 1 -- python3 /mnt/scripts/gemm_bench.py --json

Each size is warmed up once, timed --repeats times (min, median, max
reported) and its result checked against numpy in float64; the exit status is
0 only if every check passes. Threads default to torch's (one per CPU).
`import torch` is timed too. `cargo xtask bench torch` runs this at smp 1 and 2.
"""

import argparse
import json
import statistics
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512", help="comma-separated N for N x N matrices")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: one per CPU)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        parser.error(f"--sizes: expected comma-separated integers, got {args.sizes!r}")

    t0 = time.perf_counter()
    import numpy as np
    import torch
    import_secs = time.perf_counter() - t0
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "import_secs": round(import_secs, 2), "gemm": []}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        c = torch.mm(a, b)
        secs = []
        for _ in range(max(1, args.repeats)):
            t = time.perf_counter()
            c = torch.mm(a, b)
            secs.append(time.perf_counter() - t)
        err = float(np.max(np.abs(c.double().numpy() - a.double().numpy() @ b.double().numpy())))
        gflops = sorted(2 * n**3 / s / 1e9 for s in secs)
        results["gemm"].append({
            "size": n,
            "gflops": [round(g, 3) for g in gflops],
            "median_gflops": round(statistics.median(gflops), 3),
            "max_abs_err": err,
            "ok": err < 1e-3 * n**0.5,
        })
    results["ok"] = all(r["ok"] for r in results["gemm"])
    if args.json:
        print(json.dumps(results))
    else:
        print(f"torch {results['torch']}, {results['threads']} threads, import {results['import_secs']} s")
        for r in results["gemm"]:
            print(f"GEMM {r['size']}x{r['size']} fp32: median {r['median_gflops']} GFLOP/s "
                  f"(min {r['gflops'][0]}, max {r['gflops'][-1]}), max |error| vs numpy {r['max_abs_err']:.2g}"
                  + ("" if r["ok"] else "  FAILED"))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
