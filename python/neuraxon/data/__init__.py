"""neuraxon.data: datasets, the DataLoader and collation (torch.utils.data-shaped)."""

from . import transforms  # noqa: F401
from .dataloader import DataLoader, default_collate, default_convert
from .distributed import DistributedSampler
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .datasets import MNIST, CharCorpus, Digits, FashionMNIST, KJVText, read_idx, write_idx

__all__ = [
    "DataLoader",
    "DistributedSampler",
    "default_collate",
    "default_convert",
    "Dataset",
    "TensorDataset",
    "Subset",
    "ConcatDataset",
    "random_split",
    "MNIST",
    "FashionMNIST",
    "Digits",
    "CharCorpus",
    "KJVText",
    "read_idx",
    "write_idx",
]
