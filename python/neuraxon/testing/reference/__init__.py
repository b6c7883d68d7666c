"""NumPy twins of every kernel in csrc/kernel_api.inc: same names, same layouts.

Each reference returns its outputs (instead of writing into arguments) and computes in
float64 unless noted; tests cast and compare. One module per kernel stem.
"""

from .gemm import *  # noqa: F401,F403
from .conv2d import *  # noqa: F401,F403
from .pool2d import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .softmax import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
from .random import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .lstm import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .index import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
