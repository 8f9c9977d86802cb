#!/usr/bin/env python3
"""Builds a small C++ extension against the guest's torch and checks it.

`torch.utils.cpp_extension.load_inline` compiles it with the guest's g++ (or
$CXX) and ninja, links it against libtorch and imports it; the op's result
must equal the same computation in Python. Prints one line per step and exits
0 only if the answer is right.
"""

import os
import sys
import tempfile
import time

import torch
from torch.utils import cpp_extension

SOURCE = r"""
#include <torch/extension.h>

// x * scale + bias, element-wise, written out so the C++ side really computes.
torch::Tensor scaled_add(torch::Tensor x, double scale, double bias) {
    auto out = torch::empty_like(x);
    auto in_a = x.contiguous().data_ptr<float>();
    auto out_a = out.data_ptr<float>();
    for (int64_t i = 0; i < x.numel(); ++i) out_a[i] = static_cast<float>(in_a[i] * scale + bias);
    return out;
}
"""


def main():
    build_dir = tempfile.mkdtemp(prefix="acalsim-ext-")
    started = time.perf_counter()
    ext = cpp_extension.load_inline(
        name="acalsim_ext",
        cpp_sources=[SOURCE],
        functions=["scaled_add"],
        build_directory=build_dir,
        extra_cflags=["-O1"],
        verbose=bool(os.environ.get("VERBOSE")),
    )
    print(f"built acalsim_ext with {os.environ.get('CXX', 'c++')} in {time.perf_counter() - started:.1f} s")
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    got = ext.scaled_add(x, 2.5, -1.0)
    want = x * 2.5 - 1.0
    ok = torch.equal(got, want)
    print(f"scaled_add(arange(12), 2.5, -1) = {got.flatten().tolist()}")
    print("cpp extension check: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
