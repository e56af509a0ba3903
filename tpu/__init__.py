"""tpu: a systolic-array TPU simulator with one machine description and four views that agree."""

from tpu.config import Config, load_config

__all__ = ["Config", "load_config"]
