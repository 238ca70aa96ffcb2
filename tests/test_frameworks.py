"""The one line that names the optional frameworks a notebook run used."""

from __future__ import annotations

from importlib import metadata

import pytest

from source_lib import frameworks


def test_names_every_framework_once_with_its_version_or_as_missing(monkeypatch):
    versions = {"torch": "9.1.0", "tensorflow-cpu": "7.0.1"}

    def version(distribution: str) -> str:
        if distribution in versions:
            return versions[distribution]
        raise metadata.PackageNotFoundError(distribution)

    monkeypatch.setattr(frameworks.metadata, "version", version)
    assert frameworks.installed_frameworks() == {
        "PyTorch": "9.1.0",
        "JAX": None,
        "TensorFlow": "7.0.1",
    }
    assert frameworks.frameworks_line() == (
        "Frameworks in this run: PyTorch 9.1.0, TensorFlow 7.0.1 (not installed: JAX)."
    )


@pytest.mark.parametrize("installed", [{}, {"torch": "1", "jax": "2", "tensorflow": "3"}])
def test_says_none_or_all(monkeypatch, installed):
    def version(distribution: str) -> str:
        if distribution in installed:
            return installed[distribution]
        raise metadata.PackageNotFoundError(distribution)

    monkeypatch.setattr(frameworks.metadata, "version", version)
    line = frameworks.frameworks_line()
    if installed:
        assert line == "Frameworks in this run: PyTorch 1, JAX 2, TensorFlow 3."
    else:
        assert line == ("Frameworks in this run: none (not installed: PyTorch, JAX, TensorFlow).")
