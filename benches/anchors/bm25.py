#!/usr/bin/env python3
"""Anchor for BENCHMARKS.md: the same job as plain_tantivy.rs with Python's rank_bm25.

Reads the corpus (a file, or every .txt/.md file of a folder), splits it into paragraphs on
blank lines, tokenises lowercase words, builds BM25Okapi and answers the questions of a JSONL
file (repeated up to COUNT), top 3.

    pip install rank_bm25
    python3 benches/anchors/bm25.py corpus eval/dev.jsonl 104
"""
import json
import re
import sys
import time
from pathlib import Path

from rank_bm25 import BM25Okapi

WORD = re.compile(r"\w+")


def files(path):
    p = Path(path)
    if p.is_file():
        return [p]
    return sorted(f for f in p.iterdir() if f.suffix in (".txt", ".md"))


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else "corpus"
    questions_file = sys.argv[2] if len(sys.argv) > 2 else "eval/dev.jsonl"
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 104
    start = time.perf_counter()
    paragraphs = []
    nbytes = 0
    for f in files(corpus):
        text = f.read_text(encoding="utf-8")
        nbytes += len(text.encode())
        paragraphs += [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    bm25 = BM25Okapi([WORD.findall(p.lower()) for p in paragraphs])
    indexed = time.perf_counter()
    with open(questions_file, encoding="utf-8") as fh:
        questions = [json.loads(line)["question"] for line in fh if line.strip()]
    chars = 0
    for i in range(count):
        q = questions[i % len(questions)]
        top = bm25.get_top_n(WORD.findall(q.lower()), paragraphs, n=3)
        chars += sum(len(t) for t in top)
    done = time.perf_counter()
    print(
        f"rank_bm25: {len(paragraphs)} paragraphs, {nbytes / 1e6:.2f} MB; "
        f"parse+index {(indexed - start) * 1e3:.1f} ms, {count} questions "
        f"({chars} chars of results) {(done - indexed) * 1e3:.1f} ms; "
        f"total {(done - start) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
