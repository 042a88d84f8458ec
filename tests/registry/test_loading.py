"""Loading plugins from installed distributions: guarded imports, the disable switch, order.

Each test installs fake distributions into its own ``tmp_path`` (a ``*.dist-info`` folder with
METADATA and entry_points.txt, plus the plugin modules) and puts it on ``sys.path``, which is
all `importlib.metadata` needs to see them. Most tests use their own entry-point group so that
the real built-in plugins (whatever state they are in) cannot affect them.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest

from hbench.registry.hookspecs import hookimpl
from hbench.registry.loading import DISABLE_ENV, disabled_names, normalize_name
from hbench.registry.registry import load_registry

FAKE_GROUP = "hbench_test_fake"

GOOD = '''
    """A fake plugin providing one model (with options) and one grammar."""

    from pydantic import BaseModel, ConfigDict

    from hbench.registry.hookspecs import hookimpl


    class FakeModelConfig(BaseModel):
        """Options of the fake model."""

        model_config = ConfigDict(extra="forbid")
        width: int = 4
        lr: float = 0.1


    def make_model(config):
        """A fake model that only remembers its config.

        More text that is not part of the description.
        """
        return ("fake-model", config)


    def make_grammar(config):
        return "fake-grammar"


    @hookimpl
    def hbench_register_models(register):
        register("fake-model", make_model, FakeModelConfig, privileged=True)


    @hookimpl
    def hbench_register_grammars(register):
        register("fake-grammar", make_grammar, description="A fake grammar.")
'''

BROKEN = """
    raise ImportError("fake_broken needs a library that is not installed")
"""


def _registers(kind_hook: str, *names: str) -> str:
    """Source of a plugin module whose ``kind_hook`` registers ``names`` with a trivial factory."""
    calls = "".join(f"\n        register({name!r}, lambda config: {name!r})" for name in names)
    return f"""
    from hbench.registry.hookspecs import hookimpl


    @hookimpl
    def {kind_hook}(register):{calls}
    """


def make_dist(
    root: Path,
    name: str,
    version: str,
    entry_points: dict[str, str],
    modules: dict[str, str],
    *,
    group: str = FAKE_GROUP,
) -> None:
    """Write an installed-looking distribution (dist-info + top-level modules) into ``root``."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = [f"[{group}]", *(f"{ep} = {target}" for ep, target in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh "site-packages" on sys.path; the fake modules are forgotten afterwards."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for module in [m for m in sys.modules if m.startswith("fake_")]:
        del sys.modules[module]
    importlib.invalidate_caches()


@pytest.fixture
def fakeplug(site: Path) -> Path:
    make_dist(
        site,
        "fakeplug",
        "1.2.3",
        {"good": "fake_good", "broken": "fake_broken"},
        {"fake_good": GOOD, "fake_broken": BROKEN},
    )
    return site


def test_good_plugin_registers_and_broken_one_is_reported(fakeplug: Path) -> None:
    registry = load_registry(group=FAKE_GROUP)  # must not raise despite fake_broken

    model = registry.get("model", "fake-model")
    assert (model.plugin, model.distribution, model.version) == ("good", "fakeplug", "1.2.3")
    assert model.description == "A fake model that only remembers its config."
    assert model.metadata == {"privileged": True}
    assert model.options == ["width", "lr"]
    grammar = registry.get("grammar", "fake-grammar")
    assert grammar.description == "A fake grammar."
    assert registry.names("grammar") == ["fake-grammar"]

    status = {info.name: info for info in registry.plugins}
    assert [info.name for info in registry.plugins] == ["broken", "good"]  # sorted by name
    assert status["good"].status == "loaded" and status["good"].ok
    assert status["broken"].status == "failed"
    assert status["broken"].errors == [
        "plugin 'broken' (fakeplug 1.2.3) failed to load 'fake_broken': ImportError:"
        " fake_broken needs a library that is not installed"
    ]
    assert registry.errors == status["broken"].errors


def test_default_group_includes_an_installed_fake_plugin(site: Path) -> None:
    make_dist(site, "fakeplug", "1.2.3", {"good": "fake_good"}, {"fake_good": GOOD}, group="hbench")

    registry = load_registry()  # the real "hbench" group: built-in plugins may be there too

    assert registry.get("model", "fake-model").distribution == "fakeplug"
    assert "fake-grammar" in registry.names("grammar")
    good = next(info for info in registry.plugins if info.name == "good")
    assert good.ok


