"""The shape of the production code: longest modules and classes, function lengths.

Run: python bench/code_shape.py [ROOT]   (ROOT defaults to this checkout)
Prints tables: the ten longest modules, the ten longest classes (lines, methods), and
the function-length median, p90 and maximum over sdk/scanfleet, lambdas, worker, infra.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

PRODUCTION = ("sdk/scanfleet", "lambdas", "worker", "infra")


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for part in PRODUCTION:
        found.extend(sorted((root / part).rglob("*.py")))
    return found


def _span(node: ast.AST) -> int:
    return int(getattr(node, "end_lineno", 0)) - int(getattr(node, "lineno", 0)) + 1


def measure(root: Path) -> tuple[list, list, list[int]]:
    modules: list[tuple[int, str]] = []
    classes: list[tuple[int, int, str]] = []
    functions: list[int] = []
    for path in _files(root):
        text = path.read_text()
        rel = str(path.relative_to(root))
        modules.append((len(text.splitlines()), rel))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                methods = [n for n in node.body if isinstance(n, ast.FunctionDef)]
                classes.append((_span(node), len(methods), f"{rel}::{node.name}"))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append(_span(node))
    return modules, classes, functions


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    modules, classes, functions = measure(root)
    print("| longest modules | lines |\n| --- | ---: |")
    for lines, name in sorted(modules, reverse=True)[:10]:
        print(f"| {name} | {lines} |")
    print("\n| longest classes | lines | methods |\n| --- | ---: | ---: |")
    for lines, methods, name in sorted(classes, reverse=True)[:10]:
        print(f"| {name} | {lines} | {methods} |")
    functions.sort()
    p90 = functions[int(0.9 * (len(functions) - 1))]
    print("\n| functions | count | median lines | p90 lines | max lines |")
    print("| --- | ---: | ---: | ---: | ---: |")
    median = statistics.median(functions)
    print(f"| all | {len(functions)} | {median:g} | {p90} | {functions[-1]} |")


if __name__ == "__main__":
    main()
