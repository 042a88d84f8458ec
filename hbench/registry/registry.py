"""What the plugins registered, and how the rest of hbench finds it by kind and name.

`load_registry` asks `loading` to import the plugins, then calls each plugin's hooks one
plugin at a time with a ``register`` callback bound to that plugin. Calling hooks individually
(rather than ``pm.hook.hbench_register_models(...)`` once for all) is what lets hbench say *which*
plugin broke, keep every other plugin's items when one hook raises, and name both sides of a
duplicate. A registration is only a record (`Registration`): nothing is built, and a string
factory is not even imported, until `Registration.create` is called, so listing what is
installed stays fast and works without the heavy libraries a model may need.

Errors follow `hbench.errors`: what the user typed wrong (an unknown name, a bad option) is a
`UsageError` with one line that names the item, the field, the value and what is allowed; what
a plugin did wrong is a `PluginError` (raised on use) or an entry in `Registry.errors` (found
while loading, which never raises because of a plugin).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pluggy
from pydantic import BaseModel, ConfigDict, ValidationError

from hbench.errors import (
    HbenchError,
    PluginError,
    UsageError,
    did_you_mean,
    pydantic_message,
    unknown,
)
from hbench.registry.hookspecs import HOOK_FOR_KIND, KINDS
from hbench.registry.loading import (
    PluginInfo,
    load_plugins,
    make_plugin_manager,
    one_line,
    plugin_label,
)

__all__ = [
    "KINDS",
    "NAME_PATTERN",
    "NoOptions",
    "PluginInfo",
    "Registration",
    "Registry",
    "get_registry",
    "load_registry",
    "reset_registry",
]

#: Item names are typed on command lines and used in file names, hence this conservative shape.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")

_IDENTIFIER = r"[A-Za-z_]\w*"
_FACTORY_PATH = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}(\.{_IDENTIFIER})*$")


class NoOptions(BaseModel):
    """The config of an item registered without one: it accepts no option at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Registration:
    """One registered item: how to build it, what options it takes, and who provided it.

    ``factory`` is called with the validated config instance; a ``"package.module:attr"``
    string is imported only by `load` (that is, on `create`), never at registration.
    """

    kind: str
    name: str
    factory: Callable[..., Any] | str
    config: type[BaseModel]
    plugin: str
    distribution: str | None = None
    version: str | None = None
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Read-only, so a caller cannot change flags (e.g. privileged=True) of a shared item.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def label(self) -> str:
        """How messages name the item: ``model 'transformer'``."""
        return f"{self.kind} {self.name!r}"

    @property
    def source(self) -> str:
        """How messages name the provider: ``plugin 'tree' (hbench 0.1.0)``."""
        return plugin_label(self.plugin, self.distribution, self.version)

    @property
    def value(self) -> Any:
        """What a suite registration holds (a `hbench.suites.Suite`); None for other kinds,
        which are built by `create`."""
        return getattr(self.factory, "value", None) if self.kind == "suite" else None

    @property
    def options(self) -> list[str]:
        """The option names the config accepts, as a user spells them (aliases if any)."""
        return [info.alias or name for name, info in self.config.model_fields.items()]

    def validate_config(
        self,
        values: Mapping[str, Any] | BaseModel | None = None,
        *,
        spelled: Mapping[str, str] | None = None,
        suggest: Mapping[str, str] | Callable[[str], str] | None = None,
    ) -> BaseModel:
        """Check user options against the config class; any problem is one `UsageError` line.

        An instance of the config class is returned as is; another pydantic model is validated
        from its fields; ``None`` means "all defaults".

        Messages name options by name (``option depth=0 is invalid``) unless told how the user
        wrote them. ``spelled`` maps an option to what was typed (``{"q": "--q=1", "width":
        "--grammar-arg width=8"}``); a message then starts with that: ``--q=1 is invalid for
        grammar 'hierarchical': must be greater than or equal to 2``, or ``--sigma=2.0 and
        --productions=M.npy are invalid together for ...`` for a rule about several options.
        ``suggest`` maps an option (or is a function of it) to how to give it, e.g. ``--sigma``:
        used for "did you mean", the list of options and a missing option (default: the name,
        quoted), and inside a message of a rule about several options in place of the name,
        where it is one word (a flag, not ``--grammar-arg width=...``).
        """
        if isinstance(values, self.config):
            return values
        if values is None:
            data: Any = {}
        elif isinstance(values, BaseModel):
            data = values.model_dump()
        elif isinstance(values, Mapping):
            data = dict(values)
        else:
            raise UsageError(
                f"{self.label}: options must be a mapping of option names to values,"
                f" not {type(values).__name__}"
            )
        try:
            return self.config.model_validate(data)
        except ValidationError as exc:
            raise UsageError("; ".join(self._explain(exc, spelled or {}, suggest))) from None

    def _explain(
        self,
        exc: ValidationError,
        spelled: Mapping[str, str],
        suggest: Mapping[str, str] | Callable[[str], str] | None,
    ) -> list[str]:
        """pydantic's errors in the user's words: what they typed, values, choices, flags."""
        options = self.options
        if suggest is None:
            flags: dict[str, str] = {}
        elif isinstance(suggest, Mapping):
            flags = {key: suggest[key] for key in options if key in suggest}
        else:
            flags = {key: suggest(key) for key in options}
        words = {key: flag for key, flag in flags.items() if flag and len(flag.split()) == 1}
        messages: list[str] = []
        for error in exc.errors(include_url=False):
            loc = [str(part) for part in error["loc"]]
            key = loc[-1] if error["type"] == "extra_forbidden" else loc[0] if loc else ""
            given = spelled.get(key)
            message = pydantic_message(error)
            if error["type"] == "extra_forbidden":
                line = f"{self.label} has no option {key!r}; "
                close = did_you_mean(key, options)
                if close:
                    line += f"did you mean {flags.get(close) or repr(close)}? "
                listed = ", ".join(flags.get(option) or option for option in options)
                if not options:
                    line += "it takes no options"
                else:
                    line += f"{'its ' if given else ''}options: {listed}"
                if given:
                    line = f"{given} is invalid: {line}"
            elif error["type"] == "missing":
                line = f"{self.label} needs the option {flags.get(key) or repr(key)}"
            elif not loc:  # a rule about several options together
                line = self._explain_together(message, spelled, words)
            elif given:
                line = f"{given} is invalid for {self.label}: {message}"
            else:
                where = ".".join(loc)
                line = f"{self.label}: option {where}={error.get('input')!r} is invalid: {message}"
            messages.append(line)
        return messages

    def _explain_together(
        self, message: str, spelled: Mapping[str, str], words: Mapping[str, str]
    ) -> str:
        """A model-level error: the options it mentions named as typed, names written as flags."""
        mentioned = [given for key, given in spelled.items() if _whole_word([key]).search(message)]
        if words:
            message = _whole_word(words).sub(lambda match: words[match[0]], message)
        if not mentioned:
            return f"{self.label}: the options are invalid: {message}"
        if len(mentioned) == 1:
            return f"{mentioned[0]} is invalid for {self.label}: {message}"
        together = ", ".join(mentioned[:-1]) + f" and {mentioned[-1]}"
        return f"{together} are invalid together for {self.label}: {message}"

    def load(self) -> Callable[..., Any]:
        """The factory itself, importing it now if it was registered as a string."""
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, attribute = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                obj = getattr(obj, part)
        except Exception as exc:  # ImportError, AttributeError, or the module's own crash
            raise PluginError(
                f"{self.label} from {self.source}: cannot load factory {self.factory!r}:"
                f" {one_line(exc)}"
            ) from exc
        if not callable(obj):
            raise PluginError(
                f"{self.label} from {self.source}: factory {self.factory!r} is a"
                f" {type(obj).__name__}, not a callable"
            )
        return obj

    def create(self, config: Mapping[str, Any] | BaseModel | None = None) -> Any:
        """Validate ``config`` and build the item: ``factory(validated_config)``; for a metric
        or an analysis, whose item is a function called on each use, that function.

        An exception other than hbench's own, raised by the factory, is the plugin's fault and
        becomes a `PluginError` naming it (the original stays chained for a traceback).
        """
        options = self.validate_config(config)
        factory = self.load()
        if self.kind in FUNCTION_KINDS:  # the item is the function itself (called per use)
            return factory
        try:
            return factory(options)
        except HbenchError:
            raise
        except Exception as exc:
            raise PluginError(
                f"{self.label} from {self.source} failed to build: {one_line(exc)}"
            ) from exc

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary; the factory is described, never imported."""
        factory = self.factory
        if not isinstance(factory, str):
            module = getattr(factory, "__module__", "?")
            factory = f"{module}:{getattr(factory, '__qualname__', type(factory).__qualname__)}"
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "description": self.description,
            "factory": factory,
            "options": self.options,
            "metadata": {key: _jsonable(value) for key, value in self.metadata.items()},
        }


class Registry:
    """All registered items by kind and name, plus what happened to each plugin.

    Built by `load_registry`; it can also be built directly from registrations (in tests, or
    to combine items programmatically), in which case a duplicate is a ``ValueError``.
    """

    def __init__(
        self, items: Iterable[Registration] = (), plugins: Iterable[PluginInfo] = ()
    ) -> None:
        self._items: dict[str, dict[str, Registration]] = {kind: {} for kind in KINDS}
        for item in items:
            if item.kind not in self._items:
                raise ValueError(f"unknown kind {item.kind!r}; kinds: {', '.join(KINDS)}")
            first = self._items[item.kind].get(item.name)
            if first is not None:
                raise ValueError(
                    f"{item.label} from {item.source} duplicates the one from {first.source}"
                )
            self._items[item.kind][item.name] = item
        self._plugins = list(plugins)

    def _kind(self, kind: str) -> dict[str, Registration]:
        try:
            return self._items[kind]
        except KeyError:
            raise UsageError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}") from None

    def get(self, kind: str, name: str) -> Registration:
        """The item, or a `UsageError` suggesting the closest names and listing them all."""
        items = self._kind(kind)
        if name in items:
            return items[name]
        names = sorted(items)
        if not names:
            raise UsageError(f"unknown {kind} {name!r}; no {kind} is registered")
        raise unknown(kind, name, names)

    def names(self, kind: str) -> list[str]:
        """The registered names of one kind, sorted."""
        return sorted(self._kind(kind))

    def items(self, kind: str | None = None) -> list[Registration]:
        """Registrations of one kind (or all), in `KINDS` order then by name."""
        kinds = KINDS if kind is None else (kind,)
        return [self._kind(k)[name] for k in kinds for name in sorted(self._kind(k))]

    def in_order(self, kind: str) -> list[Registration]:
        """Registrations of one kind in the order the plugins registered them (built-in
        plugins first), for lists whose order is chosen by their author (the suites)."""
        return list(self._kind(kind).values())

    @property
    def plugins(self) -> list[PluginInfo]:
        """One entry per plugin seen, including failed and disabled ones, in load order."""
        return list(self._plugins)

    @property
    def errors(self) -> list[str]:
        """Every problem found while loading; each message names the plugin and distribution."""
        return [error for info in self._plugins for error in info.errors]

    def to_json(self) -> dict[str, Any]:
        """Plugins (with status and errors) and items, as JSON-serialisable data."""
        return {
            "plugins": [info.to_json() for info in self._plugins],
            "items": [item.to_json() for item in self.items()],
        }


def load_registry(
    *,
    group: str = "hbench",
    disabled: Iterable[str] | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
    entry_points: bool = True,
) -> Registry:
    """Load the plugins and collect what they register; never raises because of a plugin.

    Hooks are called kind by kind (`KINDS` order), and within a kind plugin by plugin in load
    order (see `loading.load_plugins`), so the same installed plugins always give the
    same registry and the same winner of a duplicate name: the first one registered.

    A hook is all or nothing: if it raises, the items it registered before raising are dropped
    (they may be half set up) and the error is recorded; the plugin stays ``"loaded"`` and
    keeps what its other hooks registered.
    """
    pm = make_plugin_manager()
    infos = load_plugins(
        pm,
        group=group,
        disabled=disabled,
        extra_plugins=extra_plugins,
        entry_points=entry_points,
    )
    loaded = {info.name: info for info in infos if info.status == "loaded"}
    order = {name: index for index, name in enumerate(loaded)}
    accepted: dict[tuple[str, str], Registration] = {}
    for kind in KINDS:
        caller = getattr(pm.hook, HOOK_FOR_KIND[kind])
        impls = [impl for impl in caller.get_hookimpls() if impl.plugin_name in order]
        for impl in sorted(impls, key=lambda impl: order[impl.plugin_name]):
            _call_hook(impl, kind, loaded[impl.plugin_name], accepted)
    return Registry(accepted.values(), infos)


def _call_hook(
    impl: pluggy.HookImpl,
    kind: str,
    info: PluginInfo,
    accepted: dict[tuple[str, str], Registration],
) -> None:
    """Run one plugin's hook for one kind, adding what it registers to ``accepted``."""
    hook = HOOK_FOR_KIND[kind]
    if impl.hookwrapper or impl.wrapper:
        info.errors.append(
            f"{info.label}: {hook} is a hook wrapper; hbench calls each plugin's hook on its"
            " own, so wrappers are not supported; ignored"
        )
        return

    staged: dict[str, Registration] = {}
    open_ = True

    def register(
        name: str,
        factory: Callable[..., Any] | str,
        config: type[BaseModel] | None = None,
        *,
        description: str | None = None,
        **metadata: Any,
    ) -> None:
        """Record one item for this plugin; a rejection is the plugin's error, not raised."""
        if not open_:
            raise PluginError(
                f"{info.label} called register() for {kind} {name!r} after {hook} returned"
            )
        try:
            item = _registration(kind, info, name, factory, config, description, metadata)
            if kind == "suite":
                _check_suite_grammar(item, accepted)
        except PluginError as exc:
            info.errors.append(str(exc))
            return
        first = accepted.get((kind, name)) or staged.get(name)
        if first is not None:
            info.errors.append(
                f"{item.label} registered by {item.source} duplicates the one from"
                f" {first.source}; ignored"
            )
            return
        staged[name] = item

    kwargs = {"register": register} if "register" in impl.argnames else {}
    try:
        result = impl.function(**kwargs)
    except Exception as exc:
        info.errors.append(
            f"{info.label} failed in {hook}: {one_line(exc)}; the {kind}s it registered there"
            " are ignored"
        )
        return
    finally:
        open_ = False
    if result is not None:
        info.errors.append(
            f"{info.label}: {hook} returned a {type(result).__name__}, which is ignored;"
            " items are registered by calling register(name, factory, config)"
        )
    for name, item in staged.items():
        accepted[(kind, name)] = item


