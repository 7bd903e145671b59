"""``pipetune catalog check`` and ``pipetune catalog generate``: the component catalog kept
coherent, and its Tekton Tasks written from its component.yaml files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipetune.catalog.check import catalog_folders, check_catalog, generate_tasks
from pipetune.errors import UsageError


def check(args: argparse.Namespace) -> int:
    """Every problem on stderr and 1, or a count of the valid components and 0."""
    root = _catalog_root(args)
    problems = check_catalog(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"pipetune: catalog check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"catalog {root}: {len(catalog_folders(root))} component(s), all valid")
    return 0


def generate(args: argparse.Namespace) -> int:
    """Write every task.yaml that is missing or out of date; prints each one written."""
    root = _catalog_root(args)
    changed = generate_tasks(root)
    for path in changed:
        print(f"wrote {path}")
    print(f"catalog {root}: {len(catalog_folders(root))} task(s), {len(changed)} changed")
    return 0


def _catalog_root(args: argparse.Namespace) -> Path:
    root = Path(args.root)
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory; expected the catalog folder (components/)")
    return root
