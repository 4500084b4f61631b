"""A read-only mapping type for mapping-valued config keys."""
from __future__ import annotations

from typing import Any


class FrozenDict(dict):
    """A read-only, picklable dict for mapping-valued keys (e.g. ``data.roots``)."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("config is frozen; build a new one with load_config(..., opts=[...])")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore

    def __hash__(self) -> int:  # frozen dataclasses hash their fields; values may be nested mappings/lists
        return hash(repr(sorted(self.items(), key=lambda kv: str(kv[0]))))

    def __reduce__(self):  # pickle via a plain dict, not through the blocked __setitem__
        return (FrozenDict, (dict(self),))
