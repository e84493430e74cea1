#!/usr/bin/env python3
"""Module dependency check of the `media` crate (issue #14).

Every top-level module of media/src is either vocabulary (shared data types and helpers)
or a stage. Stages run in data order:

    demux -> decode -> timeline -> compose | mix -> encode -> mux -> remux -> pipeline

(`remux` is the recorder's path: demuxers straight into a muxer, no decoding.)

A stage may use the vocabulary and earlier stages' types, never a later stage, and no two
top-level modules may depend on each other in a cycle. References are `use crate::X`,
`crate::X::...` and `super::...` paths leaving a module are not followed (they stay inside
one top-level module). Comments are ignored. Exit 1 listing the offending edges, else
print OK.
"""

import os
import re
import sys

VOCABULARY = {"time", "packet", "frame", "clip", "codec", "container", "ts", "error", "stats", "lib", "testutil"}
STAGES = {"demux": 1, "decode": 2, "timeline": 3, "compose": 4, "mix": 4, "encode": 5, "mux": 6, "remux": 7, "pipeline": 8}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.split("\n"))


def top_module(src, path):
    rel = os.path.relpath(path, src)
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def referenced(text, modules):
    found = set()
    for m in re.finditer(r"\bcrate::(\w+)", text):
        found.add(m.group(1))
    # `use crate::{a, b::c}` groups.
    for m in re.finditer(r"\bcrate::\{([^}]*)\}", text):
        for part in m.group(1).split(","):
            name = part.strip().split("::")[0].strip()
            if name:
                found.add(name)
    return {f for f in found if f in modules}


def edges_of(src):
    modules = {top_module(src, os.path.join(src, e)) for e in os.listdir(src) if e.endswith(".rs") or os.path.isdir(os.path.join(src, e))}
    edges = {}
    for root, _dirs, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)
            # Test code (files under a tests/ folder) may use anything.
            if "tests" in rel.split(os.sep)[:-1] or f == "tests.rs":
                continue
            with open(path, encoding="utf-8") as fh:
                text = strip_comments(fh.read())
            # Drop inline `#[cfg(test)] mod tests { ... }` blocks at the end of a file.
            cut = re.search(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)
            if cut:
                text = text[: cut.start()]
            me = top_module(src, path)
            for other in referenced(text, modules):
                if other != me:
                    edges.setdefault(me, set()).add(other)
    return modules, edges


def cycles(modules, edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(modules):
        if v not in index:
            visit(v)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, "..", "media", "src")
    if len(sys.argv) > 1:
        src = sys.argv[1]
    modules, edges = edges_of(src)
    problems = []
    unknown = sorted(m for m in modules if m not in VOCABULARY and m not in STAGES)
    for m in unknown:
        problems.append(f"module `{m}` is neither vocabulary nor a stage: add it to .ci/check_arch.py")
    for comp in cycles(modules, edges):
        inner = sorted(f"{a} -> {b}" for a in comp for b in edges.get(a, ()) if b in comp)
        problems.append("import cycle between " + ", ".join(comp) + ": " + "; ".join(inner))
    for a in sorted(edges):
        for b in sorted(edges[a]):
            if a in VOCABULARY and a != "lib" and b in STAGES:
                problems.append(f"vocabulary `{a}` imports stage `{b}`")
            if a in STAGES and b in STAGES and STAGES[b] >= STAGES[a] and a != b:
                problems.append(f"stage `{a}` imports `{b}`, which is not an earlier stage")
    if problems:
        for p in problems:
            print(p)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
