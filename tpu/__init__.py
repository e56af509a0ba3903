"""tpu: a systolic-array TPU simulator with one machine description and four views that agree."""

from importlib.metadata import PackageNotFoundError, version

from tpu.config import Config, load_config

try:
    __version__ = version("tpu")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Config", "__version__", "load_config"]
