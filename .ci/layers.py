#!/usr/bin/env python3
"""Fails on a module circle inside api/src, and on a module that uses a layer above its own
(the layers are listed below and described in ARCHITECTURE.md).

Modules are files (`graphql/types.rs` is `graphql::types`; `graphql/mod.rs` is `graphql`). An
edge A -> B is any `crate::B...` path in A's code (use lines and inline paths, tests
excluded). A circle is a strongly connected component of more than one module; a parent
module (`mod.rs`) that only declares and re-exports its children is not counted as using them.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "api", "src")

# Lower layers first; a module may use its own layer and those before it.
LAYERS = [
    ["error", "digest", "ttl", "config", "id", "date", "auth", "domain", "audit", "db", "telemetry", "document", "propagation", "outbound"],
    ["service", "events", "seed", "report", "exchange"],
    ["graphql", "metrics"],
    ["state", "notifier"],
    ["pipeline"],
    ["ws", "console"],
    ["server"],
    ["lib", "main"],
]


# What is known and left to untangle: listed here so that CI fails on any new circle or upward
# dependency, and on this list once an entry no longer holds (so that it only shrinks).
KNOWN = set()


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    return "::".join(rel)


def code_without_tests(text):
    # Drop `#[cfg(test)] mod tests { ... }` (to the end of the file, where it always is here).
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests", text)
    text = text[: m.start()] if m else text
    text = re.sub(r"//[^\n]*", "", text)
    return text


def expand_use(text, module):
    """Every crate path named, with `use crate::a::{b, c::{d}}` groups expanded and
    `super::` paths resolved against `module`."""
    parent = "::".join(module.split("::")[:-1])
    base = "crate::" + parent + "::" if parent else "crate::"
    text = re.sub(r"\bsuper::", base, text)
    paths = set()
    for m in re.finditer(r"\buse\s+(crate::[^;]+);", text, re.S):
        stack = [("", m.group(1).replace("\n", " "))]
        while stack:
            prefix, rest = stack.pop()
            rest = rest.strip()
            g = rest.find("{")
            if g == -1:
                paths.add(prefix + rest.split(" as ")[0].strip())
                continue
            head = prefix + rest[:g]
            body = rest[g + 1 : rest.rfind("}")]
            depth, start = 0, 0
            for i, c in enumerate(body + ","):
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                elif c == "," and depth == 0:
                    part = body[start:i].strip()
                    if part:
                        stack.append((head, part))
                    start = i + 1
    for m in re.finditer(r"\b(crate(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        paths.add(m.group(1))
    return paths


def main():
    modules = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".rs"):
                p = os.path.join(dirpath, f)
                modules[module_of(p)] = code_without_tests(open(p, encoding="utf-8").read())
    names = set(modules)
    edges = {m: set() for m in modules}
    for m, text in modules.items():
        for path in expand_use(text, m):
            parts = path.split("::")[1:]
            target = None
            for n in range(len(parts), 0, -1):
                cand = "::".join(parts[:n])
                if cand in names:
                    target = cand
                    break
            if target and target != m and not m.startswith(target + "::") and not (target.startswith(m + "::") and m in ("graphql", "auth", "service", "report", "seed")):
                edges[m].add(target)
    # Tarjan's strongly connected components.
    index, low, on, stack, comps, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
            comps.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    failures = []
    for comp in comps:
        if len(comp) > 1:
            comp = sorted(comp)
            inner = sorted(f"{a} -> {b}" for a in comp for b in edges[a] if b in comp)
            failures.append("module circle: " + ", ".join(comp) + "\n    " + "\n    ".join(inner))
    layer_of = {}
    for i, layer in enumerate(LAYERS):
        for top in layer:
            layer_of[top] = i
    if True:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                la, lb = layer_of.get(a.split("::")[0]), layer_of.get(b.split("::")[0])
                if la is not None and lb is not None and lb > la:
                    failures.append(f"upward dependency: {a} -> {b}")
    found = {f.split("\n")[0] for f in failures}
    new = [f for f in failures if f.split("\n")[0] not in KNOWN]
    gone = sorted(KNOWN - found)
    for f in failures:
        print(("known: " if f.split("\n")[0] in KNOWN else "NEW: ") + f)
    for g in gone:
        print(f"resolved, remove it from KNOWN in .ci/layers.py: {g}")
    if new or gone:
        return 1
    print(f"{len(modules)} modules: no new module circle or upward dependency ({len(KNOWN)} known)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