def _registration(
    kind: str,
    info: PluginInfo,
    name: Any,
    factory: Any,
    config: Any,
    description: Any,
    metadata: dict[str, Any],
) -> Registration:
    """Check one ``register`` call against the contract; `PluginError` says what is wrong."""

    def reject(reason: str) -> PluginError:
        return PluginError(f"{kind} {name!r} from {info.label} rejected: {reason}")

    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise reject(
            "a name must match ^[a-z][a-z0-9_-]*$ (a lower-case letter, then lower-case"
            " letters, digits, '_' or '-')"
        )
    if kind == "suite":
        factory, config, description = _suite_item(name, factory, config, description, reject)
    elif kind == "metric":
        metadata = _metric_metadata(metadata, reject)
    elif kind == "analysis":
        metadata = _analysis_metadata(metadata, reject)
    if isinstance(factory, str):
        if not _FACTORY_PATH.match(factory):
            raise reject(f"a string factory must look like 'package.module:attr', not {factory!r}")
    elif not callable(factory):
        raise reject(
            f"factory must be a callable or a 'package.module:attr' string,"
            f" not {type(factory).__name__}"
        )
    if config is None:
        config = NoOptions
    elif not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise reject(f"config must be a pydantic BaseModel subclass, not {config!r}")
    elif config.model_config.get("extra") != "forbid":
        raise reject(
            f"config {config.__name__} must set model_config = ConfigDict(extra='forbid'),"
            " so that a misspelt option is an error instead of being silently ignored"
        )
    taken = sorted(set(config.model_fields) & RESERVED_ANALYSIS_OPTIONS)
    if kind == "analysis" and taken:
        raise reject(
            f"option(s) {', '.join(taken)} would clash with the flags every `hbench analyze`"
            f" command has ({', '.join(sorted(RESERVED_ANALYSIS_OPTIONS))}); rename them"
        )
    if description is None:
        description = _first_line(factory) or (
            _first_line(config) if config is not NoOptions else ""
        )
    elif not isinstance(description, str):
        raise reject(f"description must be a string, not {type(description).__name__}")
    return Registration(
        kind=kind,
        name=name,
        factory=factory,
        config=config,
        plugin=info.name,
        distribution=info.distribution,
        version=info.version,
        description=description.strip(),
        metadata=metadata,
    )


