"""Reverse-mode autograd: Function, the graph, the backward engine and grad-mode switches.

A `Function` subclass defines static `forward(ctx, *args)` and `backward(ctx, *grads)`;
`MyFn.apply(*args)` runs forward without recording and, when grad mode is on and some
tensor argument requires grad, makes `ctx` the graph node of the outputs. The node keeps
edges to its inputs' nodes (or to leaf tensors), never the intermediate tensors themselves,
so only what `ctx.save_for_backward` kept stays alive.

Every tensor a Function saves has its version (the in-place change count its buffer's aliases
share) recorded when the node is made; reading `saved_tensors` in backward raises, as torch,
if it has changed since.

`backward()` sorts the graph iteratively (deep chains cannot hit the recursion limit),
runs each node's backward once all of its output gradients are summed, accumulates into
leaf `.grad`, and frees the graph unless `retain_graph=True`.

Two hooks serve code that acts on gradients while backward is still running (data-parallel
training launches each all-reduce as soon as its gradients are ready):
- `Tensor.register_post_accumulate_grad_hook(hook)` on a leaf: `hook(leaf)` runs once per
  backward, right after the last gradient of that backward was accumulated into `leaf.grad`
  (the engine counts the graph's edges into each hooked leaf; a leaf whose count is not
  reached because some backward returned None gets its hooks at the end). Only backward()
  accumulates, so autograd.grad() never fires them (as torch).
- `queue_callback(fn)`, callable only while a backward runs (from a hook): `fn()` runs once
  that backward has finished, in the same thread (torch's
  `Variable._execution_engine.queue_callback`). A backward that raises drops its callbacks.
"""

from __future__ import annotations

import functools
import threading
import weakref

from . import _array
from ._tensor_base import TensorBase, _Version


class _GradState(threading.local):
    """Grad mode is per thread, as in PyTorch: every thread starts with it on, and no_grad()
    in one thread (or a kernel releasing the GIL inside one) never changes another's.
    `stack` holds the modes to restore on leaving the context managers entered here."""

    def __init__(self):
        self.enabled = True
        self.stack = []


_state = _GradState()


def is_grad_enabled() -> bool:
    """True when operations on this thread record a graph (see no_grad)."""
    return _state.enabled


class _GradMode:
    """Context manager and decorator that sets grad mode (restored on exit)."""

    _mode = True

    def __enter__(self):
        _state.stack.append(_state.enabled)
        _state.enabled = self._mode
        return self

    def __exit__(self, *exc):
        _state.enabled = _state.stack.pop()
        return False

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Disable graph recording: `with no_grad(): ...` or `@no_grad()` (also `@no_grad`)."""

    _mode = False

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if fn is not None and callable(fn):  # used as a bare decorator: @no_grad
            self.__init__()
            return self(fn)
        return self

    def __init__(self, fn=None):
        pass


class enable_grad(no_grad):
    """Enable graph recording inside a no_grad region (context manager or decorator)."""

    _mode = True


class set_grad_enabled(_GradMode):
    """set_grad_enabled(mode): context manager / decorator; also takes effect immediately
    when called as a plain function, like PyTorch's."""

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        _state.enabled = self._prev  # as a decorator it must not switch the mode now
        return super().__call__(fn)


class inference_mode(no_grad):
    """Alias of no_grad (neuraxon has no separate inference tensors)."""


# ------------------------------------------------------------------------------------
# Function and its context (the graph node)
# ------------------------------------------------------------------------------------


class Context:
    """What forward saves for backward; also the graph node of the outputs.

    User-visible: save_for_backward(*tensors), saved_tensors, needs_input_grad, and any
    attribute set in forward. Internal fields start with _nx_. An op's forward may set
    `_nx_read` (one flag per saved tensor, from needs_input_grad) to say which saved tensors
    its backward reads: x @ w saves x and w, but with x constant only w's gradient, from x, is
    computed, so an in-place change of w then passes, as in torch (which saves only what the
    wanted gradients need). The others' versions are checked by saved_tensors.
    """

    def save_for_backward(self, *tensors) -> None:
        self._nx_saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        d = self.__dict__
        saved = d.get("_nx_saved")
        if saved is None:
            if d.get("_nx_freed"):
                raise RuntimeError(_FREED_MSG)
            return ()
        versions = d.get("_nx_saved_ver")
        if versions is not None:
            for s, rec in zip(saved, versions):
                if rec is not None and rec[0].n != rec[1]:
                    raise RuntimeError(
                        "one of the variables needed for gradient computation has been modified by an inplace "
                        f"operation: [{s.type()} {list(s.shape)}], saved by {self.name}Backward, is at version "
                        f"{rec[0].n}; expected version {rec[1]} instead"
                    )
        return saved

    def mark_non_differentiable(self, *tensors) -> None:
        self._nx_nondiff = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        self._nx_materialize = bool(value)

    @property
    def name(self) -> str:
        fn = self.__dict__.get("_nx_fn")
        return fn.__name__ if fn is not None else "?"

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time."
)


