"""hdredu: deep HDR imaging, built step by step (see README.md and notebooks/)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hdredu")  # from pyproject.toml, as installed by `pip install -e .`
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
