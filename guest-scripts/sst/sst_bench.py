#!/usr/bin/env python3
"""Round trips through /dev/sst0: ECHO (answered inside QEMU) and COMPUTE (to the SST side).

    python3 /mnt/scripts/sst/sst_bench.py [--count 2000] [--json]

Sends --count ECHO requests with a full 4080-byte payload, which QEMU's
virtio-sst-device answers itself, then --count COMPUTE requests of 1 unit,
which it forwards over its socket to the SST side (`cargo xtask cosim`).
Every answer is checked (status OK; ECHO: the payload back; COMPUTE: cycles
above 0), so a figure is never of failed requests. For each kind it prints
round trips per second and the latency's min, median and p99 in ms, after
10 warm-up requests; --json prints them as one JSON object.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sst_protocol as sst  # noqa: E402

WARMUP = 10


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def measure(dev, kind, payload, count, check):
    for i in range(WARMUP):
        check(dev.request(kind, payload, user_data=i))
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        r = dev.request(kind, payload, user_data=i)
        latencies.append(time.perf_counter() - t)
        check(r)
    total = time.perf_counter() - started
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    return {
        "count": count,
        "round_trips_per_s": round(count / total, 1),
        "min_ms": round(ms[0], 4),
        "median_ms": round(percentile(ms, 0.5), 4),
        "p99_ms": round(percentile(ms, 0.99), 4),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="/dev/sst0")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    echo_payload = bytes((i * 7 + 3) % 256 for i in range(sst.MAX_DATA))

    def echo_ok(r):
        if r.status != sst.OK or r.payload != echo_payload:
            raise SystemExit(f"sst bench: ECHO got {r.status_name}, payload {'same' if r.payload == echo_payload else 'different'}")

    def compute_ok(r):
        cycles, _ = r.compute()
        if r.status != sst.OK or cycles == 0:
            raise SystemExit(f"sst bench: COMPUTE got {r.status_name}, cycles {cycles}: is the SST side running?")

    with sst.Device(args.device) as dev:
        results = {
            "echo": measure(dev, sst.ECHO, echo_payload, args.count, echo_ok),
            "compute": measure(dev, sst.COMPUTE, sst.compute_payload(1), args.count, compute_ok),
            "cpus": os.cpu_count(),
        }
    if args.json:
        print(json.dumps(results))
    else:
        for kind in ("echo", "compute"):
            r = results[kind]
            print(f"{kind.upper()}: {r['round_trips_per_s']} round trips/s, latency ms min {r['min_ms']} "
                  f"median {r['median_ms']} p99 {r['p99_ms']} ({r['count']} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
