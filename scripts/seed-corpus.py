#!/usr/bin/env python3
"""Writes libFuzzer seed files from recorded traffic: one file per fixture (direction DIR
concatenated) and one per recorded chunk. Usage: seed-corpus.py FOLDER DIR OUT_DIR
FOLDER "webhook": the JSON examples of docs/webhooks.md instead (DIR is ignored)."""
import json, os, re, sys, glob

folder, direction, out = sys.argv[1:4]
if folder == "webhook":
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "webhooks.md"), encoding="utf-8").read()
    blocks = re.findall(r"```json\n(.*?)```", doc, re.S)
    for i, block in enumerate(blocks):
        with open(os.path.join(out, f"doc-{i}"), "wb") as f:
            f.write(block.encode("utf-8"))
    print(f"seed-corpus: {len(blocks)} JSON examples from docs/webhooks.md")
    sys.exit(0)
per_chunk_only = "--per-chunk-only" in sys.argv[4:]
root = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "asterisk", "fixtures", folder)
n = 0
for path in sorted(glob.glob(os.path.join(root, "*.jsonl"))):
    whole = []
    for line in open(path, encoding="utf-8"):
        rec = json.loads(line)
        if rec.get("dir") == direction and rec.get("data"):
            whole.append(rec["data"])
            with open(os.path.join(out, f"chunk-{n}"), "wb") as f:
                f.write(rec["data"].encode("utf-8")[:8192])
            n += 1
    if per_chunk_only:
        continue
    with open(os.path.join(out, os.path.basename(path) + ".seed"), "wb") as f:
        f.write("".join(whole).encode("utf-8")[:8192])
print(f"seed-corpus: {n} chunks from {root}")
