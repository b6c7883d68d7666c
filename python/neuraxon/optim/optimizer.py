"""Optimizer base: parameter groups, per-parameter state, torch-format state_dict."""

from __future__ import annotations

from .. import _array

import math
from typing import Any, Callable, Iterable

import numpy as np
from ..tensor import Tensor
from ..creation import tensor, zeros_like


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _numel(t) -> int:
    return int(math.prod(t.shape))


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


class _ParamState:
    """optimizer.state: a mapping from parameter (by identity) to its state dict.

    Tensors compare elementwise, so they are keyed by id() here; the parameter is kept
    alongside so the id stays valid.
    """

    def __init__(self) -> None:
        self._d: dict[int, tuple[Any, dict]] = {}

    def __getitem__(self, p) -> dict:
        e = self._d.get(id(p))
        if e is None:
            e = (p, {})
            self._d[id(p)] = e
        return e[1]

    def __setitem__(self, p, value: dict) -> None:
        self._d[id(p)] = (p, value)

    def __contains__(self, p) -> bool:
        return id(p) in self._d

    def get(self, p, default=None):
        e = self._d.get(id(p))
        return default if e is None else e[1]

    def __len__(self) -> int:
        return len(self._d)

    def keys(self):
        return [p for p, _ in self._d.values()]

    def values(self):
        return [s for _, s in self._d.values()]

    def items(self):
        return list(self._d.values())

    def __iter__(self):
        return iter(self.keys())

    def clear(self) -> None:
        self._d.clear()


class Optimizer:
    """Base class: ``param_groups`` (list of dicts with 'params' and hyperparameters),
    ``state`` (per parameter), ``step()``, ``zero_grad()``, ``state_dict()``.

    Subclasses implement ``step`` by calling one fused backend kernel per parameter on
    ``p._data``, ``p.grad._data`` and their state tensors' ``_data``.
    """

    def __init__(self, params: Iterable, defaults: dict) -> None:
        self.defaults = dict(defaults)
        self.state = _ParamState()
        self.param_groups: list[dict] = []
        if _is_tensor(params):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                f"but got {type(params).__name__}"
            )
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use a list instead."
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for g in param_groups:
            self.add_param_group(g)

    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if _is_tensor(params):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        for p in params:
            if not _is_tensor(p):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not getattr(p, "is_leaf", True):
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group)
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    gr = p.grad
                    _array.run("fill", gr.device, gr._data, _numel(gr), 0.0)

    def step(self, closure: Callable | None = None):
        raise NotImplementedError

    def _closure(self, closure: Callable | None):
        if closure is None:
            return None
        from ..autograd import enable_grad

        with enable_grad():
            return closure()

    # -- state -------------------------------------------------------------------------
    def _zeros_like(self, p):
        return zeros_like(p)

    def _full_like(self, p, value: float):
        t = self._zeros_like(p)
        if value != 0:
            _array.run("fill", t.device, t._data, _numel(t), float(value))
        return t

    def state_dict(self) -> dict:
        """{'state': {index: {name: tensor | number}}, 'param_groups': [{..., 'params': [index]}]},
        parameters numbered in group order from 0, as torch."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                if id(p) not in index:
                    index[id(p)] = len(index)
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) in index and s:
                state[index[id(p)]] = dict(s)
        return {"state": state, "param_groups": groups}

    def _load_state_value(self, name: str, value, p):
        """A saved state entry, on p's device: tensors for arrays, int for 'step'."""
        if name == "step":
            return int(round(float(value.item() if hasattr(value, "item") else value)))
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        v = value.detach() if hasattr(value, "detach") else value
        v = v.cpu() if hasattr(v, "cpu") and not isinstance(v, np.ndarray) else v
        arr = np.asarray(v.numpy() if hasattr(v, "numpy") and not isinstance(v, np.ndarray) else v)
        if tuple(arr.shape) != tuple(p.shape):
            raise ValueError(f"optimizer state '{name}' has shape {tuple(arr.shape)}, parameter has {tuple(p.shape)}")
        return tensor(np.array(arr, dtype=np.float32, order="C"), device=p.device)

    def load_state_dict(self, state_dict: dict) -> None:
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        id_map = {}
        for g, s in zip(groups, saved_groups):
            for old, p in zip(s["params"], g["params"]):
                id_map[int(old)] = p
        self.state = _ParamState()
        for k, v in state_dict["state"].items():
            p = id_map.get(int(k))
            if p is None:
                continue
            self.state[p] = {name: self._load_state_value(name, val, p) for name, val in v.items()}
        new_groups = []
        for g, s in zip(groups, saved_groups):
            ng = {k: (tuple(v) if k == "betas" and isinstance(v, list) else v) for k, v in s.items() if k != "params"}
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.param_groups = new_groups

    # -- helpers for subclasses ------------------------------------------------------------
    @staticmethod
    def _grads(group: dict):
        """(param, grad) pairs of the group's parameters that have a gradient; each parameter's
        version is bumped, as the step updates it in place (a graph that saved it before the
        step then refuses to backward, as torch)."""
        for p in group["params"]:
            if p.grad is not None:
                p._bump_version()
                yield p, p.grad


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)