def test_loading_is_deterministic_and_json_serialisable(fakeplug: Path) -> None:
    first = load_registry(group=FAKE_GROUP).to_json()
    second = load_registry(group=FAKE_GROUP).to_json()

    assert first == second
    json.dumps(first)
    item = next(item for item in first["items"] if item["name"] == "fake-model")
    assert item == {
        "kind": "model",
        "name": "fake-model",
        "plugin": "good",
        "distribution": "fakeplug",
        "version": "1.2.3",
        "description": "A fake model that only remembers its config.",
        "factory": "fake_good:make_model",
        "options": ["width", "lr"],
        "metadata": {"privileged": True},
    }
    assert [p["status"] for p in first["plugins"]] == ["failed", "loaded"]


def test_duplicate_name_keeps_first_and_names_both_sources(site: Path) -> None:
    make_dist(
        site,
        "fakea",
        "1.0",
        {"a": "fake_a"},
        {"fake_a": _registers("hbench_register_models", "foo")},
    )
    make_dist(
        site,
        "fakeb",
        "2.0",
        {"b": "fake_b"},
        {"fake_b": _registers("hbench_register_models", "foo", "bar")},
    )

    registry = load_registry(group=FAKE_GROUP)

    assert registry.get("model", "foo").plugin == "a"
    assert registry.get("model", "bar").plugin == "b"  # b's other items are kept
    assert registry.errors == [
        "model 'foo' registered by plugin 'b' (fakeb 2.0) duplicates the one from"
        " plugin 'a' (fakea 1.0); ignored"
    ]
    assert [info.status for info in registry.plugins] == ["loaded", "loaded"]


def test_builtin_distribution_loads_first_and_wins_duplicates(site: Path) -> None:
    # A third party sorting before the built-ins must not shadow their names.
    make_dist(
        site,
        "aaa-plugin",
        "1.0",
        {"aaa": "fake_aaa"},
        {"fake_aaa": _registers("hbench_register_tasks", "count")},
    )
    make_dist(
        site,
        "hbench",
        "9.9",
        {"zzz": "fake_zzz"},
        {"fake_zzz": _registers("hbench_register_tasks", "count")},
    )

    registry = load_registry(group=FAKE_GROUP)

    assert [info.name for info in registry.plugins] == ["zzz", "aaa"]
    assert registry.get("task", "count").distribution == "hbench"
    assert "plugin 'aaa' (aaa-plugin 1.0) duplicates" in registry.errors[0]


def test_same_plugin_name_in_two_distributions(site: Path) -> None:
    make_dist(
        site,
        "fakea",
        "1.0",
        {"same": "fake_a"},
        {"fake_a": _registers("hbench_register_models", "x")},
    )
    make_dist(
        site,
        "fakeb",
        "2.0",
        {"same": "fake_b"},
        {"fake_b": _registers("hbench_register_models", "y")},
    )

    registry = load_registry(group=FAKE_GROUP)

    assert registry.names("model") == ["x"]
    first, second = registry.plugins
    assert first.ok
    assert second.status == "failed"
    assert second.errors == [
        "plugin 'same' (fakeb 2.0) has the same name as plugin 'same' (fakea 1.0); ignored"
    ]
    assert "fake_b" not in sys.modules


@pytest.mark.parametrize(
    "disabled",
    # by entry point name, by distribution name, any case; a lone string is split like the env var
    [["good"], ["GOOD"], ["fakeplug"], ["FakePlug"], " good , other "],
)
def test_disable_by_argument_never_imports(fakeplug: Path, disabled: list[str] | str) -> None:
    registry = load_registry(group=FAKE_GROUP, disabled=disabled)

    assert "fake_good" not in sys.modules
    good = next(info for info in registry.plugins if info.name == "good")
    assert (good.status, good.errors) == ("disabled", [])
    assert registry.names("model") == []


@pytest.mark.parametrize(
    ("value", "off"), [("good", {"good"}), ("broken, fakeplug", {"good", "broken"})]
)
def test_disable_by_environment(
    fakeplug: Path, monkeypatch: pytest.MonkeyPatch, value: str, off: set[str]
) -> None:
    monkeypatch.setenv(DISABLE_ENV, value)

    registry = load_registry(group=FAKE_GROUP)

    assert {info.name for info in registry.plugins if info.status == "disabled"} == off
    assert ("fake_good" in sys.modules) == ("good" not in off)
    assert "fake_broken" not in sys.modules


