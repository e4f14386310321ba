"""The import graph of a project's own modules, read from their source (nothing is imported).

Every import counts wherever it is written: at the top, inside a function, under
`if TYPE_CHECKING:`. `from package import name` points at `package.name` when that is a module,
else at the package itself (its __init__); relative imports are resolved. A cycle is a set of
two or more modules that reach each other (a strongly connected component).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module
    where: str  # file:line of the import statement


@dataclass
class ImportGraph:
    files: dict[str, Path]  # module name -> its file
    imports: list[Import] = field(default_factory=list)

    @classmethod
    def read(cls, root: Path, packages: Iterable[str]) -> ImportGraph:
        files: dict[str, Path] = {}
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                parts = list(path.relative_to(root).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                files[".".join(parts)] = path
        graph = cls(files)
        for module, path in files.items():
            graph._read_module(module, path, root)
        return graph

    def is_package(self, module: str) -> bool:
        return self.files[module].name == "__init__.py"

    def _resolve(self, name: str) -> str | None:
        """The longest of our modules that `name` is or lies in."""
        while name and name not in self.files:
            name = name.rpartition(".")[0]
        return name or None

    def _read_module(self, module: str, path: Path, root: Path) -> None:
        package = module if self.is_package(module) else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                names = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            where = f"{path.relative_to(root)}:{node.lineno}"
            for name in names:
                target = self._resolve(name)
                if target is not None and target != module:
                    self.imports.append(Import(module, target, where))

    def edges(self) -> dict[str, set[str]]:
        edges: dict[str, set[str]] = {module: set() for module in self.files}
        for found in self.imports:
            edges[found.source].add(found.target)
        return edges

    def cycles(self) -> list[list[str]]:
        """Every set of modules that import each other, directly or not (Tarjan's SCCs)."""
        edges = self.edges()
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []

        def visit(module: str) -> None:
            index[module] = low[module] = len(index)
            stack.append(module)
            on_stack.add(module)
            for target in sorted(edges[module]):
                if target not in index:
                    visit(target)
                    low[module] = min(low[module], low[target])
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

        for module in sorted(edges):
            if module not in index:
                visit(module)
        return found

    def explain(self, cycle: list[str]) -> str:
        """The imports that close `cycle`, one per line, with where they are written."""
        members = set(cycle)
        lines = [
            f"  {found.source} -> {found.target}  ({found.where})"
            for found in self.imports
            if found.source in members and found.target in members
        ]
        return "cycle among " + ", ".join(cycle) + ":\n" + "\n".join(sorted(set(lines)))
