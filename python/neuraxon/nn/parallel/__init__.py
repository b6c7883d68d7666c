"""neuraxon.nn.parallel: data parallelism over processes (see distributed.py)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
