"""The map of the house, checked on every run: who may import whom.

- ``shared/`` is the core: it imports no face.
- A face (kiosk, display, desk, printer, admin, reports, status, api) imports
  the core and itself, never another face; ``server/`` assembles them all.
- No first-party module imports itself back, directly or through others,
  whether the import sits at the top of a module or inside a function.
- An import of our own code inside a function says why on its line (a comment),
  so no import is hidden there to dodge a cycle.

The standard library's ``ast`` reads every import statement; the graph is a
few hundred edges, walked once.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = "shared"
ASSEMBLY = "server"
FACES = ("api", "kiosk", "display", "desk", "printer", "admin", "reports", "status", "portal")
PACKAGES = (CORE, ASSEMBLY, *FACES)


def _modules() -> dict[str, Path]:
    """Return every first-party module by its dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _target(module: str, node: ast.ImportFrom | ast.Import, name: str) -> str | None:
    """Return the first-party module an import names (the longest known prefix), or None."""
    if isinstance(node, ast.Import):
        full = name
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        full = f"{base}.{name}" if f"{base}.{name}" in MODULES else base
    while full and full not in MODULES:
        full = full.rpartition(".")[0]
    return full or None


def _walk(module: str, lines: list[str], node, in_function: bool, out: list) -> None:
    """Collect the first-party imports under one node of a module's tree."""
    for child in ast.iter_child_nodes(node):
        nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            for alias in child.names:
                target = _target(module, child, alias.name)
                if target and target != module:
                    out.append((module, target, child.lineno, in_function, lines[child.lineno - 1]))
        _walk(module, lines, child, nested, out)


def _imports() -> list[tuple[str, str, int, bool, str]]:
    """Return (importer, imported, line, inside a function, source line) for every first-party import."""
    out = []
    for module, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)

        _walk(module, lines, tree, False, out)
    return out


IMPORTS = _imports()


def _package(module: str) -> str:
    return module.split(".")[0]


def test_the_core_imports_no_face():
    wrong = sorted({f"{a} imports {b} (line {n})" for a, b, n, _f, _s in IMPORTS
                    if _package(a) == CORE and _package(b) != CORE})
    assert not wrong, "\n".join(wrong)


def test_a_face_never_imports_another_face():
    wrong = sorted({f"{a} imports {b} (line {n})" for a, b, n, _f, _s in IMPORTS
                    if _package(a) in FACES and _package(b) not in (CORE, _package(a))})
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for importer, imported, *_rest in IMPORTS:
        graph[importer].add(imported)
    # Tarjan's strongly connected components: any component of two or more is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_of_our_own_code_hides_inside_a_function():
    hidden = sorted({f"{a}:{n} imports {b} inside a function without saying why"
                     for a, b, n, inside, line in IMPORTS if inside and "#" not in line})
    assert not hidden, "\n".join(hidden)


def test_the_walk_sees_the_imports_it_checks():
    # A check that finds nothing because it reads nothing would pass forever.
    assert len(MODULES) > 60
    pairs = {(a, b) for a, b, *_rest in IMPORTS}
    assert ("shared.queue", "shared.store") in pairs
    assert any(inside for *_rest, inside, _line in IMPORTS) or len(IMPORTS) > 300
