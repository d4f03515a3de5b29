#!/usr/bin/env python3
"""The structure checks of issue 33, measured: functions over 120 lines outside tests, and
import circles between the top-level modules of src/ (a `crate::X` path in module A, tests
and comments left out, is an edge A -> X). Run from the repository root: `python3 bench/structure.py`."""
import os
import re
import sys

LIMIT = 120


def rust_files(root):
    for top, _, files in os.walk(root):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(top, f)


def without_tests(text):
    """The text before its test module (a `#[cfg(test)]` on one helper is not the module)."""
    m = re.search(r"^#\[cfg\(test\)\]\n(#\[.*\n)*(pub(\(\w+\))? )?mod \w+", text, re.M)
    return text if m is None else text[: m.start()]


def long_functions():
    found = []
    for root in ("src", "crates"):
        for path in rust_files(root):
            lines = without_tests(open(path).read()).split("\n")
            for i, line in enumerate(lines):
                m = re.match(r"^(\s*)(pub(\([a-z]+\))? )?fn (\w+)", line)
                if not m or line.rstrip().endswith(";"):
                    continue
                end = next((k for k in range(i + 1, len(lines)) if lines[k] == m.group(1) + "}"), i)
                if end - i > LIMIT:
                    found.append((end - i, path, m.group(4)))
    return sorted(found, reverse=True)


def module_cycles():
    mods = {f[:-3] if f.endswith(".rs") else f for f in os.listdir("src") if f not in ("lib.rs", "main.rs")}
    deps = {m: set() for m in mods}
    for m in mods:
        paths = list(rust_files(os.path.join("src", m))) if os.path.isdir(os.path.join("src", m)) else []
        if os.path.exists(os.path.join("src", m + ".rs")):
            paths.append(os.path.join("src", m + ".rs"))
        for path in paths:
            code = "\n".join(l for l in without_tests(open(path).read()).split("\n") if not l.strip().startswith("//"))
            for d in re.findall(r"crate::(\w+)", code):
                if d in mods and d != m:
                    deps[m].add(d)
    # Tarjan's strongly connected components: each of more than one module is a circle.
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(deps[v]):
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

    sys.setrecursionlimit(10000)
    for v in sorted(mods):
        if v not in index:
            visit(v)
    return out, deps


if __name__ == "__main__":
    long = long_functions()
    print(f"functions over {LIMIT} lines outside tests: {len(long)}")
    for n, path, name in long:
        print(f"  {n:4} {path} {name}")
    cycles, deps = module_cycles()
    print(f"import circles between top-level modules: {len(cycles)}")
    for comp in cycles:
        print("  " + ", ".join(comp))
        for m in comp:
            print(f"    {m} -> {', '.join(sorted(d for d in deps[m] if d in comp))}")
