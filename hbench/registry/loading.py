"""Finding and importing plugin code: the pluggy side of the plugin system, and nothing else.

This module answers "which plugins are there, and did their code load?"; what the plugins then
register (and how it is looked up) lives in `registry`. Keeping the two apart means the
guarded-import logic below can be read, and tested, without the registration rules.

Loading follows pytest/pluggy's rule for third-party code: every entry point is imported inside
its own ``except Exception`` guard, so one broken plugin (a missing dependency, a syntax error, a
hook with a wrong signature) becomes a ``failed`` line in `hbench plugins` instead of taking the
whole CLI down with it. Nothing here raises because of a plugin.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from hbench.errors import did_you_mean
from hbench.registry import hookspecs

#: Comma-separated plugin (entry point) or distribution names to switch off without uninstalling
#: them, e.g. when a broken plugin's import has side effects or takes too long.
DISABLE_ENV = "HBENCH_DISABLE_PLUGINS"

#: The distribution whose plugins are hbench's own; they load first (see `load_plugins`).
BUILTIN_DISTRIBUTION = "hbench"

PluginStatus = Literal["loaded", "failed", "disabled"]


@dataclass
class PluginInfo:
    """What happened to one plugin, kept so `hbench plugins` can show failures, not hide them.

    ``status`` is about the plugin's code as a whole:

    * ``"loaded"``: imported and registered with pluggy, so its hooks were called. ``errors`` may
      still list problems (a hook that raised, a rejected or duplicate registration): a plugin
      that provides nine good models and one bad one keeps the nine.
    * ``"failed"``: its code could not be imported or registered with pluggy; it provides
      nothing and ``errors`` says why.
    * ``"disabled"``: switched off by the user; never imported.
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    status: PluginStatus = "loaded"
    errors: list[str] = field(default_factory=list)
    #: What the entry point points at ("package.module"), or the module of a directly given
    #: plugin object; shown so a user can find the code behind a failure.
    target: str | None = None

    @property
    def label(self) -> str:
        """How messages name this plugin: ``plugin 'tree' (hbench 0.1.0)``."""
        return plugin_label(self.name, self.distribution, self.version)

    @property
    def ok(self) -> bool:
        """Loaded and without any reported problem."""
        return self.status == "loaded" and not self.errors

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, for `hbench plugins --json` and bug reports."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "errors": list(self.errors),
            "target": self.target,
        }


def plugin_label(name: str, distribution: str | None, version: str | None) -> str:
    """Name a plugin with the distribution that installed it, the thing a user can uninstall."""
    if distribution is None:
        return f"plugin {name!r}"
    if version is None:
        return f"plugin {name!r} ({distribution})"
    return f"plugin {name!r} ({distribution} {version})"


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, because plugin errors are shown in tables and logs."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def normalize_name(name: str) -> str:
    """Fold case and treat '-', '_' and '.' alike, as packaging does: ``Foo_Bar`` is ``foo-bar``."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def disabled_names(disabled: Iterable[str] | None = None) -> frozenset[str]:
    """The normalised names to switch off: ``disabled`` if given, else `DISABLE_ENV`."""
    if disabled is None:
        disabled = os.environ.get(DISABLE_ENV, "").split(",")
    elif isinstance(disabled, str):  # a lone string would otherwise be read letter by letter
        disabled = disabled.split(",")
    return frozenset(normalize_name(name) for name in disabled if name.strip())


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh manager that knows hbench's hookspecs and no plugin yet.

    Fresh on every call (no module-level manager) so tests and `registry.load_registry`
    never see plugins left over from an earlier load.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    pm: pluggy.PluginManager,
    *,
    group: str = "hbench",
    disabled: Iterable[str] | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
    entry_points: bool = True,
) -> list[PluginInfo]:
    """Import and register every plugin with ``pm``; one `PluginInfo` per plugin seen, in order.

    Entry points of ``group`` come first, then ``extra_plugins`` in the order given. Entry
    points are sorted so that the same installed plugins always load in the same order (which
    decides who wins a duplicate name): hbench's own distribution first, so a third-party
    plugin cannot shadow a built-in just by sorting earlier, then by entry point name.

    A name in ``disabled`` (default: the `DISABLE_ENV` variable) matching a plugin name or a
    distribution name switches that plugin off before it is imported.
    """
    off = disabled_names(disabled)
    infos: list[PluginInfo] = []
    seen: dict[str, PluginInfo] = {}

    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=group), key=_load_order):
            distribution, version = _distribution_of(ep)
            info = PluginInfo(ep.name, distribution, version, target=ep.value)
            infos.append(info)
            if _is_disabled(off, ep.name, distribution):
                info.status = "disabled"
                continue
            if not _claim_name(seen, info):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                _fail(info, f"{info.label} failed to load {ep.value!r}: {one_line(exc)}")
                continue
            _register(pm, info, plugin)

    for name, plugin in extra_plugins:
        info = PluginInfo(name, target=getattr(plugin, "__name__", type(plugin).__qualname__))
        infos.append(info)
        if _is_disabled(off, name, None):
            info.status = "disabled"
        elif _claim_name(seen, info):
            _register(pm, info, plugin)
    return infos


def _load_order(ep: importlib.metadata.EntryPoint) -> tuple[bool, str, str, str]:
    distribution, _ = _distribution_of(ep)
    builtin = distribution is not None and normalize_name(distribution) == BUILTIN_DISTRIBUTION
    return (not builtin, ep.name, distribution or "", ep.value)


def _distribution_of(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    """The installing distribution's name and version; ``None`` where metadata is missing."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        return dist.metadata["Name"] or None, dist.version or None
    except Exception:  # broken metadata must not stop the plugin from being listed
        return None, None


def _is_disabled(off: frozenset[str], name: str, distribution: str | None) -> bool:
    if normalize_name(name) in off:
        return True
    return distribution is not None and normalize_name(distribution) in off


def _claim_name(seen: dict[str, PluginInfo], info: PluginInfo) -> bool:
    """Plugin names key everything (pluggy, errors, the registry), so the first one keeps it."""
    first = seen.get(info.name)
    if first is not None:
        _fail(info, f"{info.label} has the same name as {first.label}; ignored")
        return False
    seen[info.name] = info
    return True


def _fail(info: PluginInfo, message: str) -> None:
    info.status = "failed"
    info.errors.append(message)


def _register(pm: pluggy.PluginManager, info: PluginInfo, plugin: object) -> None:
    """Register with pluggy (which checks hook signatures), then check the hook names."""
    try:
        pm.register(plugin, name=info.name)
    except Exception as exc:  # pluggy's PluginValidationError, or ValueError for a re-register
        _fail(info, f"{info.label} could not be registered: {one_line(exc)}")
        return

    known = list(hookspecs.HOOK_FOR_KIND.values())
    callers = pm.get_hookcallers(plugin) or []
    for caller in callers:
        if caller.has_spec():
            continue
        impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
        if all(impl.optionalhook for impl in impls):
            continue
        hint = did_you_mean(caller.name, known)
        suggestion = f"; did you mean {hint!r}?" if hint else ""
        info.errors.append(
            f"{info.label} implements unknown hook {caller.name!r}{suggestion}"
            f" (hooks: {', '.join(known)}); ignored"
        )
    if not any(caller.has_spec() for caller in callers):
        info.errors.append(
            f"{info.label} implements none of the hbench hooks"
            " (is each hook function marked with @hookimpl from hbench.registry.hookspecs?)"
        )
