"""Co-simulation of the LLaMA blocks: one COMPUTE per attention and FFN block.

llama_torch.py --sst hooks every decoder layer's self-attention and MLP; each
time one runs, its floating-point operations for the tokens it processed are
turned into compute units and sent to the SST side through /dev/sst0 (ACALSim's
device forwards COMPUTE over its socket; the SST side answers with simulated
cycles). How a block's FLOPs are counted, for T new tokens whose last one sits
at context length L (hidden size d, MLP size f, one multiply-add = 2 FLOPs):

  attention: q, k, v, o projections        4 * 2*T*d*d
             QK^T and the weighted sum of V 2 * 2*K*d, with K = T*(L-T) + T*(T+1)/2
                                            (the causal query-key pairs)
  FFN:       gate, up (d -> f), down (f -> d)  3 * 2*T*d*f

Norms, RoPE, softmax and SiLU are elementwise and left out (under 1% here).
units = ceil(FLOPs / flops_per_unit); the default 1024 FLOPs per unit is a
32x16 multiply-add tile, and ACALSim's component charges 100 cycles per unit.
"""

import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sst"))
import sst_protocol as sst  # noqa: E402

FLOPS_PER_UNIT = 1024


def attention_flops(tokens, context, hidden):
    pairs = tokens * (context - tokens) + tokens * (tokens + 1) // 2
    return 8 * tokens * hidden * hidden + 4 * pairs * hidden


def ffn_flops(tokens, hidden, intermediate):
    return 6 * tokens * hidden * intermediate


def units_of(flops, flops_per_unit=FLOPS_PER_UNIT):
    return max(1, math.ceil(flops / flops_per_unit))


class BlockCosim:
    """Sends one COMPUTE per block run; `context` is set by the caller before
    each forward pass (the context length once its tokens are in)."""

    def __init__(self, model, device, flops_per_unit=FLOPS_PER_UNIT):
        cfg = model.config
        self.hidden, self.intermediate = cfg.hidden_size, cfg.intermediate_size
        self.flops_per_unit = flops_per_unit
        self.dev = sst.Device(device)
        self.device = device
        self.context = 0
        self.phase = "prefill"
        self.requests = []  # (phase, layer, block, tokens, units, cycles)
        self.wait_secs = 0.0
        for i, layer in enumerate(model.model.layers):
            layer.self_attn.register_forward_hook(self._hook(i, "attention"), with_kwargs=True)
            layer.mlp.register_forward_hook(self._hook(i, "ffn"), with_kwargs=True)

    def _hook(self, layer, block):
        def hook(_module, args, kwargs, _output):
            hidden_states = args[0] if args else kwargs["hidden_states"]
            tokens = int(hidden_states.shape[1])
            if block == "attention":
                flops = attention_flops(tokens, self.context, self.hidden)
            else:
                flops = ffn_flops(tokens, self.hidden, self.intermediate)
            self._compute(layer, block, tokens, units_of(flops, self.flops_per_unit))
        return hook

    def _compute(self, layer, block, tokens, units):
        started = time.perf_counter()
        r = self.dev.request(sst.COMPUTE, sst.compute_payload(units), user_data=len(self.requests))
        self.wait_secs += time.perf_counter() - started
        cycles, _ = r.compute()
        if r.status != sst.OK or cycles == 0:
            raise SystemExit(f"sst: COMPUTE of layer {layer} {block} ({units} units) got {r.status_name}, "
                             f"cycles {cycles}: is the SST side running (cargo xtask cosim)?")
        self.requests.append((self.phase, layer, block, tokens, units, cycles))

    def summary(self, decode_tokens):
        cycles = {p: sum(r[5] for r in self.requests if r[0] == p) for p in ("prefill", "decode")}
        return {
            "device": self.device,
            "flops_per_unit": self.flops_per_unit,
            "requests": len(self.requests),
            "units": [r[4] for r in self.requests],
            "cycles": [r[5] for r in self.requests],
            "prefill_cycles": cycles["prefill"],
            "decode_cycles": cycles["decode"],
            "decode_cycles_per_token": round(cycles["decode"] / max(1, decode_tokens)),
            "round_trip_secs": round(self.wait_secs, 4),
        }

    def close(self):
        self.dev.close()