class SuiteFactory:
    """A registered suite as a factory: calling it (with no options) gives the suite back, so
    a suite is created like any other item, and `Registration.value` reads it without a call."""

    def __init__(self, suite: Any) -> None:
        self.value = suite
        self.__module__ = "hbench.suites"
        self.__qualname__ = "Suite"

    def __call__(self, config: Any = None) -> Any:
        return self.value


def _suite_item(
    name: str,
    suite: Any,
    config: Any,
    description: Any,
    reject: Callable[[str], PluginError],
) -> tuple[SuiteFactory, None, Any]:
    """A suite registration: a `hbench.suites.Suite` (or a mapping of its fields) named
    ``name``; it takes no options (a run changes a suite's fields with ``--set``)."""
    from hbench.suites import Suite

    if config is not None:
        raise reject("a suite takes no config: register(name, suite)")
    if isinstance(suite, Mapping):
        try:
            suite = Suite.model_validate({"name": name, **suite})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'suite'}: {pydantic_message(e)}"
                for e in exc.errors(include_url=False)
            )
            raise reject(f"invalid suite: {problems}") from None
    if not isinstance(suite, Suite):
        raise reject(f"a suite must be a hbench.suites.Suite, not {type(suite).__name__}")
    if suite.name != name:
        raise reject(f"the suite is named {suite.name!r}, registered as {name!r}")
    if description is None:
        description = suite.description
    return SuiteFactory(suite), None, description


