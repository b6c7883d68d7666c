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


def test_every_public_callable_has_a_docstring():
    mods = [nx, neuraxon.nn, neuraxon.nn.functional, neuraxon.optim, neuraxon.data]
    found = dict(item for mod in mods for item in _public(mod))
    assert len(found) > 300  # the namespaces are all there
    missing = sorted(name for name, obj in found.items() if not inspect.getdoc(obj))
    assert not missing, f"{len(missing)} public callables without a docstring: {missing}"
