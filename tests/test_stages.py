"""The house's shape: stages import only downward, no module imports itself round a circle, modules stay small."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from herald_testing import ROOT

# app/services' stages from the bottom up; each may import only itself and those before it.
STAGES = ("channels", "content", "limits", "state", "audience", "intake", "sending", "reports", "control")
# The code whose import graph must hold no circle (tests are not part of it).
PACKAGES = ("app", "tasks", "providers", "bench", "scripts", "sandbox")
TOP_FILES = ("celeryconfig.py", "wsgi.py")
MAX_LINES = 300


def _module_name(path: Path) -> str:
    """`app/services/state/guard.py` -> `app.services.state.guard` (a package's __init__ is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    """Every module of the code, by dotted name."""
    files = [p for package in PACKAGES for p in (Path(ROOT) / package).rglob("*.py")]
    files += [Path(ROOT) / name for name in TOP_FILES]
    return {_module_name(p): p for p in files if "node_modules" not in p.parts}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of the code this one imports, wherever the import stands (functions included)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # The longest known module the target names (`a.b.c` may be module a.b's name c).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {name: _imports(name, path, known) for name, path in sources.items()}


def _stage(module: str) -> int | None:
    parts = module.split(".")
    if parts[:2] == ["app", "services"] and len(parts) > 2 and parts[2] in STAGES:
        return STAGES.index(parts[2])
    return None


def test_every_service_module_lives_in_a_stage():
    loose = [p.name for p in (Path(ROOT) / "app/services").glob("*.py") if p.name != "__init__.py"]
    assert loose == []
    packages = {p.name for p in (Path(ROOT) / "app/services").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(STAGES)


def test_no_stage_imports_a_higher_one():
    upward = []
    for module, targets in _graph().items():
        here = _stage(module)
        if module.startswith("app.services.") and here is None:
            continue
        for target in targets:
            there = _stage(target)
            if here is not None and (there is not None and there > here or target.startswith(("app.api", "tasks"))):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_circles_among_modules():
    graph = _graph()
    circles = _strongly_connected(graph)
    assert [sorted(c) for c in circles if len(c) > 1] == []


def test_no_module_in_app_is_over_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in (Path(ROOT) / "app").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's components, iteratively (the graph is a few hundred modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found


def test_no_channel_is_named_outside_the_channel_seam():
    """Only channels/ (and the providers, which each carry one) may say "sms": everything else asks the seam."""
    seam = Path(ROOT) / "app/services/channels"
    named = []
    for package in ("app", "tasks"):
        for path in (Path(ROOT) / package).rglob("*.py"):
            if seam in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and node.value == "sms":
                    named.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert named == []


# The code that must name statuses by their enums.
STATUS_USERS = ("app/api", "app/services", "app/models", "tasks", "app/cli.py")
_CONSTANT_NAME = re.compile(r"_?[A-Z][A-Z0-9_]*")


def _named_and_docstrings(tree: ast.Module) -> tuple[set[int], set[int]]:
    """Ids of the strings that are named constants' values, and of the docstrings, in one module."""
    named, docs = set(), set()
    scopes = [tree] + [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    for scope in scopes:
        for statement in scope.body:
            if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name) and isinstance(statement.value, ast.Constant)
                    and _CONSTANT_NAME.fullmatch(statement.targets[0].id)):
                named.add(id(statement.value))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    return named, docs


def test_statuses_are_named_by_their_enums():
    """No status is a bare string in app/api, app/services, app/models, tasks or app/cli.py (app/statuses.py spells them).

    Every string constant is read, f-string parts included:
    - Python: none may equal a MessageStatus, BroadcastStatus or PausedReason value; code names the
      member. A word that is a status but means something else there is a field name written as a
      keyword (dict(rejected=n): a response's or a record's field, a statement's parameter), or a
      named constant of its own meaning (an UPPER_CASE name given that string at module or class
      level, such as message_state.OPTED_OUT_CODE, an error code) whose uses go by that name.
    - SQL and Lua: a statement's text never equals a status, so the rule above leaves it alone;
      instead no string but a docstring may hold a status in single quotes ('pending'). Statement
      text renders it from the member with app.statuses.sql_literal or sql_list: still a literal
      where a partial index needs one, spelled only in app/statuses.py.
    """
    from app.statuses import BroadcastStatus, MessageStatus, PausedReason

    words = {member.value for lifecycle in (MessageStatus, BroadcastStatus, PausedReason) for member in lifecycle}
    quoted = re.compile("'(" + "|".join(sorted(words)) + ")'")
    bare, in_text = [], []
    for entry in STATUS_USERS:
        root = Path(ROOT) / entry
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            tree = ast.parse(path.read_text(), str(path))
            named, docs = _named_and_docstrings(tree)
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if node.value in words and id(node) not in named:
                    bare.append(f"{where} {node.value!r}")
                elif id(node) not in docs and quoted.search(node.value):
                    in_text.append(f"{where} {quoted.search(node.value).group(0)}")
    assert bare == []
    assert in_text == []