def _check_suite_grammar(item: Registration, accepted: Mapping[tuple[str, str], Any]) -> None:
    """A suite names a registered grammar and options that grammar accepts (grammars are
    registered before suites), so a suite that could never run is refused when registered."""
    suite = item.value
    grammar = accepted.get(("grammar", suite.grammar))
    if grammar is None:
        raise PluginError(
            f"{item.label} from {item.source} rejected: its grammar {suite.grammar!r} is not"
            " registered"
        )
    try:
        grammar.validate_config(suite.grammar_config_of(grammar))
    except UsageError as exc:
        raise PluginError(f"{item.label} from {item.source} rejected: {exc}") from None


def _analysis_metadata(
    metadata: dict[str, Any], reject: Callable[[str], PluginError]
) -> dict[str, Any]:
    """An analysis's ``source`` (``run``: a result file, the default; ``folder``: a sweep's
    folder of results), ``examples`` (command lines for its ``--help``) and ``in_all``
    (whether ``hbench analyze all`` runs it), checked."""
    source = metadata.get("source", "run")
    if source not in ("run", "folder"):
        raise reject(f"source={source!r} is invalid: 'run' (a result file) or 'folder'")
    examples = metadata.get("examples", [])
    if isinstance(examples, str) or not all(isinstance(line, str) for line in examples):
        raise reject("examples must be a list of command lines (strings)")
    in_all = metadata.get("in_all", False)
    if not isinstance(in_all, bool):
        raise reject(f"in_all={in_all!r} is invalid: True or False")
    return {**metadata, "source": source, "examples": list(examples), "in_all": in_all}


