#!/usr/bin/env python3
"""Makes a large synthetic corpus for the scale benchmarks in BENCHMARKS.md (standard library
only). The shipped document's sentences are recombined, with a fixed seed, into many new plain
text documents, each with a title, a date line and sections under the document's own headings,
until the corpus is SCALE times the size of the shipped one (100 -> ~6 MB, 1000 -> ~58 MB).

    python3 benches/make_corpus.py --scale 1000 --out /tmp/studybot-1000x

Write it to a temporary folder; never commit it.
"""
import argparse
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'‘“(])")


def read_source(path):
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    headings, sentences = [], []
    for block in blocks[2:]:  # title and date line
        if "\n" not in block and len(block) < 80 and not block.rstrip(".").endswith((".", "!", "?", ":")):
            headings.append(block.strip(". "))
            continue
        for s in SENTENCE_END.split(" ".join(block.split())):
            if len(s) > 30 and s[-1] in ".!?\"'’”)":
                sentences.append(s)
    return headings, sentences


def document(rng, number, size, headings, sentences):
    out = [f"Study text {number}: {rng.choice(headings)}", "", f"{rng.randint(1, 28)} October {rng.randint(1990, 2024)}", ""]
    written = 0
    section = 0
    while written < size:
        section += 1
        out += [f"{rng.choice(headings)} (part {section})", ""]
        for _ in range(rng.randint(3, 9)):
            paragraph = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 8)))
            out += [paragraph, ""]
            written += len(paragraph) + 2
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=100, help="corpus size as a multiple of the shipped document")
    ap.add_argument("--out", required=True, help="output folder (created; a temporary folder)")
    ap.add_argument("--seed", type=int, default=1917)
    ap.add_argument("--source", default=str(ROOT / "corpus" / "russia-october-1917.txt"))
    args = ap.parse_args()
    source = Path(args.source)
    headings, sentences = read_source(source)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    size = source.stat().st_size
    total = 0
    for number in range(1, args.scale + 1):
        text = document(rng, number, size, headings, sentences)
        (out / f"study-text-{number:05}.txt").write_text(text, encoding="utf-8")
        total += len(text.encode())
    print(f"{args.scale} documents, {total / 1e6:.1f} MB, {len(sentences)} source sentences, {len(headings)} headings -> {out}")


if __name__ == "__main__":
    main()
