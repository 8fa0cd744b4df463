#!/usr/bin/python3
"""Brown corpus (form C, tagged) -> JSONL, one document per corpus file: {"text": ...}.

usage: brown_to_jsonl.py CORPUS_DIR OUT.jsonl
Each token is word/tag; the tag (after the last '/') is dropped, `` and '' become double quotes,
punctuation is re-attached to its word; the sentences (blank-line separated) are joined by spaces.
"""
import json
import os
import re
import sys

NO_SPACE_BEFORE = re.compile(r" ([.,;:?!)\]}%]|'s\b|n't\b|'re\b|'ll\b|'ve\b|'d\b|'m\b)")
NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")


def detag(token):
    word = token.rsplit("/", 1)[0] if "/" in token else token
    return {"``": '"', "''": '"'}.get(word, word)


def paragraph_text(lines):
    words = [detag(t) for line in lines for t in line.split()]
    text = " ".join(words)
    text = NO_SPACE_BEFORE.sub(r"\1", text)
    text = NO_SPACE_AFTER.sub(r"\1", text)
    # Attach double quotes: opening quote to the next word, closing to the previous one.
    out, opening = [], True
    for part in text.split('"'):
        out.append(part)
    text = ""
    for i, part in enumerate(out):
        if i > 0:
            if opening:
                text = text.rstrip() + (" " if text.strip() else "") + '"'
                part = part.lstrip()
            else:
                text = text.rstrip() + '"'
            opening = not opening
        text += part
    return text.strip()


def main():
    src, dst = sys.argv[1], sys.argv[2]
    names = sorted(n for n in os.listdir(src) if re.fullmatch(r"c[a-r]\d\d", n))
    with open(dst, "w", encoding="utf-8") as out:
        for name in names:
            with open(os.path.join(src, name), encoding="utf-8", errors="replace") as f:
                paragraphs, cur = [], []
                for line in f:
                    if line.strip():
                        cur.append(line)
                    elif cur:
                        paragraphs.append(paragraph_text(cur))
                        cur = []
                if cur:
                    paragraphs.append(paragraph_text(cur))
            text = " ".join(p for p in paragraphs if p)
            out.write(json.dumps({"text": text}) + "\n")


if __name__ == "__main__":
    main()
