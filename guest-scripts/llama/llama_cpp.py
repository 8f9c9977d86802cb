#!/usr/bin/env python3
"""The same tiny LLaMA with Debian's llama.cpp: a second, C++ data point.

  cargo xtask run debian-sid-llama -- python3 /mnt/scripts/llama/llama_cpp.py
  cargo xtask run debian-sid-llama -- python3 /mnt/scripts/llama/llama_cpp.py --size small --tokens 64 --json

Makes the model llama_torch.py makes (same --size and --seed, tiny_llama.py),
exports it to an F32 GGUF file with the `gguf` writer, and runs
`llama-completion` greedily (temperature 0, top-k 1, EOS ignored, as
llama_torch.py decodes). `--gguf FILE` runs an existing GGUF file instead.
Prints prefill and decode tokens/s from llama.cpp's own timings and the
generated text; --json prints one JSON object, with the token ids the text
maps back to under the character tokenizer.
"""

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_llama  # noqa: E402

BINARY = "llama-completion"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(tiny_llama.SIZES), default="tiny", help="shape of the generated model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated weights")
    parser.add_argument("--gguf", metavar="FILE", help="run this GGUF model instead of the generated one")
    parser.add_argument("--prompt", default=tiny_llama.PROMPT)
    parser.add_argument("--tokens", type=int, default=32, help="tokens to generate")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (default: all CPUs)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    return parser.parse_args()


def timing(stderr, label):
    """(ms, count) from llama.cpp's perf lines, e.g.
    `prompt eval time =  12.34 ms /  8 tokens (...)` or `eval time = ... / 31 runs`."""
    m = re.search(rf"(?<!prompt ){label} time =\s*([\d.]+) ms /\s*(\d+) (?:tokens|runs)", stderr)
    return (float(m.group(1)), int(m.group(2))) if m else (None, None)


def main():
    args = parse_args()
    binary = shutil.which(BINARY)
    if not binary:
        raise SystemExit(f"llama_cpp: {BINARY} is not installed; use an image with llama.cpp-tools (debian-sid-llama)")
    threads = args.threads or os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="tiny-llama-") as scratch:
        tokenizer = None
        if args.gguf:
            path = args.gguf
        else:
            tiny_llama.make_model(scratch, args.size, args.seed)
            path = os.path.join(scratch, "model.gguf")
            t = time.perf_counter()
            tiny_llama.export_gguf(scratch, path)
            export_secs = time.perf_counter() - t
            tokenizer = tiny_llama.CharTokenizer.load(scratch)
        argv = [binary, "-m", path, "-p", args.prompt, "-n", str(args.tokens), "-c", "256", "-t", str(threads),
                "--temp", "0", "--top-k", "1", "--seed", str(args.seed), "--ignore-eos", "-no-cnv",
                "--no-display-prompt", "--no-warmup"]
        t = time.perf_counter()
        run = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-4000:])
        raise SystemExit(f"llama_cpp: {' '.join(argv)} exited with {run.returncode}")
    text = run.stdout.rstrip("\n")
    prefill_ms, prompt_tokens = timing(run.stderr, "prompt eval")
    decode_ms, decode_runs = timing(run.stderr, "eval")
    if prefill_ms is None or decode_ms is None:
        sys.stderr.write(run.stderr[-4000:])
        raise SystemExit("llama_cpp: no timings in llama.cpp's output (its format changed?)")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stderr.strip().splitlines()
    results = {
        "engine": "llama.cpp",
        "llama_cpp": next((l for l in version if l.startswith("version")), "unknown"),
        "threads": threads,
        "model": "gguf " + args.gguf if args.gguf else f"generated {args.size}, seed {args.seed}",
        "export_secs": None if args.gguf else round(export_secs, 2),
        "prompt_tokens": prompt_tokens,
        "generated_tokens": len(tokenizer.encode(text, bos=False)) if tokenizer else None,
        "token_ids": tokenizer.encode(text, bos=False) if tokenizer else None,
        "text": text,
        "prefill_secs": round(prefill_ms / 1000, 4),
        "prefill_tokens_per_s": round(prompt_tokens / (prefill_ms / 1000), 2) if prefill_ms else None,
        "decode_secs": round(decode_ms / 1000, 4),
        "decode_tokens_per_s": round(decode_runs / (decode_ms / 1000), 2) if decode_ms else None,
        "ms_per_token": round(decode_ms / max(1, decode_runs), 2),
        "wall_secs": round(wall, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    if args.json:
        print(json.dumps(results))
    else:
        print(f"model: {results['model']}; {results['llama_cpp']}, {threads} threads")
        print(f"generated: {text!r}")
        if tokenizer:
            print(f"token ids: {' '.join(map(str, results['token_ids']))}")
        print(f"prefill: {results['prefill_tokens_per_s']} tokens/s ({prefill_ms:.0f} ms, {prompt_tokens} tokens); "
              f"decode: {results['decode_tokens_per_s']} tokens/s ({results['ms_per_token']} ms/token); "
              f"peak RSS {results['peak_rss_mib']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
