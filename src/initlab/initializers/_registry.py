"""Names, aliases and configs: ``get``, ``serialize``, ``deserialize``, ``register``."""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Mapping
from typing import Any

from initlab.initializers._base import Initializer
from initlab.initializers._constant import Constant, Identity, Ones, Zeros
from initlab.initializers._extra import DeltaOrthogonal, TorchTruncatedNormal
from initlab.initializers._random import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)

__all__ = [
    "CATALOG",
    "EXTRAS",
    "catalog",
    "deserialize",
    "get",
    "register",
    "serialize",
    "canonical_name",
]

#: The catalog, in the order ``initlab list`` shows it.
CATALOG: tuple[type[Initializer], ...] = (
    Zeros,
    Ones,
    Constant,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Orthogonal,
    Identity,
    LecunUniform,
    LecunNormal,
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
)

#: Initializers beyond Keras's catalog (not in Keras, so Keras cannot load them).
EXTRAS: tuple[type[Initializer], ...] = (DeltaOrthogonal, TorchTruncatedNormal)

# Extra names Keras 3 accepts, plus the xavier_* / kaiming_* aliases (Keras semantics:
# the normal variants are truncated).
_ALIASES: dict[str, type[Initializer]] = {
    "zero": Zeros,
    "one": Ones,
    "normal": RandomNormal,
    "uniform": RandomUniform,
    "IdentityInitializer": Identity,
    "OrthogonalInitializer": Orthogonal,
    "xavier_uniform": GlorotUniform,
    "xavier_normal": GlorotNormal,
    "kaiming_uniform": HeUniform,
    "kaiming_normal": HeNormal,
}

KERAS_MODULE = "keras.initializers"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_NAMES: dict[str, type[Initializer]] = {}
_REGISTERED: dict[type[Initializer], str] = {}  # custom class -> registered name


def _index(cls: type[Initializer]) -> None:
    _NAMES[cls.__name__] = cls
    _NAMES[_snake(cls.__name__)] = cls


for _cls in CATALOG + EXTRAS:
    _index(_cls)
_NAMES.update(_ALIASES)


def canonical_name(init: Initializer | type[Initializer]) -> str:
    """The snake-case name of an initializer (``glorot_uniform``)."""
    cls = init if isinstance(init, type) else type(init)
    return _REGISTERED.get(cls, _snake(cls.__name__))


def aliases(cls: type[Initializer]) -> list[str]:
    """Every name that resolves to ``cls`` except its canonical snake-case name."""
    canonical = canonical_name(cls)
    return [name for name, c in _NAMES.items() if c is cls and name != canonical]


def catalog(include_extras: bool = False) -> list[dict[str, Any]]:
    """One entry per catalog initializer: name, class_name, aliases, formula, keras.

    Args:
        include_extras: Also list the initializers beyond Keras's catalog
            (``keras`` is False for them). Defaults to False.
    """
    classes = CATALOG + EXTRAS if include_extras else CATALOG
    return [
        {
            "name": canonical_name(cls),
            "class_name": cls.__name__,
            "aliases": aliases(cls),
            "formula": cls.formula,
            "keras": cls in CATALOG,
        }
        for cls in classes
    ]


def known_names() -> list[str]:
    return sorted(_NAMES)


def _unknown(name: str, custom_objects: Mapping[str, Any] | None = None) -> ValueError:
    names = known_names() + sorted(custom_objects or {})
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if not close:  # 'HE_NORMAL': look again without case (names are case-sensitive)
        folded: dict[str, str] = {}
        for known in sorted(names, key=lambda k: (k != k.lower(), k)):  # snake first
            folded.setdefault(known.lower(), known)
        close = [
            folded[c]
            for c in difflib.get_close_matches(
                name.lower(), list(folded), n=3, cutoff=0.6
            )
        ]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"Unknown initializer: {name!r}.{hint} Known names: "
        f"{', '.join(canonical_name(cls) for cls in CATALOG + EXTRAS)} "
        "(class names and aliases such as 'GlorotUniform', 'xavier_uniform', "
        "'kaiming_normal' are accepted too)."
    )


def _lookup(
    name: str, custom_objects: Mapping[str, Any] | None = None
) -> type[Initializer]:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _NAMES:
        return _NAMES[name]
    raise _unknown(name, custom_objects)


