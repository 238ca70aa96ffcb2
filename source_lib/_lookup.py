"""Looks the activations of ``source_lib``'s registry up by name, with a helpful error."""

from __future__ import annotations

from source_lib._types import Activation
from source_lib.activations import ACTIVATIONS, DERIVATIVES

__all__ = ["derivative_named", "function_named"]


def function_named(name: str) -> Activation:
    """Return ``ACTIVATIONS[name]``.

    Parameters
    ----------
    name : str
        A key of :data:`source_lib.activations.ACTIVATIONS`.

    Returns
    -------
    callable
        The activation function.

    Raises
    ------
    ValueError
        If ``name`` is not in the registry.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def derivative_named(name: str) -> Activation:
    """Return ``DERIVATIVES[name]``, with the error of :func:`function_named` for an unknown name.

    Parameters
    ----------
    name : str
        A key of :data:`source_lib.activations.DERIVATIVES`.

    Returns
    -------
    callable
        The derivative of the activation.
    """
    function_named(name)
    return DERIVATIVES[name]
