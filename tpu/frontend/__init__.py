"""Model front ends: ONNX (float, and onnxruntime-quantized QOperator/QDQ) → the compiler IR."""

from tpu.frontend.onnx_import import load_onnx

__all__ = ["load_onnx"]