def register(cls: type[Initializer] | None = None, *, name: str | None = None) -> Any:
    """Register a user-defined initializer class so it is usable by name.

    Use as ``@initlab.register`` or ``@initlab.register(name="my_init")``. The
    class must subclass :class:`initlab.Initializer`. It is then found by
    ``get``, ``deserialize``, policies and the CLI's ``--inits``, under its class
    name, its snake-case name and ``name``.
    """

    def decorate(cls: type[Initializer]) -> type[Initializer]:
        if not (isinstance(cls, type) and issubclass(cls, Initializer)):
            raise TypeError(
                f"initlab.register takes a subclass of initlab.Initializer. "
                f"Received: {cls!r}."
            )
        _index(cls)
        if name is not None:
            _NAMES[name] = cls
        _REGISTERED[cls] = name or _snake(cls.__name__)
        return cls

    return decorate(cls) if cls is not None else decorate


def serialize(init: Initializer) -> dict[str, Any]:
    """Keras 3's full config form of ``init``.

    Returns:
        ``{"module": "keras.initializers", "class_name": ..., "config": {...},
        "registered_name": None}``; a registered custom class keeps its Python
        module and its registered name.
    """
    if not isinstance(init, Initializer):
        raise TypeError(f"serialize takes an initlab Initializer. Received: {init!r}.")
    cls = type(init)
    if cls in _REGISTERED:
        return {
            "module": cls.__module__,
            "class_name": cls.__name__,
            "config": init.get_config(),
            "registered_name": _REGISTERED[cls],
        }
    return {
        "module": KERAS_MODULE,
        "class_name": cls.__name__,
        "config": init.get_config(),
        "registered_name": None,
    }


def deserialize(
    config: Any, custom_objects: Mapping[str, Any] | None = None
) -> Initializer:
    """Build an initializer from a config.

    Accepts Keras 3's full form (``module``, ``class_name``, ``config``,
    ``registered_name``), the short form ``{"class_name", "config"}``, or a name.
    ``class_name`` may be a class name, snake-case name or alias.

    Raises:
        ValueError: unknown ``class_name`` or unknown config keys.
    """
    if isinstance(config, str):
        return _lookup(config, custom_objects)()
    if not isinstance(config, Mapping):
        raise TypeError(
            "An initializer config must be a dict with 'class_name' and 'config'. "
            f"Received: {config!r}."
        )
    if "class_name" not in config:
        raise ValueError(
            "An initializer config needs a 'class_name' key. Received keys: "
            f"{sorted(config)}."
        )
    unknown_top = set(config) - {"module", "class_name", "config", "registered_name"}
    if unknown_top:
        raise ValueError(
            f"Unknown keys in initializer config: {sorted(unknown_top)}. Accepted: "
            "module, class_name, config, registered_name."
        )
    name = config.get("registered_name") or config["class_name"]
    if not isinstance(name, str):
        raise ValueError(f"'class_name' must be a string. Received: {name!r}.")
    try:
        cls = _lookup(name, custom_objects)
    except ValueError:
        cls = _lookup(config["class_name"], custom_objects)
    params = config.get("config") or {}
    if not isinstance(params, Mapping):
        raise ValueError(f"'config' must be a dict. Received: {params!r}.")
    accepted = _accepted_keys(cls)
    unknown = set(params) - accepted if accepted is not None else set()
    if unknown:
        raise ValueError(
            f"Unknown keys for {cls.__name__}: {sorted(unknown)}. "
            f"Accepted: {', '.join(sorted(accepted or ())) or '(none)'}."
        )
    return cls.from_config(dict(params))


def _accepted_keys(cls: type[Initializer]) -> set[str] | None:
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.name != "self"}


def get(identifier: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Resolve ``identifier`` to an initializer.

    Args:
        identifier: A class name (``"GlorotUniform"``), a snake-case name or alias
            (``"glorot_uniform"``, ``"xavier_uniform"``, ``"kaiming_normal"``), a config
            dict, an initializer class, an instance (returned as is), or None
            (returned as None).
        custom_objects: Extra names for user-defined classes. Defaults to None.

    Raises:
        ValueError: an unknown name, with the closest known names.
        TypeError: an identifier of another type.
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier, custom_objects)()
    if isinstance(identifier, Mapping):
        return deserialize(identifier, custom_objects)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    raise TypeError(
        "Could not interpret initializer identifier: "
        f"{identifier!r}. Accepted: a name, a config dict, an Initializer class or "
        "instance."
    )
