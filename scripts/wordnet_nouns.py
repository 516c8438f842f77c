#!/usr/bin/env python3
"""Writes assets/wordnet/nouns.txt: what the abstention check needs to know about a question's
nouns, from WordNet 3.0 (Debian's `wordnet-base`; licence in assets/wordnet/nouns.COPYRIGHT).

    apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb /tmp/wn
    python3 scripts/wordnet_nouns.py /tmp/wn/usr/share/wordnet assets/words/english-words.txt \
        > assets/wordnet/nouns.txt

One line per word of the English word list that WordNet knows as a noun, and per noun WordNet
also knows as an adjective (`chinese`, which the lowercase word list lacks), single words of two
or more letters; irregular plurals such as `children` get the line of their singular. Sorted in
byte order for binary search:

    word TAGS|synonym ... ^hypernym ...|synonym ... ^hypernym ...

TAGS lists the word's parts of speech (n, v, a, r) from the most to the least used, by
WordNet's tagged-sense counts, so that a reader can tell a word that is mostly a noun (`date
nv`) from one that is mostly something else (`fine arnv`), followed by ` person` when the
word's most frequent noun sense is a kind of person (`pensioner n person`). Then, after a `|` each, the word's
two most frequent noun senses: the other words of the sense (`wage` -> `salary`),
words derived from it (`arrival` -> `arrive`), and prefixed with `^` the words of its direct
hypernyms (`fine` -> `^penalty`). Multi-word lemmas keep their underscores
(`^regular_payment`). Only lemmas made of lowercase letters are listed.
"""

import collections
import re
import sys

WN = sys.argv[1].rstrip("/") + "/"
ENGLISH = set(open(sys.argv[2]).read().split())
SENSES = 2
POS_FILES = [("n", "noun"), ("v", "verb"), ("a", "adj"), ("r", "adv")]
WORD = re.compile(r"[a-z]{2,}(_[a-z]{2,})*$")

files = {p: open(WN + "data." + name, "rb") for p, name in POS_FILES}
cache = {}


def synset(pos, offset):
    key = (pos, offset)
    if key not in cache:
        f = files[pos]
        f.seek(int(offset))
        parts = f.readline().decode().split(" ")
        count = int(parts[3], 16)
        lemmas = [re.sub(r"\(.*\)$", "", parts[4 + 2 * i]).lower() for i in range(count)]
        i = 4 + 2 * count
        pointers = []
        for _ in range(int(parts[i])):
            symbol, target, target_pos, source_target = parts[i + 1:i + 5]
            i += 4
            pointers.append((symbol, target, "a" if target_pos == "s" else target_pos,
                             int(source_target[:2], 16), int(source_target[2:], 16)))
        cache[key] = (lemmas, pointers)
    return cache[key]


# lemma -> pos -> (tagged sense count, synset count, offsets)
index = collections.defaultdict(dict)
for pos, name in POS_FILES:
    for line in open(WN + "index." + name):
        if line.startswith(" "):
            continue
        parts = line.split()
        lemma = parts[0]
        pointer_count = int(parts[3])
        tagged = int(parts[5 + pointer_count])
        offsets = parts[6 + pointer_count:]
        index[lemma][pos] = (tagged, int(parts[2]), offsets)


def tags(lemma):
    by_use = sorted(index[lemma].items(), key=lambda kv: (-kv[1][0], -kv[1][1], "nvar".index(kv[0])))
    out = "".join(pos for pos, _ in by_use)
    # WordNet's lexicographer file 18 is noun.person; a capitalised lemma there is a people
    # or a person's name ("Viking"), not a kind of person ("reader").
    first = index[lemma]["n"][2][0]
    lemmas, _ = synset("n", first)
    files["n"].seek(int(first))
    parts = files["n"].readline().decode().split(" ")
    own = [parts[4 + 2 * i] for i in range(int(parts[3], 16))]
    common = any(re.sub(r"\(.*\)$", "", w) == lemma for w in own)
    if parts[1] == "18" and common:
        out += " person"
    return out


def line_for(lemma):
    senses = []
    for offset in index[lemma]["n"][2][:SENSES]:
        lemmas, pointers = synset("n", offset)
        me = lemmas.index(lemma) + 1 if lemma in lemmas else 0
        synonyms = [w for w in lemmas if w != lemma]
        hypernyms = []
        for symbol, target, target_pos, source, target_word in pointers:
            if symbol in ("@", "@i"):
                hypernyms.extend(synset(target_pos, target)[0])
            elif symbol == "+" and source == me:
                synonyms.append(synset(target_pos, target)[0][target_word - 1])
        words = []
        for word in synonyms + ["^" + h for h in hypernyms]:
            if word.lstrip("^") != lemma and WORD.match(word.lstrip("^")) and word not in words:
                words.append(word)
        senses.append(" ".join(words))
    return "|".join([tags(lemma)] + senses)


lines = {}
for lemma, by_pos in index.items():
    # Words the English list lacks because it keeps only lowercase words, but that are also
    # adjectives (chinese, french), are listed too: a question uses them as modifiers.
    known = lemma in ENGLISH or "a" in by_pos
    if "n" in by_pos and known and re.fullmatch(r"[a-z]{2,}", lemma):
        lines[lemma] = line_for(lemma)
# Irregular plurals (children, geese, criteria) read as their singular.
for line in open(WN + "noun.exc"):
    form, base = line.split()[:2]
    if form in ENGLISH and form not in lines and base in lines and re.fullmatch(r"[a-z]{2,}", form):
        lines[form] = lines[base]
out = sys.stdout.buffer
for word in sorted(lines, key=lambda w: w.encode()):
    out.write(f"{word} {lines[word]}\n".encode())
