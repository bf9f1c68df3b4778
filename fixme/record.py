"""Plain data classes without @dataclass, for the modules every scan loads.

@dataclass builds each class by compiling generated source: ~0.3-1 ms per
class, plus ~9 ms to import dataclasses (and inspect, ast, ...) at all. On
a scan after a one-file commit that was a fifth of the run. So the modules
an incremental scan loads declare their data classes in one of two ways:

* immutable values: `collections.namedtuple` subclasses (cheap to create,
  hashable, compared by value);
* mutable records: `Record` subclasses that list their fields in
  `__slots__` and write `__init__` out; equality and repr come from here.
"""

from __future__ import annotations


class Record:
    """Equality and repr over the fields named in `__slots__` (like a dataclass's)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # mutable, so unhashable, as a dataclass with eq=True

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def as_dict(self) -> dict:
        """A shallow dict of the fields (what `vars()` gives for a class without slots)."""
        return {name: getattr(self, name) for name in self.__slots__}
