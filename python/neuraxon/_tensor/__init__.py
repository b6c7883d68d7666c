"""The methods of neuraxon.Tensor by concern, as mixin classes (tensor.py combines them)."""
