"""The repository root, for the tests: the folder that holds this ``tests/`` folder."""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO_ROOT"]

#: The repository (the course the tests check): the parent of ``tests/``.
REPO_ROOT = Path(__file__).resolve().parents[1]
