"""The layout of core/ is its architecture: stage packages in data-flow order, each importing
only the stages before it (and plumbing from anywhere), never Streamlit."""
import ast
import subprocess
import sys

from tests.conftest import ROOT

# Data flow: records in -> vectors -> ranked lists -> judgements -> numbers -> training -> pictures
# -> the team's other tasks -> batch jobs and the command line.
STAGES = ["corpora", "models", "retrieval", "labels", "evaluation", "finetune", "maps", "tasks", "jobs", "cli"]
PLUMBING = {"config", "atomic", "access", "display"}


def _core_modules():
    return sorted(p for p in (ROOT / "core").rglob("*.py"))


def _imports(path):
    """Every core module a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "core":
            if node.module == "core":
                yield from (f"core.{a.name}" for a in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "core")


def _stage(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_core_module_sits_in_a_stage_or_is_plumbing():
    for path in _core_modules():
        rel = path.relative_to(ROOT / "core")
        top = rel.parts[0].removesuffix(".py")
        assert top in STAGES or top in PLUMBING or top in {"__init__", "__main__"}, rel


def test_a_stage_imports_only_earlier_stages_and_plumbing():
    wrong = []
    for path in _core_modules():
        rel = path.relative_to(ROOT / "core")
        here = rel.parts[0].removesuffix(".py")
        if here not in STAGES:
            continue
        for target in _imports(path):
            there = _stage(target)
            if there in PLUMBING or there == here or not there:
                continue
            if there not in STAGES or STAGES.index(there) > STAGES.index(here):
                wrong.append(f"core/{rel} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles_between_core_modules():
    graph = {}
    for path in _core_modules():
        mod = ".".join(("core", *path.relative_to(ROOT / "core").with_suffix("").parts)).removesuffix(".__init__")
        graph[mod] = {t for t in _imports(path) if t != mod}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                raise AssertionError("import circle: " + " -> ".join([*stack[stack.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_core_never_imports_streamlit():
    """core/ must run from a notebook or CLI without a Streamlit runtime."""
    modules = [".".join(("core", *p.relative_to(ROOT / "core").with_suffix("").parts)).removesuffix(".__init__")
               for p in _core_modules() if p.name != "__main__.py"]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