#: Names an analysis option cannot have: ``hbench analyze NAME`` gives each option a flag of
#: its name, beside these arguments of its own and the global flags.
RESERVED_ANALYSIS_OPTIONS = frozenset(
    {"analysis", "command", "debug", "handler", "help", "json", "out", "quiet", "result"}
    | {"sweep_dir", "verbose", "json_supported"}
)

#: The kinds whose item is a function, called on each use: `Registration.create` returns it.
FUNCTION_KINDS = ("metric", "analysis")

#: How a metric's per-query values become one cell's value.
AGGREGATIONS = ("mean", "median", "min", "max", "sum")
#: Which way a metric is better.
DIRECTIONS = ("higher", "lower")


def _metric_metadata(
    metadata: dict[str, Any], reject: Callable[[str], PluginError]
) -> dict[str, Any]:
    """A metric's ``direction`` (required: ``higher`` or ``lower`` is better) and
    ``aggregation`` (default ``mean``), checked, so a board can rank by it."""
    direction = metadata.get("direction")
    if direction not in DIRECTIONS:
        raise reject(
            f"direction={direction!r} is invalid: {' or '.join(map(repr, DIRECTIONS))}"
            " (which values are better)"
        )
    aggregation = metadata.get("aggregation", "mean")
    if aggregation not in AGGREGATIONS:
        raise reject(
            f"aggregation={aggregation!r} is invalid: one of {', '.join(AGGREGATIONS)}"
            " (how per-query values become a cell's value)"
        )
    return {**metadata, "direction": direction, "aggregation": aggregation}


def _first_line(obj: object) -> str:
    """The first line of ``obj``'s own docstring (not one inherited, e.g. BaseModel's)."""
    if isinstance(obj, type):
        doc = obj.__dict__.get("__doc__")
    elif inspect.isfunction(obj) or inspect.ismethod(obj):
        doc = obj.__doc__
    else:
        doc = None
    if not isinstance(doc, str):
        return ""
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _whole_word(names: Iterable[str]) -> re.Pattern[str]:
    """Any of ``names`` as a whole word: not inside a longer name or a flag (``--grammar-seed``)."""
    alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


def _jsonable(value: Any) -> Any:
    """``value`` if JSON can encode it, else its repr, so `Registry.to_json` never fails."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


_default: Registry | None = None
_default_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use so a plain `import hbench` stays cheap."""
    global _default
    with _default_lock:
        if _default is None:
            _default = load_registry()
        return _default


def reset_registry() -> None:
    """Forget the process-wide registry, so the next `get_registry` loads plugins again."""
    global _default
    with _default_lock:
        _default = None
