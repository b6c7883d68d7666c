"""Differentiable ops, one module per family; each holds its Functions (forward and backward)
and the functions that apply them. Tensor methods and nn.functional call these."""
