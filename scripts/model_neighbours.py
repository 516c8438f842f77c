#!/usr/bin/env python3
"""Writes assets/model/neighbours.txt: for each noun of assets/wordnet/nouns.txt, the English
words that the shipped all-MiniLM-L6-v2 (assets/model/minilm-l6-int8.bin) places nearest to it,
each word embedded alone (the model's mean-pooled sentence vector of that one word).

    pip install numpy safetensors
    python3 scripts/model_neighbours.py assets/model assets/wordnet/nouns.txt \
        assets/words/english-words.txt > assets/model/neighbours.txt

Neighbours are drawn from the words of the English list that WordNet knows (any part of
speech), leaving out the noun's own inflections (same Snowball stem, found by the engine
anyway). One line per noun that has at least one neighbour at cosine 0.70 or more, sorted in
byte order for binary search:

    pensioner retiree:74 pension:69 ...

with the cosine in hundredths, best first, at most six. The engine reads a noun of a question
as present in a text when the text uses one of these words at or above a cosine it is
calibrated for (docs/retrieval.md).
"""

import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quantize_minilm import forward, wordpiece  # noqa: E402

MIN_COSINE = 0.70
MAX_NEIGHBOURS = 6
DIMS = 384
VOCAB_ROWS = 30522


def load_int8(path):
    """The int8 weight file, dequantised into the names `forward` expects."""
    data = open(path, "rb").read()
    at = 10
    assert data[:at] == b"SBMINILM1\0"

    def f32(n):
        nonlocal at
        out = np.frombuffer(data, "<f4", n, at).astype(np.float32)
        at += 4 * n
        return out

    def i8(n):
        nonlocal at
        out = np.frombuffer(data, np.int8, n, at).astype(np.float32)
        at += n
        return out

    def matrix(rows, cols, bias=True):
        scale = f32(rows)
        b = f32(rows) if bias else None
        return i8(rows * cols).reshape(rows, cols) * scale[:, None], b

    W = {}
    W["embeddings.word_embeddings.weight"], _ = matrix(VOCAB_ROWS, DIMS, bias=False)
    W["embeddings.position_embeddings.weight"] = f32(256 * DIMS).reshape(256, DIMS)
    W["embeddings.token_type_embeddings.weight"] = f32(DIMS).reshape(1, DIMS)
    W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"] = f32(DIMS), f32(DIMS)
    for i in range(6):
        p = f"encoder.layer.{i}."
        for name in ["attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"]:
            W[p + name + ".weight"], W[p + name + ".bias"] = matrix(DIMS, DIMS)
        W[p + "attention.output.LayerNorm.weight"] = f32(DIMS)
        W[p + "attention.output.LayerNorm.bias"] = f32(DIMS)
        W[p + "intermediate.dense.weight"], W[p + "intermediate.dense.bias"] = matrix(1536, DIMS)
        W[p + "output.dense.weight"], W[p + "output.dense.bias"] = matrix(DIMS, 1536)
        W[p + "output.LayerNorm.weight"] = f32(DIMS)
        W[p + "output.LayerNorm.bias"] = f32(DIMS)
    assert at == len(data)
    return W


def embed(W, vocab, words):
    """Unit sentence vectors of single words, batched by token count."""
    ids = [[vocab["[CLS]"]] + wordpiece(vocab, w) + [vocab["[SEP]"]] for w in words]
    out = np.zeros((len(words), DIMS), np.float32)
    by_len = {}
    for i, row in enumerate(ids):
        by_len.setdefault(len(row), []).append(i)
    for length, rows in sorted(by_len.items()):
        for start in range(0, len(rows), 2048):
            chunk = rows[start:start + 2048]
            batch = np.array([ids[i] for i in chunk])
            vectors = forward(W, batch, np.ones(batch.shape, np.float32))
            out[chunk] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        print(f"embedded words of {length} tokens", file=sys.stderr)
    return out


def main():
    model_dir, nouns_path, english_path = sys.argv[1:4]
    import snowballstemmer

    stem = snowballstemmer.stemmer("english").stemWord
    W = load_int8(os.path.join(model_dir, "minilm-l6-int8.bin"))
    tokens = [t.rstrip("\n") for t in open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8")]
    vocab = {t: i for i, t in enumerate(tokens)}
    nouns = [line.split(" ", 1)[0] for line in open(nouns_path)]
    english = set(open(english_path).read().split())
    wordnet_dir = os.environ.get("WORDNET", "/tmp/wn/usr/share/wordnet/")
    lemmas = set()
    for name in ["noun", "verb", "adj", "adv"]:
        for line in open(os.path.join(wordnet_dir, "index." + name)):
            if not line.startswith(" "):
                lemmas.add(line.split(" ", 1)[0])
    pool = sorted(w for w in english if w in lemmas and re.fullmatch(r"[a-z]{3,}", w))
    print(f"{len(nouns)} nouns, {len(pool)} neighbour words", file=sys.stderr)
    pool_vectors = embed(W, vocab, pool)
    position = {w: i for i, w in enumerate(pool)}
    missing = [w for w in nouns if w not in position]
    noun_vectors = np.zeros((len(nouns), DIMS), np.float32)
    extra = embed(W, vocab, missing) if missing else None
    for i, w in enumerate(nouns):
        noun_vectors[i] = pool_vectors[position[w]] if w in position else extra[missing.index(w)]
    pool_stems = [stem(w) for w in pool]
    out = sys.stdout.buffer
    for start in range(0, len(nouns), 1024):
        sims = noun_vectors[start:start + 1024] @ pool_vectors.T
        for row, noun in enumerate(nouns[start:start + 1024]):
            own = stem(noun)
            best = np.argsort(-sims[row])[:64]
            found = []
            for j in best:
                if sims[row, j] < MIN_COSINE or len(found) == MAX_NEIGHBOURS:
                    break
                if pool_stems[j] != own and pool[j] != noun:
                    found.append(f"{pool[j]}:{int(sims[row, j] * 100)}")
            if found:
                out.write(f"{noun} {' '.join(found)}\n".encode())
        print(f"{start + 1024} nouns done", file=sys.stderr)


if __name__ == "__main__":
    main()
