#!/usr/bin/env python3
"""Talks to ACALSim's device through /dev/sst0 and prints each answer.

    python3 /mnt/scripts/sst/sst_check.py [--device /dev/sst0] [--units 1000]

NOOP, ECHO and GET_INFO are answered by QEMU's virtio-sst-device itself;
COMPUTE is forwarded to the SST side over the device's socket (with nothing
listening there the device answers NO_DEVICE). Exits 0 when NOOP, ECHO and
GET_INFO are right, whatever COMPUTE says; its status is printed.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sst_protocol as sst  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="/dev/sst0")
    ap.add_argument("--units", type=int, default=1000, help="COMPUTE units")
    args = ap.parse_args()

    failures = []
    with sst.Device(args.device) as dev:
        r = dev.request(sst.NOOP, user_data=11)
        print(f"NOOP: {r.status_name} user_data={r.user_data}")
        if r.status != sst.OK or r.user_data != 11:
            failures.append("NOOP")

        payload = bytes((i * 7 + 3) % 256 for i in range(sst.MAX_DATA))
        r = dev.request(sst.ECHO, payload, user_data=22)
        same = r.payload == payload
        print(f"ECHO: {r.status_name} {len(r.payload)} bytes back, "
              f"{'identical' if same else 'DIFFERENT'}")
        if r.status != sst.OK or not same:
            failures.append("ECHO")

        r = dev.request(sst.GET_INFO)
        version, caps, max_units, memory = r.info()
        print(f"GET_INFO: {r.status_name} version=0x{version:08x} capabilities=0x{caps:x} "
              f"max_compute_units={max_units} memory_size={memory}")
        if r.status != sst.OK or version != sst.PROTOCOL_VERSION:
            failures.append("GET_INFO")

        started = time.monotonic()
        r = dev.request(sst.COMPUTE, sst.compute_payload(args.units))
        secs = time.monotonic() - started
        cycles, stamp = r.compute()
        print(f"COMPUTE: {r.status_name} (status {r.status}) units={args.units} "
              f"cycles={cycles} timestamp={stamp} result={r.result} in {secs:.3f}s")

        # Whatever COMPUTE got, the device must still answer.
        r = dev.request(sst.NOOP, user_data=33)
        print(f"NOOP after COMPUTE: {r.status_name} user_data={r.user_data}")
        if r.status != sst.OK or r.user_data != 33:
            failures.append("NOOP after COMPUTE")

    if failures:
        print("sst check: FAILED: " + ", ".join(failures))
        return 1
    print("sst check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