def test_disable_argument_overrides_environment(
    fakeplug: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLE_ENV, "good")

    registry = load_registry(group=FAKE_GROUP, disabled=[])

    assert registry.get("model", "fake-model").plugin == "good"


def test_disable_treats_dash_and_underscore_alike(site: Path) -> None:
    make_dist(
        site,
        "fake-extra",
        "0.1",
        {"extra": "fake_extra"},
        {"fake_extra": _registers("hbench_register_models", "x")},
    )

    registry = load_registry(group=FAKE_GROUP, disabled=["Fake_Extra"])

    assert [(info.name, info.distribution, info.status) for info in registry.plugins] == [
        ("extra", "fake-extra", "disabled")
    ]
    assert "fake_extra" not in sys.modules


def test_disabled_names_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, " a ,, B_c ,")
    assert disabled_names() == {"a", "b-c"}
    assert disabled_names(["x.y"]) == {"x-y"}
    monkeypatch.delenv(DISABLE_ENV)
    assert disabled_names() == frozenset()
    assert normalize_name("Foo__Bar") == normalize_name("foo-bar")


class _Raising:
    """Registers a grammar fine, then crashes half-way through its model hook."""

    @hookimpl
    def hbench_register_grammars(self, register):
        register("kept", lambda config: "grammar")

    @hookimpl
    def hbench_register_models(self, register):
        register("half-done", lambda config: "model")
        raise RuntimeError("boom")


class _Fine:
    @hookimpl
    def hbench_register_models(self, register):
        register("fine", lambda config: "model")


def test_hook_that_raises_is_reported_and_others_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    registry = load_registry(
        entry_points=False, extra_plugins=[("raising", _Raising()), ("fine", _Fine())]
    )

    assert registry.names("model") == ["fine"]  # the crashed hook's items are all dropped
    assert registry.names("grammar") == ["kept"]  # its other hook's items are kept
    raising = registry.plugins[0]
    assert raising.status == "loaded"
    assert raising.errors == [
        "plugin 'raising' failed in hbench_register_models: RuntimeError: boom;"
        " the models it registered there are ignored"
    ]
    assert registry.plugins[1].ok


def test_bad_hook_signature_fails_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)

    class WrongArgument:
        @hookimpl
        def hbench_register_models(self, regster):
            regster("never", print)

    registry = load_registry(
        entry_points=False, extra_plugins=[("wrong", WrongArgument()), ("fine", _Fine())]
    )

    wrong = registry.plugins[0]
    assert wrong.status == "failed"
    assert wrong.errors[0].startswith(
        "plugin 'wrong' could not be registered: PluginValidationError:"
    )
    assert "regster" in wrong.errors[0]
    assert registry.names("model") == ["fine"]


def test_unknown_hook_and_plugin_without_hooks_are_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)

    class Typo:
        @hookimpl
        def hbench_register_model(self, register):
            register("never", print)

    class Unmarked:
        def hbench_register_models(self, register):
            register("never", print)

    registry = load_registry(
        entry_points=False, extra_plugins=[("typo", Typo()), ("unmarked", Unmarked())]
    )

    assert registry.items() == []
    typo, unmarked = registry.plugins
    assert typo.status == unmarked.status == "loaded"
    assert typo.errors[0].startswith(
        "plugin 'typo' implements unknown hook 'hbench_register_model';"
        " did you mean 'hbench_register_models'?"
    )
    assert "implements none of the hbench hooks" in typo.errors[1]
    assert unmarked.errors == [
        "plugin 'unmarked' implements none of the hbench hooks"
        " (is each hook function marked with @hookimpl from hbench.registry.hookspecs?)"
    ]


def test_extra_plugins_can_be_disabled_and_must_have_unique_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)

    registry = load_registry(
        entry_points=False,
        extra_plugins=[("fine", _Fine()), ("fine", _Fine()), ("raising", _Raising())],
        disabled=["raising"],
    )

    assert [(info.name, info.status) for info in registry.plugins] == [
        ("fine", "loaded"),
        ("fine", "failed"),
        ("raising", "disabled"),
    ]
    assert registry.names("model") == ["fine"]
