"""Every public callable of the namespaces users read (neuraxon, nn, nn.functional, optim, data)
has a docstring: `help(nx.zeros)` must say what it does."""

from __future__ import annotations

import inspect

import neuraxon as nx
import neuraxon.data
import neuraxon.nn
import neuraxon.nn.functional
import neuraxon.optim


def _public(mod):
    names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
    for n in names:
        obj = getattr(mod, n, None)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            yield f"{mod.__name__}.{n}", obj


def _inherited(obj) -> bool:
    return inspect.isclass(obj) and not (obj.__dict__.get("__doc__") or "").strip()


def test_every_public_callable_has_a_docstring():
    mods = [nx, neuraxon.nn, neuraxon.nn.functional, neuraxon.optim, neuraxon.data]
    found = dict(item for mod in mods for item in _public(mod))
    assert len(found) > 300  # the namespaces are all there
    # its own docstring: a class that only inherits Module's says nothing about what it does
    missing = sorted(name for name, obj in found.items() if not (obj.__doc__ or "").strip() or _inherited(obj))
    assert not missing, f"{len(missing)} public callables without a docstring: {missing}"
