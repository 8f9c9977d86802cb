#!/usr/bin/env python3
"""Tiny LLaMA inference with PyTorch + transformers: prefill, then greedy decode.

  cargo xtask run debian-sid-llama -- python3 /mnt/scripts/llama/llama_torch.py
  cargo xtask run debian-sid-llama -- python3 /mnt/scripts/llama/llama_torch.py --size small --tokens 64 --json
  cargo xtask run debian-sid-llama -- python3 /mnt/scripts/llama/llama_torch.py --weights /mnt/share/my-llama

Without --weights the model is made locally from a seed (tiny_llama.py:
deterministic random weights, character tokenizer) and saved as a
safetensors checkpoint, which is then loaded exactly as a real one is with
--weights DIR (a local Hugging Face LLaMA directory: config.json,
*.safetensors, tokenizer files). Nothing is fetched from the network.
Prints prefill and decode tokens/s, latency per token and peak RSS; --json
prints one JSON object with the generated token ids as well.

With --sst (in a co-simulation: `cargo xtask cosim cosim -- python3
/mnt/scripts/llama/llama_torch.py --sst`) every attention and FFN block sends
one COMPUTE, its units from the block's FLOPs (sst_blocks.py says how), to the
SST side through /dev/sst0, and the simulated cycles per decoded token are
reported beside the wall-clock tokens/s.
"""

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
import tiny_llama  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(tiny_llama.SIZES), default="tiny", help="shape of the generated model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated weights")
    parser.add_argument("--weights", metavar="DIR", help="a local Hugging Face LLaMA checkpoint instead of generated weights")
    parser.add_argument("--model-dir", metavar="DIR", help="where to write the generated checkpoint (default: a temp dir)")
    parser.add_argument("--prompt", default=tiny_llama.PROMPT)
    parser.add_argument("--tokens", type=int, default=32, help="tokens to generate")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all CPUs)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--sst", nargs="?", const="/dev/sst0", metavar="DEVICE",
                        help="send a COMPUTE per attention/FFN block to the SST side (default device /dev/sst0)")
    parser.add_argument("--flops-per-unit", type=int, default=1024, help="FLOPs per COMPUTE unit (with --sst)")
    return parser.parse_args()


def load_tokenizer(model_dir):
    """(encode, decode) for the checkpoint: ours, or the checkpoint's own."""
    if os.path.exists(os.path.join(model_dir, "vocab.json")) and not os.path.exists(os.path.join(model_dir, "tokenizer.json")):
        tok = tiny_llama.CharTokenizer.load(model_dir)
        return tok.encode, tok.decode
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    return (lambda text: tok(text)["input_ids"]), (lambda ids: tok.decode(ids, skip_special_tokens=True))


def generate(model, prompt_ids, n_tokens, eos_id, cosim=None):
    """Prefill the prompt, then greedy-decode n_tokens with the KV cache.
    EOS is masked, as llama.cpp's --ignore-eos does, so both produce n_tokens."""
    import torch

    ids = torch.tensor([prompt_ids])
    out_ids, margins, steps = [], [], []
    if cosim:
        cosim.context = len(prompt_ids)
    with torch.inference_mode():
        t = time.perf_counter()
        out = model(ids, use_cache=True)
        prefill = time.perf_counter() - t
        past = out.past_key_values
        logits = out.logits[0, -1]
        decode_start = time.perf_counter()
        for i in range(n_tokens):
            if eos_id is not None:
                logits[eos_id] = -math.inf
            top2 = torch.topk(logits, 2)
            next_id = int(top2.indices[0])
            out_ids.append(next_id)
            margins.append(float(top2.values[0] - top2.values[1]))
            if not all(math.isfinite(float(x)) for x in top2.values):
                raise SystemExit(f"llama_torch: non-finite logits at step {i}")
            if i + 1 == n_tokens:
                break
            if cosim:
                cosim.phase, cosim.context = "decode", len(prompt_ids) + i + 1
            t = time.perf_counter()
            out = model(torch.tensor([[next_id]]), past_key_values=past, use_cache=True)
            steps.append(time.perf_counter() - t)
            past = out.past_key_values
            logits = out.logits[0, -1]
        decode = time.perf_counter() - decode_start
    return out_ids, margins, prefill, decode, steps


def main():
    args = parse_args()
    t0 = time.perf_counter()
    import torch
    from transformers import LlamaForCausalLM

    import_secs = time.perf_counter() - t0
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    with tempfile.TemporaryDirectory(prefix="tiny-llama-") as scratch:
        model_dir = args.weights or args.model_dir or scratch
        if not args.weights:
            tiny_llama.make_model(model_dir, args.size, args.seed)
        t = time.perf_counter()
        model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32, local_files_only=True)
        model.eval()
        load_secs = time.perf_counter() - t
        encode, decode_text = load_tokenizer(model_dir)
        prompt_ids = encode(args.prompt)
        eos = model.config.eos_token_id
        eos = eos[0] if isinstance(eos, list) else eos
        cosim = None
        if args.sst:
            import sst_blocks

            cosim = sst_blocks.BlockCosim(model, args.sst, args.flops_per_unit)
        ids, margins, prefill, decode, steps = generate(model, prompt_ids, args.tokens, eos, cosim)

    n_decode = max(1, len(ids) - 1)
    results = {
        "engine": "torch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model": "weights " + args.weights if args.weights else f"generated {args.size}, seed {args.seed}",
        "parameters": sum(p.numel() for p in model.parameters()),
        "import_secs": round(import_secs, 2),
        "load_secs": round(load_secs, 2),
        "prompt_tokens": len(prompt_ids),
        "prompt_ids": prompt_ids,
        "generated_tokens": len(ids),
        "token_ids": ids,
        "text": decode_text(ids),
        "min_top2_margin": round(min(margins), 4) if margins else None,
        "prefill_secs": round(prefill, 4),
        "prefill_tokens_per_s": round(len(prompt_ids) / prefill, 2),
        "decode_secs": round(decode, 4),
        "decode_tokens_per_s": round(n_decode / decode, 2),
        "ms_per_token": round(1000 * decode / n_decode, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if cosim:
        results["sst"] = cosim.summary(n_decode)
        cosim.close()
    if args.json:
        print(json.dumps(results))
    else:
        print(f"model: {results['model']}, {results['parameters']:,} parameters; torch {results['torch']}, "
              f"{results['threads']} threads (import {results['import_secs']} s, load {results['load_secs']} s)")
        print(f"prompt: {args.prompt!r} ({len(prompt_ids)} tokens)")
        print(f"generated {len(ids)} tokens: {results['text']!r}")
        print(f"token ids: {' '.join(map(str, ids))}")
        print(f"prefill: {results['prefill_tokens_per_s']} tokens/s ({prefill * 1000:.0f} ms); "
              f"decode: {results['decode_tokens_per_s']} tokens/s ({results['ms_per_token']} ms/token); "
              f"peak RSS {results['peak_rss_mib']} MiB")
        if cosim:
            c = results["sst"]
            print(f"sst: {c['requests']} COMPUTEs (attention and FFN of {model.config.num_hidden_layers} layers per step, "
                  f"{c['flops_per_unit']} FLOPs/unit); simulated prefill {c['prefill_cycles']:,} cycles, "
                  f"decode {c['decode_cycles_per_token']:,} cycles/token beside {results['decode_tokens_per_s']} tokens/s "
                  f"wall clock ({c['round_trip_secs']} s waiting on SST)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
