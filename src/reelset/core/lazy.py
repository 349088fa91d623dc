"""Public names of a package imported on first use (PEP 562), so ``import reelset`` and ``reelset --help`` stay fast:
``reelset.action100m.build`` imports FiftyOne's side of the package only when it is called."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` for ``exports`` (public name -> the module that defines it,
    relative to ``package``, with ``:name`` when it is named otherwise there: ``{"build": ".pipeline",
    "build_action100m": ".action100m:build"}``). Give the package ``__all__ = list(exports)`` as well."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = exports[name].partition(":")
        value = getattr(importlib.import_module(module, package), attribute or name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(exports))

    return __getattr__, __dir__
