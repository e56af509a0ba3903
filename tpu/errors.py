"""User-facing errors. The CLI prints these as one line and exits non-zero; anything else is a bug."""


class TpuError(Exception):
    """Base of every error caused by user input (a file, a key, a model, a shape)."""


class ConfigError(TpuError):
    """A configuration file or value is invalid."""


class ShapeError(TpuError):
    """Operands do not fit the machine (shape or value range)."""


class ModelError(TpuError):
    """A model file cannot be read or uses an op/attribute the compiler does not support."""


class InputError(TpuError):
    """A data file (an array, a table) cannot be read or holds the wrong kind of values."""


class OutputError(TpuError):
    """An output path cannot be written (checked before any work is done)."""


class LimitError(TpuError):
    """The work or memory a request needs, estimated up front, exceeds a limit (:mod:`tpu.limits`);
    the message names the size, the limit and how to raise it."""
