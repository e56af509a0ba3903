"""A tiny numpy model builder and trainer with ONNX export/import (for the digits models)."""
