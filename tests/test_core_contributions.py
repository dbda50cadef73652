"""Manifest schema v3: tasks, objectives and datasets are contributions of any plugin, listed without import,
resolved like model names, isolated when broken."""

from __future__ import annotations

import json
import sys

import pytest
from cli_runner import run_zoo
from plugin_fixtures import model_entry, plugins  # noqa: F401  (fixture)
from pydantic import ValidationError

from zoo.manifest import Manifest
from zoo.registry import contribution, contribution_names, load_contribution

TASK_SOURCE = '''
from zoo.tasks.classification import ClassificationTask


class SquintTask(ClassificationTask):
    """Classification on images seen at half resolution (a third party's task for tests)."""
'''


def v3(plugin: str, **sections) -> dict:
    return {"schema_version": 3, "plugin": {"name": plugin, "version": "0.1"}, "models": [], **sections}


def test_contributions_need_schema_version_3():
    doc = v3("old", tasks=[{"name": "t", "summary": "s", "code": "m:T"}])
    Manifest.model_validate(doc)
    with pytest.raises(ValidationError, match="'tasks' needs schema_version: 3"):
        Manifest.model_validate({**doc, "schema_version": 2})


def test_a_contribution_listed_twice_in_one_manifest_is_refused():
    entry = {"name": "hinge", "summary": "s", "code": "m:H"}
    with pytest.raises(ValidationError, match="objective names listed twice: hinge"):
        Manifest.model_validate(v3("dup", objectives=[entry, entry]))


def test_a_third_party_task_trains_its_model_and_lists_without_import(plugins, capsys):
    plugins.install("squint-plugin", "squintpkg", v3(
        "squint", tasks=[{"name": "squint", "summary": "Half-resolution classification.", "code": "squintpkg.task:SquintTask"}],
        models=[model_entry("squint_net", "squintpkg", task="squint")]))
    (plugins.root / "squintpkg" / "task.py").write_text(TASK_SOURCE)
    listed = run_zoo(capsys, "list", "--tasks", "--json")
    assert listed.code == 0
    rows = {r["name"]: r for r in json.loads(listed.out)}
    assert rows["squint"] == {"name": "squint", "plugin": "squint", "code": "squintpkg.task:SquintTask",
                              "summary": "Half-resolution classification.", "models": 1}
    assert "squintpkg.task" not in sys.modules  # listing imported nothing
    assert load_contribution("tasks", "squint").__name__ == "SquintTask"
    assert "squint_net" in run_zoo(capsys, "list", "--task", "squint").out


def test_a_colliding_contribution_warns_and_stays_reachable_qualified(plugins, capsys):
    plugins.install("clash-plugin", "clashpkg", v3(
        "clash", tasks=[{"name": "classification", "summary": "Another classification.", "code": "clashpkg.task:SquintTask"}]))
    (plugins.root / "clashpkg" / "task.py").write_text(TASK_SOURCE)
    listed = run_zoo(capsys, "list", "--tasks")
    assert "task 'classification' is provided by plugins 'zoo' and 'clash'" in listed.err
    assert "clash:classification" in listed.out
    assert contribution("tasks", "classification").plugin.name == "zoo"
    assert load_contribution("tasks", "clash:classification").__name__ == "SquintTask"


def test_a_contribution_whose_module_is_missing_is_reported_and_the_rest_work(plugins, capsys):
    plugins.install("ghost-plugin", "ghostpkg", v3(
        "ghost", datasets=[{"name": "ghost-set", "summary": "Nowhere.", "code": "ghostpkg.nowhere:Ghost"}]))
    listed = run_zoo(capsys, "list")
    assert listed.code == 0 and "lenet5" in listed.out
    assert "module 'ghostpkg.nowhere'" in listed.err and "its datasets will not load" in listed.err
    shown = run_zoo(capsys, "plugins", "--json")
    ghost = next(r for r in json.loads(shown.out) if r["plugin"] == "ghost")
    assert ghost["datasets"] == ["ghost-set"] and ghost["status"].startswith("error: ghost-set: cannot import ghostpkg.nowhere")
    with pytest.raises(Exception, match="cannot import ghostpkg.nowhere"):
        load_contribution("datasets", "ghost-set")


def test_unknown_contribution_names_the_known_ones():
    with pytest.raises(LookupError, match=r"unknown task 'text2image'; did you mean: text-to-image \(known: "):
        contribution("tasks", "text2image")
    assert contribution("tasks", "Text_To_Image").name == "text-to-image"  # spelled as pip spells names
    assert "classification" in contribution_names("tasks")
