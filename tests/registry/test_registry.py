"""The register callback's rules, option validation, lookup messages and lazy factories.

Plugins here are plain objects passed as ``extra_plugins`` with ``entry_points=False``, so these
tests never depend on what is installed.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

import hbench.registry.registry as registry_module
from hbench.errors import PluginError, UsageError
from hbench.registry.hookspecs import HOOK_FOR_KIND, KINDS, hookimpl
from hbench.registry.registry import (
    NoOptions,
    Registration,
    Registry,
    get_registry,
    load_registry,
    reset_registry,
)


class TransformerConfig(BaseModel):
    """Options of the transformer."""

    model_config = ConfigDict(extra="forbid")
    d_model: int = 64
    dropout: float = 0.1
    lr: float = 1e-3


class NeedsSize(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int


def make_transformer(config: TransformerConfig) -> tuple[str, TransformerConfig]:
    """Build the transformer.

    Not part of the description.
    """
    return ("transformer", config)


def plugin(**hooks):
    """A plugin object from plain functions named after hooks (``models=fn`` and so on)."""
    return SimpleNamespace(
        **{HOOK_FOR_KIND[kind.removesuffix("s")]: hookimpl(fn) for kind, fn in hooks.items()}
    )


def load(*plugins: tuple[str, object]) -> Registry:
    return load_registry(entry_points=False, extra_plugins=plugins, disabled=[])


@pytest.fixture
def registry() -> Registry:
    def models(register):
        register("transformer", make_transformer, TransformerConfig, privileged=True)
        register("bp", lambda config: "bp")
        register("prior", lambda config: "prior", description="Samples from the prior.")

    return load(("builtin", plugin(models=models)))


def test_hookspecs_cover_every_kind() -> None:
    assert KINDS == (
        "grammar",
        "filter",
        "task",
        "oracle",
        "model",
        "suite",
        "metric",
        "analysis",
    )
    assert set(HOOK_FOR_KIND) == set(KINDS)
    assert all(hook.startswith("hbench_register_") for hook in HOOK_FOR_KIND.values())


def test_lookup(registry: Registry) -> None:
    assert registry.names("model") == ["bp", "prior", "transformer"]
    assert [item.name for item in registry.items("model")] == ["bp", "prior", "transformer"]
    assert registry.items() == registry.items("model")
    assert registry.names("grammar") == []
    item = registry.get("model", "transformer")
    assert (item.kind, item.plugin, item.distribution, item.version) == (
        "model",
        "builtin",
        None,
        None,
    )
    assert item.metadata == {"privileged": True}
    assert registry.errors == []


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        (
            "model",
            "tranformer",
            "unknown model 'tranformer'; did you mean 'transformer'?"
            " available: bp, prior, transformer",
        ),
        ("model", "zzz", "unknown model 'zzz'; available: bp, prior, transformer"),
        ("grammar", "pcfg", "unknown grammar 'pcfg'; no grammar is registered"),
        (
            "models",
            "bp",
            "unknown kind 'models'; kinds: grammar, filter, task, oracle, model, suite,"
            " metric, analysis",
        ),
    ],
)
def test_unknown_names_are_usage_errors(
    registry: Registry, kind: str, name: str, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        registry.get(kind, name)
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_validate_config_good_values(registry: Registry) -> None:
    item = registry.get("model", "transformer")

    assert item.validate_config() == TransformerConfig()
    assert item.validate_config({"d_model": "128", "lr": 0.5}) == TransformerConfig(
        d_model=128, lr=0.5
    )
    given = TransformerConfig(dropout=0.0)
    assert item.validate_config(given) is given
    assert registry.get("model", "bp").validate_config(None) == NoOptions()


def test_validate_config_wrong_type(registry: Registry) -> None:
    with pytest.raises(UsageError) as caught:
        registry.get("model", "transformer").validate_config({"d_model": "abc"})
    assert str(caught.value).startswith(
        "model 'transformer': option d_model='abc' is invalid: must be a valid integer"
    )
    assert "\n" not in str(caught.value)


def test_validate_config_unknown_option_suggests(registry: Registry) -> None:
    with pytest.raises(UsageError) as caught:
        registry.get("model", "transformer").validate_config({"d_modle": 3})
    assert str(caught.value) == (
        "model 'transformer' has no option 'd_modle'; did you mean 'd_model'?"
        " options: d_model, dropout, lr"
    )


def test_validate_config_joins_several_errors_and_handles_no_options(registry: Registry) -> None:
    with pytest.raises(UsageError) as caught:
        registry.get("model", "transformer").validate_config({"lr": "fast", "zzz": 1})
    first, second = str(caught.value).split("; ", 1)
    assert first.startswith("model 'transformer': option lr='fast' is invalid:")
    assert second == "model 'transformer' has no option 'zzz'; options: d_model, dropout, lr"

    with pytest.raises(UsageError, match=r"^model 'bp' has no option 'x'; it takes no options$"):
        registry.get("model", "bp").validate_config({"x": 1})
    with pytest.raises(UsageError, match="options must be a mapping"):
        registry.get("model", "bp").validate_config(["x"])  # type: ignore[arg-type]


def test_validate_config_missing_required_option() -> None:
    item = Registration("task", "count", dict, NeedsSize, "p")
    with pytest.raises(UsageError, match=r"^task 'count' needs the option 'size'$"):
        item.validate_config({})


class Windowed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = 4
    depth: int = Field(4, ge=1)
    seed: int = 0
    window_size: int | None = None

    @model_validator(mode="after")
    def _fits(self) -> Windowed:
        if self.width > 2**self.depth:
            raise ValueError("width is more than the leaves at this depth")
        if self.window_size is not None and self.seed:
            raise ValueError("seed is ignored with a window_size")
        if self.window_size == 0:
            raise ValueError("a window of 0 leaves is empty")
        return self


WINDOWED = Registration("task", "windowed", dict, Windowed, "p")
FLAGS = {"depth": "--depth", "seed": "--task-seed"}


def _flag(key: str) -> str:
    return FLAGS.get(key, f"--task-arg {key}=...")


def _spelled(**typed: str) -> dict[str, str]:
    """How a command line would report the options: ``--depth=0``, ``--task-arg width=8``."""
    return {
        key: f"{FLAGS[key]}={value}" if key in FLAGS else f"--task-arg {key}={value}"
        for key, value in typed.items()
    }


def _message(values: dict, **kwargs) -> str:
    with pytest.raises(UsageError) as caught:
        WINDOWED.validate_config(values, **kwargs)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_spelled_names_what_the_user_typed() -> None:
    spelled = _spelled(depth="0", width="x")
    assert _message({"depth": 0, "width": "x"}, spelled=spelled, suggest=_flag) == (
        "--task-arg width=x is invalid for task 'windowed': must be a valid integer, unable to"
        " parse string as an integer; --depth=0 is invalid for task 'windowed': must be"
        " greater than or equal to 1"
    )


def test_spelled_unknown_option_suggests_the_flag() -> None:
    options = "--task-arg width=..., --depth, --task-seed, --task-arg window_size=..."
    assert _message({"sed": 1}, spelled={"sed": "--task-arg sed=1"}, suggest=_flag) == (
        "--task-arg sed=1 is invalid: task 'windowed' has no option 'sed'; did you mean"
        f" --task-seed? its options: {options}"
    )
    # a mapping may name only some options: the others are suggested and listed by name
    assert _message({"widht": 1}, spelled={"widht": "--task-arg widht=1"}, suggest=FLAGS) == (
        "--task-arg widht=1 is invalid: task 'windowed' has no option 'widht'; did you mean"
        " 'width'? its options: width, --depth, --task-seed, window_size"
    )
    # without suggest: the option names, quoted as without spelled
    assert _message({"dept": 1}, spelled={"dept": "--set dept=1"}) == (
        "--set dept=1 is invalid: task 'windowed' has no option 'dept'; did you mean 'depth'?"
        " its options: width, depth, seed, window_size"
    )


def test_suggest_without_spelled_keeps_the_option_wording() -> None:
    assert _message({"sed": 1}, suggest=FLAGS) == (
        "task 'windowed' has no option 'sed'; did you mean --task-seed?"
        " options: width, --depth, --task-seed, window_size"
    )


def test_rule_about_several_options_names_each_as_typed() -> None:
    spelled = _spelled(seed="3", window_size="8")
    assert _message({"seed": 3, "window_size": 8}, spelled=spelled, suggest=_flag) == (
        "--task-seed=3 and --task-arg window_size=8 are invalid together for task 'windowed':"
        " --task-seed is ignored with a window_size"
    )
    # only the options the message mentions, as whole words; a multi-word flag stays a name
    spelled = _spelled(width="64", depth="3", seed="1")
    assert _message({"width": 64, "depth": 3, "seed": 1}, spelled=spelled, suggest=_flag) == (
        "--task-arg width=64 and --depth=3 are invalid together for task 'windowed':"
        " width is more than the leaves at this --depth"
    )
    spelled = _spelled(window_size="0")
    assert _message({"window_size": 0}, spelled=spelled, suggest=FLAGS) == (
        "task 'windowed': the options are invalid: a window of 0 leaves is empty"
    )
    assert _message({"width": 64, "depth": 3}) == (
        "task 'windowed': the options are invalid: width is more than the leaves at this depth"
    )


def test_spelled_missing_option_names_the_flag() -> None:
    item = Registration("task", "count", dict, NeedsSize, "p")
    with pytest.raises(UsageError, match=r"^task 'count' needs the option --size$"):
        item.validate_config({}, spelled={}, suggest={"size": "--size"})


def test_create_passes_the_validated_config(registry: Registry) -> None:
    kind, config = registry.get("model", "transformer").create({"d_model": 8})
    assert kind == "transformer"
    assert config == TransformerConfig(d_model=8)


def test_create_wraps_factory_crashes_but_not_usage_errors() -> None:
    def crashes(config):
        raise ZeroDivisionError("division by zero")

    def refuses(config):
        raise UsageError("size=0 is invalid: allowed is >= 1")

    def tasks(register):
        register("crashes", crashes)
        register("refuses", refuses)

    registry = load(("p", plugin(tasks=tasks)))

    with pytest.raises(PluginError) as caught:
        registry.get("task", "crashes").create()
    assert str(caught.value) == (
        "task 'crashes' from plugin 'p' failed to build: ZeroDivisionError: division by zero"
    )
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    with pytest.raises(UsageError, match="size=0"):
        registry.get("task", "refuses").create()


LAZY_MODULE = '''
"""A model module that would import a heavy framework at import time."""

IMPORTED = True


def build(config):
    return ("lazy", config)


not_callable = 42
'''


@pytest.fixture
def lazy_module(tmp_path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "fake_lazy_model.py").write_text(LAZY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "fake_lazy_model"
    sys.modules.pop("fake_lazy_model", None)


def test_string_factory_is_imported_only_on_create(lazy_module: str) -> None:
    def models(register):
        register("lazy", f"{lazy_module}:build", TransformerConfig)

    registry = load(("lazyplug", plugin(models=models)))
    item = registry.get("model", "lazy")

    assert lazy_module not in sys.modules
    assert item.description == "Options of the transformer."  # from the config class
    assert item.to_json()["factory"] == f"{lazy_module}:build"
    assert lazy_module not in sys.modules  # listing does not import either

    assert item.create({"lr": 0.5}) == ("lazy", TransformerConfig(lr=0.5))
    assert lazy_module in sys.modules


@pytest.mark.parametrize(
    ("factory", "problem"),
    [
        ("fake_missing_module:build", "ModuleNotFoundError: No module named 'fake_missing_module'"),
        ("fake_lazy_model:nope", "AttributeError:"),
        ("fake_lazy_model:not_callable", "is a int, not a callable"),
    ],
)
def test_bad_string_factory_is_a_plugin_error(lazy_module: str, factory: str, problem: str) -> None:
    def models(register):
        register("lazy", factory)

    item = load(("lazyplug", plugin(models=models))).get("model", "lazy")

    with pytest.raises(PluginError) as caught:
        item.create()
    assert str(caught.value).startswith("model 'lazy' from plugin 'lazyplug': ")
    assert factory in str(caught.value)
    assert problem in str(caught.value)


class Permissive(BaseModel):
    x: int = 1


class NotPydantic:
    pass


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("Bad", print), "a name must match"),
        (("1st", print), "a name must match"),
        (("has space", print), "a name must match"),
        (("", print), "a name must match"),
        ((42, print), "a name must match"),
        (("ok", 42), "factory must be a callable or a 'package.module:attr' string, not int"),
        (("ok", "not a path"), "a string factory must look like 'package.module:attr'"),
        (("ok", print, Permissive), "config Permissive must set model_config"),
        (("ok", print, NotPydantic), "config must be a pydantic BaseModel subclass"),
        (("ok", print, TransformerConfig()), "config must be a pydantic BaseModel subclass"),
    ],
)
def test_bad_registrations_are_rejected_as_the_plugins_error(args: tuple, reason: str) -> None:
    def grammars(register):
        register(*args)
        register("good", print)

    registry = load(("sloppy", plugin(grammars=grammars)))

    assert registry.names("grammar") == ["good"]  # the rest of the plugin still counts
    (error,) = registry.errors
    assert error.startswith(f"grammar {args[0]!r} from plugin 'sloppy' rejected: {reason}")
    assert registry.plugins[0].status == "loaded"


def test_descriptions() -> None:
    def no_doc(config):
        return None

    class Documented(BaseModel):
        """From the config."""

        model_config = ConfigDict(extra="forbid")

    def oracles(register):
        register("given", make_transformer, Documented, description="  Given.  ")
        register("from-factory", make_transformer, Documented)
        register("from-config", no_doc, Documented)
        register("from-string", "os:getcwd", Documented)
        register("none", no_doc)
        register("class", NoOptions)

    registry = load(("p", plugin(oracles=oracles)))

    descriptions = {item.name: item.description for item in registry.items("oracle")}
    assert descriptions == {
        "given": "Given.",
        "from-factory": "Build the transformer.",
        "from-config": "From the config.",
        "from-string": "From the config.",
        "none": "",
        "class": "The config of an item registered without one: it accepts no option at all.",
    }


def test_metadata_is_read_only(registry: Registry) -> None:
    metadata = registry.get("model", "transformer").metadata
    with pytest.raises(TypeError):
        metadata["privileged"] = False  # type: ignore[index]


def test_register_after_the_hook_returned_raises() -> None:
    saved = []

    def tasks(register):
        saved.append(register)

    registry = load(("keeper", plugin(tasks=tasks)))

    with pytest.raises(PluginError, match="after hbench_register_tasks returned"):
        saved[0]("late", print)
    assert registry.names("task") == []


def test_hook_returning_items_is_told_to_call_register() -> None:
    registry = load(("returner", plugin(filters=lambda register: ["depth", print])))

    assert registry.names("filter") == []
    assert registry.errors == [
        "plugin 'returner': hbench_register_filters returned a list, which is ignored;"
        " items are registered by calling register(name, factory, config)"
    ]


def test_hook_may_omit_the_register_argument() -> None:
    registry = load(("quiet", plugin(filters=lambda: None)))
    assert registry.errors == []


def test_to_json_is_serialisable(registry: Registry) -> None:
    data = registry.to_json()
    json.dumps(data)
    assert [item["name"] for item in data["items"]] == ["bp", "prior", "transformer"]
    assert data["items"][2]["options"] == ["d_model", "dropout", "lr"]
    assert data["plugins"] == [
        {
            "name": "builtin",
            "distribution": None,
            "version": None,
            "status": "loaded",
            "errors": [],
            "target": "SimpleNamespace",
        }
    ]

    odd = Registration("model", "odd", print, NoOptions, "p", metadata={"obj": object})
    assert odd.to_json()["metadata"] == {"obj": repr(object)}


def test_registry_built_directly_rejects_duplicates() -> None:
    item = Registration("model", "a", print, NoOptions, "p")
    with pytest.raises(ValueError, match="duplicates"):
        Registry([item, item])
    with pytest.raises(ValueError, match="unknown kind"):
        Registry([Registration("widget", "a", print, NoOptions, "p")])


def test_default_registry_is_cached_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_load_registry() -> Registry:
        calls.append(1)
        return Registry()

    monkeypatch.setattr(registry_module, "load_registry", fake_load_registry)
    reset_registry()
    try:
        first = get_registry()
        assert get_registry() is first
        assert len(calls) == 1
        reset_registry()
        assert get_registry() is not first
        assert len(calls) == 2
    finally:
        reset_registry()


# --- suites, metrics and analyses are kinds like the others -------------------------------------


def test_metrics_say_which_way_is_better_and_how_cells_aggregate() -> None:
    def metrics(register):
        register("good", lambda inputs: None, direction="lower")
        register("median", lambda inputs: None, direction="higher", aggregation="median")
        register("undirected", lambda inputs: None)
        register("odd", lambda inputs: None, direction="higher", aggregation="mode")

    registry = load(("m", SimpleNamespace(hbench_register_metrics=hookimpl(metrics))))
    assert registry.names("metric") == ["good", "median"]
    assert dict(registry.get("metric", "good").metadata) == {
        "direction": "lower",
        "aggregation": "mean",
    }
    assert registry.get("metric", "median").metadata["aggregation"] == "median"
    errors = "\n".join(registry.errors)
    assert "metric 'undirected' from plugin 'm' rejected: direction=None is invalid" in errors
    assert "metric 'odd' from plugin 'm' rejected: aggregation='mode' is invalid" in errors


def test_a_suite_is_a_value_that_create_gives_back() -> None:
    from hbench.suites import Suite

    suite = Suite(name="tiny", grammar="g", P=1, n_test=1, n_ood=0)

    def grammars(register):
        register("g", lambda config: config)

    def suites(register):
        register("tiny", suite)
        register("config", suite, TransformerConfig)
        register("text", "not a suite")

    registry = load(
        ("p", SimpleNamespace(
            hbench_register_grammars=hookimpl(grammars),
            hbench_register_suites=hookimpl(suites),
        ))
    )  # fmt: skip
    entry = registry.get("suite", "tiny")
    assert entry.value is suite and entry.create() is suite
    assert entry.to_json()["factory"] == "hbench.suites:Suite"
    errors = "\n".join(registry.errors)
    assert "a suite takes no config" in errors
    assert "a suite must be a hbench.suites.Suite, not str" in errors
    assert registry.in_order("suite") == [entry]


def test_analyses_say_what_they_read_and_create_gives_the_function() -> None:
    def spread(source, options):
        return None

    def analyses(register):
        register("spread", spread, TransformerConfig, source="folder", in_all=False)
        register("plain", spread)
        register("where", spread, source="database")
        register("listed", spread, examples="hbench analyze listed")

    registry = load(("a", SimpleNamespace(hbench_register_analyses=hookimpl(analyses))))
    assert registry.names("analysis") == ["plain", "spread"]
    assert registry.get("analysis", "spread").metadata["source"] == "folder"
    assert dict(registry.get("analysis", "plain").metadata) == {
        "source": "run",
        "examples": [],
        "in_all": False,
    }
    assert registry.get("analysis", "spread").create({"lr": 0.5}) is spread
    errors = "\n".join(registry.errors)
    assert "source='database' is invalid" in errors
    assert "examples must be a list of command lines" in errors


def test_analysis_options_cannot_shadow_the_commands_own_flags() -> None:
    from pydantic import BaseModel, ConfigDict

    class Clashing(BaseModel):
        model_config = ConfigDict(extra="forbid")
        out: str = "x"
        width: int = 2

    def analyses(register):
        register("clash", lambda source, options: None, Clashing)

    registry = load(("a", SimpleNamespace(hbench_register_analyses=hookimpl(analyses))))
    assert registry.names("analysis") == []
    assert "option(s) out would clash with the flags" in registry.errors[0]
