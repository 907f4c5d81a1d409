"""Evaluation kernels: the MADE weights, NumPy and numba passes, and special functions (no TensorFlow)."""
