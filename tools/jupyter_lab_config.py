"""JupyterLab settings for `make lab` (and the browser test): the course notebooks stay as git holds them.

Lab autosaves a notebook every two minutes, outputs included. For the numbered notebooks in notebooks/ this
hook strips what nbstripout strips before the file is written (outputs, execution counts, the kernel's
language_info), so the file on disk stays byte for byte what git tracks: `git status` stays clean and
`git pull` never meets a local change. Outputs live in the open tab; to keep them, File → Save Notebook As…
another name (any other notebook is saved untouched), or export to HTML.

    jupyter lab --config=tools/jupyter_lab_config.py notebooks/
"""

import re
from pathlib import Path

import nbformat
from nbstripout import strip_output

COURSE_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# What the git filter strips too (Makefile `git-filters`): nbstripout's defaults plus language_info.
EXTRA_KEYS = ["metadata.signature", "metadata.widgets", "metadata.language_info", "cell.metadata.collapsed",
              "cell.metadata.ExecuteTime", "cell.metadata.execution", "cell.metadata.heading_collapsed",
              "cell.metadata.hidden", "cell.metadata.scrolled"]


def strip_course_notebook(model, path, contents_manager, **kwargs):
    """ContentsManager pre-save hook: strip ``notebooks/NN_*.ipynb`` of this clone; leave others alone."""
    if model.get("type") != "notebook" or not re.fullmatch(r"\d\d_\w+\.ipynb", Path(path).name):
        return
    if (Path(contents_manager.root_dir) / path).resolve().parent != COURSE_NOTEBOOKS:
        return
    notebook = nbformat.from_dict(model["content"])
    model["content"] = strip_output(notebook, keep_output=False, keep_count=False, keep_id=True,
                                    extra_keys=EXTRA_KEYS)


c = get_config()  # noqa: F821 — defined by Jupyter when it loads this file
c.ContentsManager.pre_save_hook = strip_course_notebook