class Function:
    """Base of every differentiable op.

        class Exp(Function):
            @staticmethod
            def forward(ctx, x):
                y = x.exp()          # runs with grad mode off
                ctx.save_for_backward(y)
                return y
            @staticmethod
            def backward(ctx, grad):
                (y,) = ctx.saved_tensors
                return grad * y      # one gradient (or None) per forward argument

    forward may return a Tensor or a tuple of Tensors; backward receives one gradient per
    output (zeros for float outputs that got none, None for int/bool outputs) and returns
    one per positional forward argument (None for non-tensors or no gradient).
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        needs = tuple([isinstance(a, TensorBase) and a.requires_grad for a in args])
        state = _state
        ctx = Context()
        ctx.needs_input_grad = needs
        prev = state.enabled
        record = prev and True in needs
        state.enabled = False
        try:
            out = cls.forward(ctx, *args, **kwargs)
        finally:
            state.enabled = prev
        if not record:
            return out
        # (plain loops below, no generator expressions: this runs once per recorded op, and
        # their setup cost more than the work on one or two outputs)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        d = ctx.__dict__
        nondiff = d.get("_nx_nondiff", ())
        fixed = []
        meta = []
        i = 0
        for o in outs:
            if isinstance(o, TensorBase):
                for a in args:
                    if o is a:  # forward returned an input: new identity
                        o = o._alias()
                        break
                dtype = o.dtype
                if dtype.is_floating_point and (not nondiff or id(o) not in nondiff):
                    o.requires_grad = True
                    o._node = ctx
                    o._out_idx = i
                meta.append((o.shape, dtype, o.device))
            else:
                meta.append(None)
            fixed.append(o)
            i += 1
        saved = d.get("_nx_saved")
        if saved:
            # a saved output would point back at this node (a reference cycle that only the
            # garbage collector frees): keep a detached alias of its data instead
            cut = None
            for j, s in enumerate(saved):
                for o in fixed:
                    if s is o and s is not None:
                        if cut is None:
                            cut = list(saved)
                        cut[j] = s.detach()
                        break
            if cut is not None:
                saved = d["_nx_saved"] = tuple(cut)
            # each saved tensor's version now: backward (saved_tensors) raises if it changed
            vers = []
            read = d.get("_nx_read")
            j = 0
            for s in saved:
                if isinstance(s, TensorBase) and (read is None or read[j]):
                    v = s._ver
                    if v is None:
                        v = s._ver = _Version()
                    vers.append((v, v.n))
                else:
                    vers.append(None)
                j += 1
            d["_nx_saved_ver"] = vers
        d["_nx_fn"] = cls
        d["_nx_meta"] = meta
        edges = []
        j = 0
        for a in args:
            if not needs[j]:
                edges.append(None)
            elif a._node is not None:
                edges.append((a._node, a._out_idx, a.shape))
            else:
                edges.append((None, a, a.shape))  # a leaf
            j += 1
        d["_nx_edges"] = edges
        return fixed[0] if single else tuple(fixed)


# ------------------------------------------------------------------------------------
# The engine
# ------------------------------------------------------------------------------------


def _topo_order(roots: list) -> list:
    """Nodes reachable from roots, each after every node that feeds gradient into it."""
    order, seen = [], set()
    for root in roots:
        if root is None or id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.__dict__.get("_nx_edges") or ()))]
        while stack:
            node, it = stack[-1]
            advanced = False
            for e in it:
                if e is not None and e[0] is not None and id(e[0]) not in seen:
                    seen.add(id(e[0]))
                    stack.append((e[0], iter(e[0].__dict__.get("_nx_edges") or ())))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


_KEEP = frozenset({"_nx_edges", "_nx_fn", "_nx_meta", "needs_input_grad", "_nx_retain"})


def _free(node) -> None:
    d = node.__dict__
    for k in [k for k in d if k not in _KEEP]:
        del d[k]
    d["_nx_freed"] = True


def _accumulate_leaf(leaf, g, owned: set) -> None:
    """leaf.grad += g (g becomes leaf.grad when there is none; copied if it may alias)."""
    if g.shape != leaf.shape:
        raise RuntimeError(f"gradient of shape {g.shape} does not match leaf of shape {leaf.shape}")
    if leaf.grad is None:
        if id(g._data) in owned:
            g = g.clone()
        owned.add(id(g._data))
        leaf.grad = TensorBase._wrap(g._data, g.shape, g.dtype, g.device)
    else:
        leaf.grad.add_(g)


class _Callbacks(threading.local):
    """Per thread: one list of queued callbacks per backward running in this thread (a hook
    may itself run a backward, so it is a stack)."""

    def __init__(self):
        self.stack = []


_callbacks = _Callbacks()
# How many post-accumulate-grad hooks are registered (all tensors): while 0, backward skips
# counting the edges into each leaf.
_post_hooks_live = [0]


def queue_callback(fn) -> None:
    """Run `fn()` once the backward pass running in this thread ends (callable only from
    inside a backward, e.g. from a gradient hook). Callbacks run in the order queued, after
    every gradient has been accumulated; one may queue another."""
    st = _callbacks.stack
    if not st:
        raise RuntimeError("queue_callback can only be called during a backward pass (from a hook)")
    st[-1].append(fn)


def _post_hooks_of(leaf):
    return leaf.__dict__.get("_nx_post_hooks")


def _run_post_hooks(leaf) -> None:
    for hook in list(leaf.__dict__.get("_nx_post_hooks", {}).values()):
        hook(leaf)


def _with_callbacks(fn):
    """fn() as one backward pass: callbacks queued meanwhile (queue_callback) run after it."""
    queued: list = []
    _callbacks.stack.append(queued)
    try:
        result = fn()
        i = 0
        while i < len(queued):  # a callback may queue another
            queued[i]()
            i += 1
    finally:
        _callbacks.stack.pop()
    return result


def run_backward(roots, grads, retain_graph: bool = False, inputs=None):
    """Backpropagate `grads` from `roots`. With `inputs` (a list of tensors), return their
    gradients instead of accumulating into leaves (autograd.grad). Callbacks queued during it
    (queue_callback) run at its end."""
    return _with_callbacks(lambda: _run_backward(roots, grads, retain_graph, inputs))


def _leaf_edge_counts(roots, order) -> dict:
    """For each leaf with post-accumulate hooks: [gradients still to come in this backward,
    the leaf, whether one arrived]. Every edge into a leaf delivers at most one gradient."""
    counts: dict = {}

    def see(leaf):
        if _post_hooks_of(leaf):
            rec = counts.get(id(leaf))
            if rec is None:
                counts[id(leaf)] = [1, leaf, False]
            else:
                rec[0] += 1

    for r in roots:
        if r._node is None and r.requires_grad:
            see(r)
    for node in order:
        for e in node.__dict__.get("_nx_edges") or ():
            if e is not None and e[0] is None:
                see(e[1])
    return counts


def _run_backward(roots, grads, retain_graph: bool = False, inputs=None):
    owned: set = set(id(g._data) for g in grads)
    want = None
    result = None
    if inputs is not None:
        want = {}
        result = [None] * len(inputs)
        for i, t in enumerate(inputs):
            key = ("n", id(t._node), t._out_idx) if t._node is not None else ("l", id(t))
            want.setdefault(key, []).append(i)

    def deliver_leaf(leaf, g):
        for hook in list(leaf.__dict__.get("_nx_hooks", {}).values()):  # Tensor.register_hook
            r = hook(g)
            if r is not None:
                g = r
        if want is not None:
            for i in want.get(("l", id(leaf)), ()):
                result[i] = g if result[i] is None else result[i] + g
        else:
            _accumulate_leaf(leaf, g, owned)
            if post:
                rec = post.get(id(leaf))
                if rec is not None:
                    rec[0] -= 1
                    rec[2] = True
                    if rec[0] == 0:  # its last gradient of this backward
                        del post[id(leaf)]
                        _run_post_hooks(leaf)

    root_nodes = [r._node for r in roots if r._node is not None]
    order = _topo_order(root_nodes)
    post = _leaf_edge_counts(roots, order) if want is None and _post_hooks_live[0] else None
    pending: dict = {}
    for r, g in zip(roots, grads):
        if r._node is not None:
            slot = pending.setdefault(id(r._node), [None] * len(r._node._nx_meta))
            i = r._out_idx
            slot[i] = g if slot[i] is None else slot[i] + g
        elif r.requires_grad:
            deliver_leaf(r, g)
    state = _state
    prev = state.enabled
    state.enabled = False
    try:
        for node in order:
            gs = pending.pop(id(node), None)
            if gs is None:
                continue
            d = node.__dict__
            if d.get("_nx_freed"):
                raise RuntimeError(_FREED_MSG)
            meta = d["_nx_meta"]
            for i, g in enumerate(gs):
                if g is None and meta[i] is not None and meta[i][1].is_floating_point:
                    gs[i] = _array.zeros(meta[i][0], meta[i][1], meta[i][2])
            hooks = d.get("_nx_hooks")
            if hooks:  # Tensor.register_hook on this node's outputs: may replace the gradient
                for i, fns in hooks.items():
                    for hook in list(fns.values()):
                        if gs[i] is not None:
                            r = hook(gs[i])
                            if r is not None:
                                gs[i] = r
            retain = d.get("_nx_retain") if want is None else None
            if retain:
                for i, ref in retain.items():
                    t = ref()
                    if t is not None and gs[i] is not None:
                        t.grad = gs[i].clone() if t.grad is None else t.grad + gs[i]
            if want is not None:
                for i, g in enumerate(gs):
                    for j in want.get(("n", id(node), i), ()):
                        result[j] = g if result[j] is None else result[j] + g
            in_grads = d["_nx_fn"].backward(node, *gs)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            edges = d["_nx_edges"]
            if len(in_grads) < len(edges):
                in_grads = in_grads + (None,) * (len(edges) - len(in_grads))
            for e, g in zip(edges, in_grads):
                if e is None or g is None:
                    continue
                if not isinstance(g, TensorBase):
                    raise TypeError(f"{node.name}.backward returned {type(g).__name__}, expected a Tensor")
                if g.shape != e[2]:
                    raise RuntimeError(
                        f"{node.name}.backward returned a gradient of shape {g.shape} for an input of shape {e[2]}"
                    )
                if e[0] is None:
                    deliver_leaf(e[1], g)
                else:
                    slot = pending.setdefault(id(e[0]), [None] * len(e[0]._nx_meta))
                    i = e[1]
                    slot[i] = g if slot[i] is None else slot[i] + g
            if not retain_graph:
                _free(node)
        if post:  # leaves some of whose edges brought no gradient (a backward returned None)
            for rec in list(post.values()):
                if rec[2]:
                    _run_post_hooks(rec[1])
    finally:
        state.enabled = prev
    return result


def _seed_grads(roots, grads, what: str, of: str) -> list:
    """The gradients backward starts from, one per root: the given ones (detached, shapes
    checked) or ones for a one-element root; roots must require grad."""
    if grads is None or isinstance(grads, TensorBase):
        grads = [grads] * len(roots)
    gs = []
    for t, g in zip(roots, grads):
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs (got shape {t.shape})")
            g = _array.full(t.shape, 1.0, t.dtype, t.device)
        elif g.shape != t.shape:
            raise RuntimeError(f"{what} of shape {g.shape} does not match {of} of shape {t.shape}")
        gs.append(TensorBase._wrap(g._data, g.shape, g.dtype, g.device))  # detached
    return gs


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None, inputs=None) -> None:
    """neuraxon.autograd.backward(tensors, grad_tensors=None, retain_graph=None, inputs=None):
    with `inputs`, only those tensors' .grad accumulate (as torch)."""
    if isinstance(tensors, TensorBase):
        tensors = [tensors]
    gs = _seed_grads(tensors, grad_tensors, "gradient", "tensor")
    if inputs is None:
        run_backward(list(tensors), gs, retain_graph=bool(retain_graph))
        return
    inputs = [inputs] if isinstance(inputs, TensorBase) else list(inputs)
    if not inputs:
        raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty")
    for t in inputs:
        if not isinstance(t, TensorBase) or not t.requires_grad:
            raise RuntimeError("backward: every tensor in 'inputs' must require grad")

    def run():
        res = _run_backward(list(tensors), gs, retain_graph=bool(retain_graph), inputs=inputs)
        owned: set = set()
        for t, g in zip(inputs, res):
            if g is not None:
                _accumulate_leaf(t, g, owned)
                if t._node is None and _post_hooks_of(t):
                    _run_post_hooks(t)

    _with_callbacks(run)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
):
    """Gradients of outputs w.r.t. inputs, returned as a tuple (leaves' .grad untouched).
    create_graph (higher-order gradients) is not supported."""
    if create_graph:
        raise NotImplementedError("neuraxon.autograd.grad: create_graph=True is not supported")
    if isinstance(outputs, TensorBase):
        outputs = [outputs]
    single = isinstance(inputs, TensorBase)
    if single:
        inputs = [inputs]
    gs = _seed_grads(outputs, grad_outputs, "grad_outputs", "output")
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    res = run_backward(list(outputs), gs, retain_graph=bool(retain_graph), inputs=list(inputs))
    if not allow_unused and any(r is None for r in res):
        raise RuntimeError(
            "One of the differentiated Tensors appears to not have been used in the graph. "
            "Set allow_unused=True if this is the desired behavior."
        )
    return tuple(res)


def _retain(t) -> None:
    node = t._node
    if node is None:
        return
    node.__dict__.setdefault("_nx_retain", {})[t._out_idx] = weakref.ref(t)
