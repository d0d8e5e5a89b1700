"""Subject transforms and mappings (pure, no I/O): one engine for stream subject transforms,
republish, source transforms and the config file's ``mappings``."""

from pynatsd.mapping.errors import TransformError, TransformErrorKind
from pynatsd.mapping.transform import SubjectTransform, fnv32a, parse_transform, validate_mapping

__all__ = [
    "SubjectTransform",
    "TransformError",
    "TransformErrorKind",
    "fnv32a",
    "parse_transform",
    "validate_mapping",
]
