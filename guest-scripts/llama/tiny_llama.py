"""A LLaMA-architecture model small enough for an emulated RISC-V guest.

Shared by llama_torch.py and llama_cpp.py, so both run the very same model:
- `make_model(dir, size, seed)`: deterministic random weights (numpy, seeded)
  saved as a Hugging Face checkpoint: config.json + model.safetensors, plus
  vocab.json for the character-level tokenizer below. Nothing is downloaded.
- `CharTokenizer`: one token per printable ASCII character, with the
  SentencePiece conventions llama.cpp's "llama" tokenizer understands
  (space is "▁"; <unk>, <s>, </s> are ids 0, 1, 2).
- `export_gguf(dir, path)`: the same checkpoint as an F32 GGUF file for
  llama.cpp, with the q/k permutation llama.cpp's RoPE layout needs.
"""

import json
import os

import numpy as np

# Model shapes. `tiny` is for tests; `small` is TinyStories-15M's shape
# (dim 288, 6 layers, 6 heads, ffn 768) with the character vocabulary.
SIZES = {
    "tiny": {"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4},
    "small": {"hidden_size": 288, "intermediate_size": 768, "num_hidden_layers": 6, "num_attention_heads": 6},
}
SPECIALS = ["<unk>", "<s>", "</s>"]
UNK, BOS, EOS = 0, 1, 2
SPACE = "\u2581"
PROMPT = "Once upon a time, in a small town by the sea,"


class CharTokenizer:
    def __init__(self, pieces):
        self.pieces = pieces
        self.ids = {p: i for i, p in enumerate(pieces)}

    @classmethod
    def default(cls):
        return cls(SPECIALS + [SPACE if c == " " else c for c in map(chr, range(0x20, 0x7F))])

    @classmethod
    def load(cls, model_dir):
        with open(os.path.join(model_dir, "vocab.json")) as f:
            return cls(json.load(f))

    def encode(self, text, bos=True):
        ids = [self.ids.get(SPACE if c == " " else c, UNK) for c in text]
        return [BOS] + ids if bos else ids

    def decode(self, ids):
        return "".join(self.pieces[i] for i in ids if i >= len(SPECIALS)).replace(SPACE, " ")


def config_for(size, vocab_size):
    shape = SIZES[size]
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "num_key_value_heads": shape["num_attention_heads"],
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        **shape,
    }


def random_weights(config, seed):
    """Weights scaled so activations stay O(1) and the logits are spread
    (std ~4): greedy decoding then has clear winners, so torch and llama.cpp
    pick the same token despite different float summation orders."""
    rng = np.random.default_rng(seed)
    d, f, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]

    def linear(out_dim, in_dim, gain=1.0):
        return (rng.standard_normal((out_dim, in_dim)) * gain / np.sqrt(in_dim)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((v, d)).astype(np.float32)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = np.ones(d, np.float32)
        w[p + "post_attention_layernorm.weight"] = np.ones(d, np.float32)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            w[p + f"self_attn.{name}.weight"] = linear(d, d)
        w[p + "mlp.gate_proj.weight"] = linear(f, d)
        w[p + "mlp.up_proj.weight"] = linear(f, d)
        w[p + "mlp.down_proj.weight"] = linear(d, f)
    w["model.norm.weight"] = np.ones(d, np.float32)
    head = linear(v, d, gain=4.0)
    # <unk> and <s> never win (logit 0 against the max of ~95 draws of N(0, 16)).
    head[[UNK, BOS]] = 0.0
    w["lm_head.weight"] = head
    return w


def make_model(model_dir, size="tiny", seed=0):
    """Writes the checkpoint into model_dir (created) and returns its config."""
    from safetensors.numpy import save_file

    tokenizer = CharTokenizer.default()
    config = config_for(size, len(tokenizer.pieces))
    os.makedirs(model_dir, exist_ok=True)
    save_file(random_weights(config, seed), os.path.join(model_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(model_dir, "vocab.json"), "w") as f:
        json.dump(tokenizer.pieces, f)
    return config


def _permute(w, n_head):
    """Hugging Face's rotate-half RoPE rows -> llama.cpp's interleaved pairs
    (what llama.cpp's convert_hf_to_gguf.py does for q_proj and k_proj)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def export_gguf(model_dir, path):
    """The checkpoint in model_dir as an F32 GGUF file for llama.cpp."""
    import gguf
    from safetensors.numpy import load_file

    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    tokenizer = CharTokenizer.load(model_dir)
    w = load_file(os.path.join(model_dir, "model.safetensors"))
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("acalsim-tiny-llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_rope_dimension_count(config["hidden_size"] // heads)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokenizer.pieces)
    writer.add_token_scores([0.0] * len(tokenizer.pieces))
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    writer.add_token_types(types + [gguf.TokenType.NORMAL] * (len(tokenizer.pieces) - len(SPECIALS)))
    writer.add_unk_token_id(UNK)
    writer.add_bos_token_id(BOS)
    writer.add_eos_token_id(EOS)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)

    writer.add_tensor("token_embd.weight", w["model.embed_tokens.weight"])
    for i in range(config["num_hidden_layers"]):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", w[p + "input_layernorm.weight"])
        writer.add_tensor(b + "attn_q.weight", _permute(w[p + "self_attn.q_proj.weight"], heads))
        writer.add_tensor(b + "attn_k.weight", _permute(w[p + "self_attn.k_proj.weight"], kv_heads))
        writer.add_tensor(b + "attn_v.weight", w[p + "self_attn.v_proj.weight"])
        writer.add_tensor(b + "attn_output.weight", w[p + "self_attn.o_proj.weight"])
        writer.add_tensor(b + "ffn_norm.weight", w[p + "post_attention_layernorm.weight"])
        writer.add_tensor(b + "ffn_gate.weight", w[p + "mlp.gate_proj.weight"])
        writer.add_tensor(b + "ffn_up.weight", w[p + "mlp.up_proj.weight"])
        writer.add_tensor(b + "ffn_down.weight", w[p + "mlp.down_proj.weight"])
    writer.add_tensor("output_norm.weight", w["model.norm.weight"])
    writer.add_tensor("output.weight", w["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
