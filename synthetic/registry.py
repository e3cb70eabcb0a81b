"""A small name -> object registry with a lookup error that lists what exists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """Raised when a registry lookup misses; the message lists the known names."""

    def __str__(self) -> str:
        # KeyError.__str__ quotes its argument; we want the plain sentence.
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Maps names to objects (classes or factories) of one kind, e.g. observation maps."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering its target under `name`; a duplicate name is an error."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {self.kind} name must be a non-empty string, got {name!r}.")

        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(
                    f"The {self.kind} {name!r} is already registered; pick another name."
                )
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Return the object registered under `name` or raise `UnknownNameError`."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownNameError(
                f"Unknown {self.kind} {name!r}. Available: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"
