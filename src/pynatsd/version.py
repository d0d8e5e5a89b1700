"""Version identifiers.

Clients switch features on the INFO ``version`` field, so pynatsd reports the reference
version whose behaviour it implements there and its own version beside it.
"""

__version__ = "0.1.0"
REFERENCE_VERSION = "2.15.1"
PROTO = 1
# The JetStream API level of REFERENCE_VERSION: INFO carries it (``api_lvl``) with or
# without JetStream, and JetStream reports it in its responses and metadata.
API_LEVEL = 5
