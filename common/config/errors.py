"""The config's error class (its own module so the loader and the experiment plan both raise it)."""
from __future__ import annotations

from common.errors import UserError


class ConfigError(UserError, ValueError):
    """A config file or override names an unknown key or gives a value of the wrong type."""
