"""The catalog: pipetune's own components. Their specs live in ``components/<name>/``; their
code lives here, so the pipetune image (and, locally, this installation) can run them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The catalog folder of a source checkout or editable install (``<repo>/components``, this
#: file being ``<repo>/plugin/pipetune/catalog/__init__.py``). Found from this file rather than
#: from ``pipetune.__file__``: importing the root package here would close a cycle (the root
#: imports the tuner lazily, the tuner the experiment model, which reads the catalog).
_SOURCE_CATALOG = Path(__file__).resolve().parents[3] / "components"


def catalog_dir() -> Path:
    """Where the catalog's component folders are: the source tree's, else the installed copy."""
    if (_SOURCE_CATALOG / "index.yaml").is_file():
        return _SOURCE_CATALOG
    return Path(str(resources.files("pipetune.catalog.specs")))


def component_file(name: str) -> Path:
    """The component.yaml of catalog component ``name`` (e.g. ``train-sklearn``)."""
    return catalog_dir() / name / "component.yaml"
