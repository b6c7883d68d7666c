"""Kernel codes mirrored from csrc/common.h (nx::DType, Act, BinOp, UnOp, RedOp, ArgRedOp)."""

# nx::DType
F32, I64, U8 = 0, 1, 2

# nx::Act (gemm epilogue and activation kernels)
ACT_NONE, ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_TANH = 0, 1, 2, 3, 4
ACT_SOFTPLUS, ACT_ELU, ACT_GELU, ACT_STEP = 5, 6, 7, 8

# nx::BinOp (binary_forward); compare ops write bool
BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW, BIN_MAX, BIN_MIN = 0, 1, 2, 3, 4, 5, 6
BIN_EQ, BIN_NE, BIN_LT, BIN_LE, BIN_GT, BIN_GE = 7, 8, 9, 10, 11, 12

# nx::UnOp (unary_forward/backward), scalars p0, p1
UN_NEG, UN_EXP, UN_LOG, UN_SQRT, UN_ABS, UN_SIN, UN_COS = 0, 1, 2, 3, 4, 5, 6
UN_RSQRT, UN_RECIPROCAL, UN_SQUARE, UN_SIGN = 7, 8, 9, 10
UN_POW_SCALAR = 11  # x ** p0
UN_CLAMP = 12  # clamp(x, p0, p1), +-inf for an absent bound
UN_AFFINE = 13  # x * p0 + p1
UN_RPOW_SCALAR = 14  # p0 ** x
UN_LOG1P, UN_EXPM1 = 15, 16

# nx::RedOp / nx::ArgRedOp (reduce_forward / argreduce_forward over (outer, red, inner))
RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_PROD = 0, 1, 2, 3, 4
ARG_MAX, ARG_MIN = 0, 1
