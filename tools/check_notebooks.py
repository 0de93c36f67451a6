"""Check every notebook: outputs stripped, and its cells equal to those of its py:percent twin.

    python tools/check_notebooks.py notebooks/*.ipynb

Exit 1 with a message naming the notebook and the fix. (`nbstripout --verify` checks the stripping too;
this adds the pairing check, comparing cells rather than text so jupytext's header metadata doesn't count.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat


def problems(notebook_path: Path) -> list[str]:
    found = []
    notebook = nbformat.read(notebook_path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            found.append(f"{notebook_path}: cell {index} has stored outputs (run `make sync-notebooks`)")
            break
    script_path = notebook_path.with_suffix(".py")
    if not script_path.is_file():
        return found + [f"{notebook_path}: its py:percent twin {script_path} is missing (`make sync-notebooks`)"]
    script = jupytext.read(script_path)
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    if cells(notebook) != cells(script):
        found.append(f"{notebook_path} and {script_path} hold different cells: edit one, then `make sync-notebooks`")
    return found


def main(paths: list[str]) -> int:
    all_problems = [problem for path in paths for problem in problems(Path(path))]
    for problem in all_problems:
        print(problem)
    if not all_problems:
        print(f"{len(paths)} notebooks: outputs stripped, py:percent pairs in sync")
    return 1 if all_problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
