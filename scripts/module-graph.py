#!/usr/bin/env python3
"""Prints the import edges between the engine's top-level modules (src/*) and between the
console's files (src/tui/**), and exits 1 if either graph has a cycle.

Usage: python3 scripts/module-graph.py [--edges]
"""
import pathlib, re, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "src"
ENGINE = sorted(p.stem if p.is_file() else p.name for p in ROOT.iterdir()
                if p.name not in ("lib.rs", "main.rs", "tui", "cli") and (p.is_dir() or p.suffix == ".rs"))


def uses(text):
    """Every path named in `use` items and inline `crate::`/`super::`/`bloodshot::` paths."""
    text = re.sub(r"//[^\n]*", "", text)
    return re.findall(r"\b(?:crate|super|bloodshot)(?:::\{?[A-Za-z_][A-Za-z0-9_]*)+", text)


def engine_edges():
    edges = set()
    for m in ENGINE:
        base = ROOT / m
        files = [base.with_suffix(".rs")] if (base.with_suffix(".rs")).exists() else list(base.rglob("*.rs"))
        for f in files:
            for path in re.findall(r"\bcrate::([a-z_]+)", re.sub(r"//[^\n]*", "", f.read_text())):
                if path != m and path in ENGINE:
                    edges.add((m, path))
    return edges


def tui_edges():
    tui = ROOT / "tui"
    files = {str(f.relative_to(tui).with_suffix("")).replace("/mod", "").replace("/", "::"): f
             for f in tui.rglob("*.rs")}
    files = {("mod" if k == "mod" else k): v for k, v in files.items()}
    edges = set()
    for name, f in files.items():
        if name in ("tests", "mod"):
            continue  # the test module and the loop sit above everything by design
        text = re.sub(r"//[^\n]*", "", f.read_text())
        for target in re.findall(r"crate::tui::([a-z_]+(?:::[a-z_]+)?)", text):
            edges.add((name, target))
        here = name.split("::")[:-1]
        for target in re.findall(r"\bsuper::([a-z_]+(?:::[a-z_]+)?)", text):
            full = "::".join(here[:-0 or None] + [target]) if here else target
            edges.add((name, full if full in files else target))
    # Keep edges between files only (a path to `state::train::X` counts for `state::train`).
    out = set()
    for a, b in edges:
        while b not in files and "::" in b:
            b = b.rsplit("::", 1)[0]
        if b in files and a != b and b != "mod":
            out.add((a, b))
    return out


def cycle(edges):
    graph = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
    state = {}

    def visit(n, stack):
        state[n] = 1
        for m in graph.get(n, []):
            if state.get(m) == 1:
                return stack + [n, m]
            if not state.get(m):
                c = visit(m, stack + [n])
                if c:
                    return c
        state[n] = 2
        return None

    for n in list(graph):
        if not state.get(n):
            c = visit(n, [])
            if c:
                return c
    return None


bad = False
for title, edges in (("engine", engine_edges()), ("console", tui_edges())):
    if "--edges" in sys.argv:
        print(f"# {title}")
        for a, b in sorted(edges):
            print(f"{a} -> {b}")
    c = cycle(edges)
    if c:
        print(f"{title}: import cycle: {' -> '.join(c)}")
        bad = True
    else:
        print(f"{title}: no import cycle ({len(edges)} edges)")
sys.exit(1 if bad else 0)
