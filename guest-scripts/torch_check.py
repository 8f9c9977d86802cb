#!/usr/bin/env python3
"""PyTorch check for the guest: versions, BLAS, a checked matmul and MLP step.

Run it in a guest with `cargo xtask run -- python3 /mnt/scripts/torch_check.py`.
Every result is checked against an independent computation (numpy for the
matmul, finite differences for the gradient); the exit status is 0 only if all
checks pass. `--size N` sets the matmul size, `--json` prints one JSON object.
"""

import argparse
import json
import os
import sys
import time


def blas_backend(torch):
    """Which BLAS torch really calls: Debian's torch links the generic
    libblas.so.3, so the answer is whatever that alternative points to."""
    try:
        with open("/proc/self/maps") as maps:
            libs = {line.split()[-1] for line in maps if ".so" in line}
    except OSError:
        libs = set()
    for name in ("openblas", "blis", "mkl", "atlas"):
        if any(name in os.path.basename(lib) for lib in libs):
            return name
    if any("libblas.so" in lib for lib in libs):
        return os.path.realpath(next(lib for lib in libs if "libblas.so" in lib))
    return torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0] or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="matmul size N (N x N fp32)")
    parser.add_argument("--repeats", type=int, default=3, help="timed matmul repeats (best is reported)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()

    t0 = time.perf_counter()
    import numpy as np
    import torch
    import_secs = time.perf_counter() - t0
    torch.manual_seed(0)
    failures = []
    results = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "blas": blas_backend(torch),
        "import_secs": round(import_secs, 2),
    }

    # Matmul: timed, then checked against numpy in float64.
    n = args.size
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    c = torch.mm(a, b)  # warm-up: first call loads and initialises BLAS
    best = float("inf")
    for _ in range(max(1, args.repeats)):
        t = time.perf_counter()
        c = torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    reference = a.double().numpy() @ b.double().numpy()
    err = float(np.max(np.abs(c.double().numpy() - reference)))
    tolerance = 1e-3 * n ** 0.5
    if not err < tolerance:
        failures.append(f"matmul differs from numpy by {err:.3g} (tolerance {tolerance:.3g})")
    results["matmul"] = {
        "size": n,
        "secs": round(best, 4),
        "gflops": round(2 * n**3 / best / 1e9, 3),
        "max_abs_err": err,
        "checksum": round(float(c.sum()), 3),
    }

    # A tiny MLP: one forward/backward; autograd's gradient of one weight
    # must match a central finite difference computed in float64.
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4)).double()
    x = torch.randn(8, 16, dtype=torch.float64)
    target = torch.randn(8, 4, dtype=torch.float64)
    loss = torch.nn.functional.mse_loss(model(x), target)
    loss.backward()
    weight = model[0].weight
    analytic = float(weight.grad[3, 5])
    eps = 1e-6
    with torch.no_grad():
        weight[3, 5] += eps
        up = float(torch.nn.functional.mse_loss(model(x), target))
        weight[3, 5] -= 2 * eps
        down = float(torch.nn.functional.mse_loss(model(x), target))
        weight[3, 5] += eps
    numeric = (up - down) / (2 * eps)
    if not abs(analytic - numeric) < 1e-6 + 1e-4 * abs(numeric):
        failures.append(f"MLP gradient {analytic:.6g} differs from finite difference {numeric:.6g}")
    results["mlp"] = {"loss": round(float(loss.detach()), 6), "grad": analytic, "finite_difference": numeric}
    results["ok"] = not failures
    results["failures"] = failures

    if args.json:
        print(json.dumps(results))
    else:
        mm = results["matmul"]
        print(f"torch {results['torch']}, numpy {results['numpy']}, python {results['python']}, "
              f"BLAS {results['blas']}, {results['threads']} threads (import {results['import_secs']} s)")
        print(f"matmul {n}x{n} fp32: {mm['secs'] * 1000:.1f} ms, {mm['gflops']} GFLOP/s, "
              f"max |error| vs numpy {mm['max_abs_err']:.2g}, checksum {mm['checksum']}")
        print(f"MLP forward/backward: loss {results['mlp']['loss']}, gradient {analytic:.6g} "
              f"vs finite difference {numeric:.6g}")
        print("torch check: " + ("ok" if not failures else "FAILED: " + "; ".join(failures)))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
