#!/usr/bin/env python3
"""Writes src/HeadMiner/Models/Tokenizers/unicode-normalization.txt, the tables HeadMiner's own NFC/NFKC
(UnicodeNormalization.cs) runs on, from Python's unicodedata (the Unicode version is in the file's first line).

Why HeadMiner carries them: the product builds with InvariantGlobalization, where .NET's string.Normalize leaves
non-ASCII text unchanged without a word, so a tokenizer.json NFC/NFKC normalizer (Qwen2/Qwen3, Gemma-era files) would
silently do nothing.

Lines (hex code points):
  c FIRST LAST CCC        canonical combining class of a range (only non-zero classes)
  d CP CP...              full canonical decomposition (NFD of one code point; Hangul syllables are algorithmic)
  k CP CP...              full compatibility decomposition, where it differs from the canonical one (NFKD)
  p FIRST SECOND COMPOSITE a primary composite: canonical composition of the pair (composition exclusions, singletons
                          and non-starter decompositions left out, as the standard's composition step requires)
Run: python3 tools/unicode/make_normalization_data.py (deterministic; same Python, same file).
"""
import os
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "src", "HeadMiner", "Models", "Tokenizers", "unicode-normalization.txt")


def hexes(s):
    return " ".join(f"{ord(ch):04X}" for ch in s)


def main():
    lines = [f"# Unicode {unicodedata.unidata_version} normalization tables for UnicodeNormalization.cs; "
             "made by tools/unicode/make_normalization_data.py, do not edit"]
    start, current = None, 0
    for cp in range(0x110001):
        ccc = unicodedata.combining(chr(cp)) if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else 0
        if ccc != current:
            if current:
                lines.append(f"c {start:04X} {cp - 1:04X} {current}")
            start, current = cp, ccc
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
            continue
        ch = chr(cp)
        nfd = unicodedata.normalize("NFD", ch)
        nfkd = unicodedata.normalize("NFKD", ch)
        if nfd != ch:
            lines.append(f"d {cp:04X} {hexes(nfd)}")
        if nfkd != nfd:
            lines.append(f"k {cp:04X} {hexes(nfkd)}")
        decomposition = unicodedata.decomposition(ch)
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2 and unicodedata.normalize("NFC", ch) == ch:
                lines.append(f"p {parts[0]} {parts[1]} {cp:04X}")
    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{OUT}: {len(lines)} lines")


if __name__ == "__main__":
    main()
