"""The registry of talklab's adjustments to aioice and aiortc: each lab's :class:`Settings`,
the context variables a lab's tasks carry them in, and every replacement a module of this
package registers (:func:`patch`), with aioice's own attribute kept beside it (:func:`stock`).

A leaf of the package: the modules that register replacements import it, and
:mod:`talklab._aiortc` installs what they registered while labs run (:func:`install`,
:func:`uninstall`, counted per lab).

Tested in tests/test_aiortc_internals.py (every replacement registered is in the table, an
unlisted one is refused) and tests/test_aiortc_adjustments.py (settings that make no sense are
refused; installed per lab, uninstalled when the last lab closes).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from talklab._aiortc.internals import STOCK, entry
from talklab.ice.nomination import DEFAULT_PATIENCE, DEFAULT_WAIT

DEFAULT_CHECK_RETRIES = 3


@dataclass(frozen=True)
class Settings:
    """How aioice behaves for one lab's people."""

    check_retries: int = DEFAULT_CHECK_RETRIES  # STUN retransmissions: 3 -> failure in 7.5 s
    consent_retries: int = 2  # a consent check waits 0.5 + 1 + 2 s, not aioice's 0.5 s
    nomination: str = "best"  # "best": talklab's rule; "first": aioice's own
    nomination_patience: float = DEFAULT_PATIENCE  # s a better pair's check may go unanswered
    nomination_wait: float = DEFAULT_WAIT  # s after the first success, at most
    decoding: str = "loop"  # "loop": audio decoded on the event loop; "thread": aiortc's own

    def __post_init__(self) -> None:
        if type(self.check_retries) is not int or not 0 <= self.check_retries <= 10:
            raise ValueError(f"check_retries must be an integer from 0 to 10, "
                             f"got {self.check_retries!r}")
        if self.nomination not in ("best", "first"):
            raise ValueError(f"nomination must be 'best' or 'first', got {self.nomination!r}")
        if self.decoding not in ("loop", "thread"):
            raise ValueError(f"decoding must be 'loop' or 'thread', got {self.decoding!r}")
        for name in ("nomination_patience", "nomination_wait"):
            if not 0 <= getattr(self, name) <= 30:
                raise ValueError(f"{name} must be 0 to 30 s, got {getattr(self, name)!r}")


SETTINGS: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "talklab_settings", default=None)
HOST: contextvars.ContextVar[Any] = contextvars.ContextVar("talklab_host", default=None)


@dataclass
class Patch:
    """One attribute of aiortc/aioice replaced while labs run."""

    owner: Any
    name: str
    replacement: Callable[..., Any]
    stock: Any = None
    own: bool = True  # defined on owner itself (not inherited): restored, else deleted again


_patches: list[Patch] = []
_stock: dict[tuple[int, str], Any] = {}  # (id(owner), name) -> what the patch replaces
_users = 0


def patch(owner: Any, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the replacement of ``owner.name`` (not applied yet).
    The stock attribute is kept, so the replacement can call it: ``stock(owner, name)``.
    ``owner.name`` must be an entry of :data:`.internals.TABLE` marked ``patched``."""
    found = entry(owner, name)
    if found is None or not found.patched:
        raise LookupError(f"{owner!r}.{name} is replaced but not in talklab._aiortc.internals' "
                          f"table as patched")

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        own = not isinstance(owner, type) or name in vars(owner)
        original = getattr(owner, name)
        _patches.append(Patch(owner, name, function, original, own))
        _stock[(id(owner), name)] = original
        # the replacement carries what it replaces, so the table's check still sees aioice's
        # own while the replacement is installed (:func:`.internals.verify`)
        carried = getattr(function, STOCK, {})
        carried[(id(owner), name)] = original
        setattr(function, STOCK, carried)
        return function
    return register


def stock(owner: Any, name: str) -> Any:
    """aioice's own ``owner.name``, whether or not the adjustments are installed (one dict
    lookup: replacements call it for every packet)."""
    found = _stock.get((id(owner), name), _MISSING)
    return getattr(owner, name) if found is _MISSING else found


_MISSING = object()


def installed() -> bool:
    return _users > 0


def install() -> None:
    """One more lab runs: the first puts every registered replacement in place."""
    global _users
    if _users == 0:
        for p in _patches:
            setattr(p.owner, p.name, p.replacement)
    _users += 1


def uninstall() -> None:
    """One lab fewer: when it was the last, put every stock attribute back."""
    global _users
    if _users == 0:
        return
    _users -= 1
    if _users == 0:
        for p in reversed(_patches):
            if p.own:
                setattr(p.owner, p.name, p.stock)
            else:
                delattr(p.owner, p.name)




def bind(settings: Settings | None) -> None:
    """Run the rest of the current task (and every task it starts) with ``settings``."""
    SETTINGS.set(settings)


def settings_of(owner: Any) -> Settings | None:
    """The settings an aioice object was made under (see :mod:`.checks`), else the current."""
    if hasattr(owner, "_talklab_settings"):
        made_under: Settings | None = owner._talklab_settings
        return made_under
    return SETTINGS.get()
