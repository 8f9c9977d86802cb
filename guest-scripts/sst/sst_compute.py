#!/usr/bin/env python3
"""Sends COMPUTE requests through /dev/sst0 to the SST side and checks every answer.

    python3 /mnt/scripts/sst/sst_compute.py [--count 1000] [--cycles-per-unit 100] [--json]

Request i (from 0) asks for units(i) = 1 + (i * 7919) % 65536 compute units and
carries user_data = i. Each answer must be OK, echo user_data, carry the
request_id the driver gave (one more than the previous answer's), and have
cycles = result = units × --cycles-per-unit; with --peer-clock, also the
reference peer's timestamp (the running sum of cycles). Prints the first and
last request_id, the total cycles and the round-trip latency (min, median,
p99), then `sst compute: ok`; exits 1 on the first wrong answer, printing it.
With --json the last line is also the results as one JSON object (what
`cargo xtask sweep` reads): requests, total_cycles, first/last request_id and
the latencies in ms.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sst_protocol as sst  # noqa: E402


def units(i):
    return 1 + (i * 7919) % 65536


def check(i, r, cycles_per_unit, previous_id, clock):
    """The first thing wrong with answer `r` to request `i`, or None."""
    cycles, stamp = r.compute()
    want = units(i) * cycles_per_unit
    if r.status != sst.OK:
        return f"status {r.status_name} (status {r.status})"
    if r.user_data != i:
        return f"user_data {r.user_data}, expected {i}"
    if previous_id is not None and r.request_id != previous_id + 1:
        return f"request_id {r.request_id}, expected {previous_id + 1}"
    if cycles != want or r.result != want:
        return f"cycles {cycles} result {r.result}, expected {want} ({units(i)} units)"
    if clock is not None and stamp != clock + want:
        return f"timestamp {stamp}, expected the peer's clock {clock + want}"
    return None


def percentile(sorted_secs, fraction):
    return sorted_secs[min(len(sorted_secs) - 1, int(fraction * len(sorted_secs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="/dev/sst0")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--cycles-per-unit", type=int, default=100)
    ap.add_argument("--peer-clock", action="store_true",
                    help="check timestamps against the reference peer's clock")
    ap.add_argument("--json", action="store_true",
                    help="end with the results as one JSON object on the last line")
    args = ap.parse_args()

    latencies, first_id, previous_id = [], None, None
    clock = 0 if args.peer_clock else None
    total = 0
    with sst.Device(args.device) as dev:
        for i in range(args.count):
            started = time.monotonic()
            r = dev.request(sst.COMPUTE, sst.compute_payload(units(i)), user_data=i)
            latencies.append(time.monotonic() - started)
            wrong = check(i, r, args.cycles_per_unit, previous_id, clock)
            if wrong:
                print(f"COMPUTE #{i}: {wrong}", flush=True)
                print("sst compute: FAILED")
                return 1
            cycles = r.result
            total += cycles
            if clock is not None:
                clock += cycles
            first_id = r.request_id if first_id is None else first_id
            previous_id = r.request_id
    latencies.sort()
    ms = [1000 * percentile(latencies, f) for f in (0.0, 0.5, 0.99)]
    print(f"COMPUTE: {args.count} answers right, request_id {first_id}..{previous_id}, "
          f"total cycles {total}")
    print(f"latency ms: min {ms[0]:.3f} median {ms[1]:.3f} p99 {ms[2]:.3f}")
    print("sst compute: ok")
    if args.json:
        print(json.dumps({
            "requests": args.count,
            "total_cycles": total,
            "first_request_id": first_id,
            "last_request_id": previous_id,
            "latency_ms_min": round(ms[0], 3),
            "latency_ms_median": round(ms[1], 3),
            "latency_ms_p99": round(ms[2], 3),
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
