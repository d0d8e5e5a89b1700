"""pynatsd: a NATS-compatible messaging server written in Python."""

from pynatsd.embed import Server
from pynatsd.options import Options
from pynatsd.version import REFERENCE_VERSION, __version__

__all__ = ["REFERENCE_VERSION", "Options", "Server", "__version__"]
