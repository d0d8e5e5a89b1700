"""Errors that stop the server from starting: raised by the core and by its layers."""

from __future__ import annotations

__all__ = ["StartError", "UnsupportedFeature"]


class StartError(Exception):
    """The configuration cannot be served (the reference refuses it at start too)."""


class UnsupportedFeature(StartError):
    """An option names a feature pynatsd does not implement yet."""
