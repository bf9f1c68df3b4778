"""Importing whoosh for a search, without the modules it loads and search never uses.

whoosh (Whoosh-Reloaded 2.7) costs ~90 ms to import, most of a `fixme search`
process, and half of that is modules search never touches:

* `urllib.request`, imported by whoosh.compat for `urlretrieve` (with http
  and email: ~30 ms);
* `asyncio`, imported by the cached_property package, which asks it whether
  a property's function is a coroutine (~12 ms);
* `whoosh.lang.morph_en`, the English variation tables behind Variations
  queries, which fixme never builds (~6 ms of regular expressions).

Importing only the whoosh submodules search needs does not help: the package
`__init__`s and whoosh.compat load the rest. So while whoosh imports, those
of the three not loaded yet are stand-ins in sys.modules; then the stand-ins
are taken out again. whoosh keeps the stand-ins' functions, which load the
real module if they are ever called (asyncio's question is answered by
inspect, which gives the same answer for whoosh's plain functions), and any
later `import` gets the real module. Upstream whoosh would need lazy imports
to do better; until it has them, this keeps the gain inside fixme.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from types import ModuleType

# What search imports from whoosh (the rest comes with these).
WHOOSH_MODULES = ("whoosh.index", "whoosh.qparser", "whoosh.query")


def load_whoosh() -> None:
    """Import whoosh now (e.g. while `git status` runs for the scan before a search)."""
    if all(name in sys.modules for name in WHOOSH_MODULES):
        return
    stand_ins = {name: module for name, module in _stand_ins().items() if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        for name in WHOOSH_MODULES:
            importlib.import_module(name)
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _stand_ins() -> dict[str, ModuleType]:
    return {
        "urllib.request": _module("urllib.request", urlretrieve=_deferred("urllib.request", "urlretrieve")),
        "asyncio": _module("asyncio", iscoroutinefunction=inspect.iscoroutinefunction,
                           ensure_future=_deferred("asyncio", "ensure_future")),
        "whoosh.lang.morph_en": _module("whoosh.lang.morph_en",
                                        variations=_deferred("whoosh.lang.morph_en", "variations")),
    }


def _module(name: str, **functions) -> ModuleType:
    module = ModuleType(name, f"fixme's stand-in for {name} while whoosh imports (see {__name__})")
    for attr, function in functions.items():
        setattr(module, attr, function)
    return module


def _deferred(module: str, name: str):
    """A function that imports `module` when first called, and calls its `name`."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = name
    return call
