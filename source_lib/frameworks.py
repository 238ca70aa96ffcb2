"""Which optional deep-learning frameworks this Python has, in one line.

The notebooks compare softsign's arithmetic with PyTorch, JAX and TensorFlow
where they are installed; the course itself needs none of them. Every cell that
tries a framework starts its output with :func:`frameworks_line`, so a reader
sees which frameworks that run used, and all notebooks report it the same way.
Detection reads the installed distributions' metadata and imports nothing
(TensorFlow alone takes seconds to import).
"""

from __future__ import annotations

from importlib import metadata

#: Display name -> the distributions that provide it (the first one installed counts).
FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "PyTorch": ("torch",),
    "JAX": ("jax",),
    "TensorFlow": ("tensorflow", "tensorflow-cpu"),
}


def installed_frameworks() -> dict[str, str | None]:
    """Each framework's installed version, or ``None`` where it is not installed."""
    found: dict[str, str | None] = {}
    for name, distributions in FRAMEWORKS.items():
        found[name] = None
        for distribution in distributions:
            try:
                found[name] = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                continue
            break
    return found


def frameworks_line() -> str:
    """One line: the frameworks this run used, with versions, and those it lacked.

    >>> frameworks_line().startswith("Frameworks in this run: ")
    True
    """
    found = installed_frameworks()
    ran = [f"{name} {version}" for name, version in found.items() if version]
    missing = [name for name, version in found.items() if not version]
    line = "Frameworks in this run: " + (", ".join(ran) if ran else "none")
    if missing:
        line += f" (not installed: {', '.join(missing)})"
    return line + "."
