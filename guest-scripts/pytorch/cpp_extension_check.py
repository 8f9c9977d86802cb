#!/usr/bin/env python3
"""Builds a small C++ operator against the guest's torch and checks it.

`torch.utils.cpp_extension.load` compiles it with the guest's g++ (or $CXX)
and ninja and links it against libtorch; the library registers the op with
`TORCH_LIBRARY`, so it is loaded as `torch.ops.acalsim.scaled_add` without
Python bindings. Only `torch/library.h` is included (the dispatcher and the
Tensor API), not `torch/extension.h`, which adds the whole C++ frontend and
pybind11 and takes several times longer to compile under emulation. The op's
result must equal the same computation in Python. Prints one line per step
and exits 0 only if the answer is right.
"""

import os
import sys
import tempfile
import time

import torch
from torch.utils import cpp_extension

SOURCE = r"""
#include <torch/library.h>

// x * scale + bias, element-wise, written out so the C++ side really computes.
static at::Tensor scaled_add(const at::Tensor& x, double scale, double bias) {
    at::Tensor in = x.contiguous();
    at::Tensor out = in.clone();
    const float* a = in.data_ptr<float>();
    float* o = out.data_ptr<float>();
    for (int64_t i = 0; i < in.numel(); ++i) o[i] = static_cast<float>(a[i] * scale + bias);
    return out;
}

TORCH_LIBRARY(acalsim, m) {
    m.def("scaled_add", &scaled_add);
}
"""


def main():
    build_dir = tempfile.mkdtemp(prefix="acalsim-ext-")
    source = os.path.join(build_dir, "scaled_add.cpp")
    with open(source, "w") as f:
        f.write(SOURCE)
    started = time.perf_counter()
    library = cpp_extension.load(
        name="acalsim_ext",
        sources=[source],
        build_directory=build_dir,
        extra_cflags=["-O1"],
        is_python_module=False,
        verbose=bool(os.environ.get("VERBOSE")),
    )
    print(f"built {os.path.basename(library)} with {os.environ.get('CXX', 'c++')} "
          f"in {time.perf_counter() - started:.1f} s: torch.ops.acalsim.scaled_add")
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    got = torch.ops.acalsim.scaled_add(x, 2.5, -1.0)
    want = x * 2.5 - 1.0
    ok = torch.equal(got, want)
    print(f"scaled_add(arange(12), 2.5, -1) = {got.flatten().tolist()}")
    print("cpp extension check: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
