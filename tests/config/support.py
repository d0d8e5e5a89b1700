"""Moved to tests/support/config.py; this re-export keeps the config tests' imports working.

Remove it once tests/config/test_parser.py and test_loader.py import from ``tests.support.config``.
"""

from tests.support.config import NATS_SERVER, needs_reference, reference_test_config, write

__all__ = ["NATS_SERVER", "needs_reference", "reference_test_config", "write"]
