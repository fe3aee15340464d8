"""Errors a user can cause and fix. Each message names what is wrong and, where it helps, what to do."""


class SelftrainError(Exception):
    """Base class for errors caused by input or configuration (not bugs)."""


class ConfigError(SelftrainError):
    """A configuration value is invalid; the message names the field."""


class SourceError(SelftrainError):
    """A document source cannot be read (missing file, bad encoding, bad JSON line, empty corpus...)."""


class ModelNotFoundError(SelftrainError):
    """A model name is neither a known offline model, a local path, nor a hub id that can be loaded."""


class StageInputError(SelftrainError):
    """A stage got input it cannot work on (e.g. no training pairs left after curation)."""


class ArtifactNotFoundError(SelftrainError):
    """An artifact or row id does not exist in the artifact store."""


class CorruptArtifactError(SelftrainError):
    """An artifact's files do not match the checksums in its manifest."""


class StorageFullError(SelftrainError):
    """The artifact store's disk is full, or refuses a file this large (ENOSPC, EDQUOT, EFBIG); the message names
    the folder."""
