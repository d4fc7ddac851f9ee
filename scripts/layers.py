#!/usr/bin/env python3
"""The architecture test: which folder may include which, and no circles.

Every quoted #include in oci/, registry/, mirror/ and cli/ is checked
against LAYERS: a file may include headers of its own folder and of the
folders listed for it, nothing else. Then the modules (a .c with its .h
counts as one module, named by its path without the extension) must form
no cycle: if a.c includes b.h, b must not reach a again. A header
without a .c (shared types) passes its own includes on to its includer. Prints one line
per violation and exits 1 when there is any.
"""
import os
import re
import sys

# folder -> the other folders it may include. Order is the direction of
# the data flow: vocabulary, network, store, the local side's verbs, Margo,
# the sync engine, the server, the command line.
LAYERS = {
    "oci": [],
    "registry": ["oci"],
    "mirror/store": ["oci"],
    "mirror": ["oci", "registry", "mirror/store"],
    "mirror/margo": ["oci", "registry", "mirror/store", "mirror"],
    "mirror/sync": ["oci", "registry", "mirror/store", "mirror", "mirror/margo"],
    "mirror/serve": ["oci", "mirror/store", "mirror/margo"],
    # fill on demand: implements mirror/serve/upstream.h over the engine
    "mirror/upstream": ["oci", "registry", "mirror/store", "mirror",
                        "mirror/sync", "mirror/serve"],
    "cli": ["oci", "registry", "mirror/store", "mirror", "mirror/margo",
            "mirror/sync", "mirror/serve", "mirror/upstream"],
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(root):
    for top in ("oci", "registry", "mirror", "cli"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, f), root)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = []
    graph = {}
    for path in sources(root):
        folder = os.path.dirname(path)
        if folder not in LAYERS:
            bad.append(f"{path}: folder {folder}/ has no row in the layer table")
            continue
        mod = os.path.splitext(path)[0]
        graph.setdefault(mod, set())
        with open(os.path.join(root, path), encoding="utf-8") as fh:
            text = fh.read()
        for inc in INCLUDE.findall(text):
            ifolder = os.path.dirname(inc)
            if not os.path.exists(os.path.join(root, inc)):
                bad.append(f"{path}: includes {inc}, which does not exist")
                continue
            if ifolder != folder and ifolder not in LAYERS[folder]:
                bad.append(f"{path}: {folder}/ may not include {inc} "
                           f"({folder}/ may use: {', '.join(LAYERS[folder]) or 'nothing'})")
            imod = os.path.splitext(inc)[0]
            if imod != mod:
                graph[mod].add(imod)
    # A header with no .c of its own (types, private state) is transparent:
    # whoever includes it depends on what it includes.
    def real(m, seen=()):
        if os.path.exists(os.path.join(root, m + ".c")) or m not in graph:
            return {m}
        out = set()
        for w in graph[m]:
            if w not in seen:
                out |= real(w, seen + (m,))
        return out

    graph = {m: set().union(*[real(w) for w in ws]) - {m} if ws else set()
             for m, ws in graph.items()
             if os.path.exists(os.path.join(root, m + ".c"))}
    # Cycles between modules (Tarjan's strongly connected components).
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for comp in sccs:
        bad.append("include cycle: " + " <-> ".join(comp))
    for line in bad:
        print("layers: " + line)
    if bad:
        return 1
    print(f"layers: {len(graph)} modules, {sum(map(len, graph.values()))} "
          "include edges, no wrong-way include, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
