"""User modules that register initializers, imported by name."""

from __future__ import annotations

import importlib
import os

ENV = "INITLAB_IMPORT"


def import_plugins(modules: list[str] | None = None) -> list[str]:
    """Import ``modules`` (default: those listed in ``INITLAB_IMPORT``).

    Registered initializers become known by name in the importing process. The full
    list is written back to ``INITLAB_IMPORT`` so that worker processes started
    later (study workers) import the same modules.

    Returns:
        The module names imported.

    Raises:
        ValueError: a module cannot be imported; the message names it.
    """
    names = [m.strip() for m in os.environ.get(ENV, "").split(",")]
    names += [m.strip() for m in modules or []]
    names = list(dict.fromkeys(filter(None, names)))
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # any failure in user code is a bad module name
            raise ValueError(
                f"Cannot import module {name!r} (from --import or {ENV}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    if names:
        os.environ[ENV] = ",".join(names)
    return names
