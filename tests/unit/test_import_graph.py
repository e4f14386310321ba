"""The shape of the code: no import cycle among emulator/ and turn_stub/ modules (function-level
and TYPE_CHECKING imports included), and no module over 400 lines."""

from __future__ import annotations

from pathlib import Path

from tests.kit.import_graph import ImportGraph
from tests.kit.paths import ROOT

PACKAGES = ("emulator", "turn_stub")
MAX_LINES = 400


def test_there_is_no_import_cycle():
    graph = ImportGraph.read(ROOT, PACKAGES)
    assert len(graph.files) > 50 and graph.imports  # it did read the code
    cycles = graph.cycles()
    assert not cycles, "\n".join(graph.explain(cycle) for cycle in cycles)


def test_no_module_is_over_400_lines():
    too_long = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_reader_sees_deferred_and_type_checking_imports(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def f():\n    from pkg.b import g\n",
            "pkg/b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from .sub import c\n"
                "def g(): ...\n"
            ),
            "pkg/sub/__init__.py": "",
            "pkg/sub/c.py": "from .. import a\nimport json\n",
            "pkg/d.py": "import pkg.sub.c\n",
        },
    )
    graph = ImportGraph.read(tmp_path, ["pkg"])
    assert graph.cycles() == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    assert "pkg/a.py:2" in graph.explain(graph.cycles()[0])
    assert graph.edges()["pkg.d"] == {"pkg.sub.c"}


def test_an_import_of_a_name_from_a_package_points_at_its_init(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import thing\n",
            "pkg/a.py": "from pkg import other\nthing = 1\n",
        },
    )
    graph = ImportGraph.read(tmp_path, ["pkg"])
    assert graph.cycles() == [["pkg", "pkg.a"]]
