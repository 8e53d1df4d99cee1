"""Read-only JSON containers, so that results can share their constant parts (reasons, triggers, actions).

`FrozenDict` and `FrozenList` are `dict` and `list` subclasses: `json.dumps`, RFC 8785, Pydantic and `isinstance`
checks treat them as the plain containers they equal (`FrozenList(["a"]) == ["a"]`), but every mutating method
raises TypeError. `copy.copy`, `copy.deepcopy` and pickling give plain, mutable `dict` / `list` copies (deep ones
are mutable all the way down), and so do `dict(x)`, `list(x)`, `x.copy()` and `x | y` / `x + y`.

They guard against accidental mutation, not against a determined caller: `dict.__setitem__(x, k, v)` or calling
`x.__init__` again still writes. Construction is the built-in one (no Python code runs), so building one costs what
building a dict or list costs.
"""

from __future__ import annotations

import copy
from typing import Any, NoReturn


def _read_only(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is read-only (results share it); copy it first, e.g. with dict() or list()")


class FrozenDict(dict[str, Any]):
    """A dict whose mutating methods raise TypeError; copies of it are plain dicts."""

    __slots__ = ()

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (dict(self),)


class FrozenList(list[Any]):
    """A list whose mutating methods raise TypeError; copies of it are plain lists."""

    __slots__ = ()

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(value, memo) for value in self]

    def __reduce__(self) -> tuple[type[list[Any]], tuple[list[Any]]]:
        return list, (list(self),)


def freeze(value: Any) -> Any:
    """`value` with every dict and list (at any depth) turned into a FrozenDict / FrozenList; tuples stay tuples."""
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(item) for item in value)
    return value
