"""neuraxon.nn.functional: re-exports neuraxon.functional (torch.nn.functional-shaped)."""

from ..functional import *  # noqa: F401,F403
