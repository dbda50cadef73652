"""Tasks declare their options: `zoo sample/eval NAME --help` show them, the CLI and Python accept the same ones,
`--n`/`--seed`/`--out` mean the same in every task, and anything else is one line naming the task's options."""

from __future__ import annotations

import pytest
from cli_runner import run_zoo
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.cli.options import parse_options
from zoo.registry import contribution_names, load_contribution
from zoo.tasks.options import EvalOptions, OptionError, SampleOptions


@pytest.mark.parametrize("task_name", contribution_names("tasks"))
def test_every_registered_task_declares_options_on_the_shared_bases(task_name):
    task = load_contribution("tasks", task_name)
    assert issubclass(task.SampleOptions, SampleOptions) and issubclass(task.EvalOptions, EvalOptions)
    sample_fields, eval_fields = task.SampleOptions.model_fields, task.EvalOptions.model_fields
    assert {"n", "seed", "out"} <= set(sample_fields) and {"n", "seed"} <= set(eval_fields)
    assert all(f.description for f in [*sample_fields.values(), *eval_fields.values()]), "every option needs its help"


@pytest.mark.parametrize(("command", "name", "shown", "absent"), [
    ("sample", "dcgan.mnist", ["--truncation FLOAT", "--label INT", "--interpolate", "--n INT"], ["--prompt"]),
    ("sample", "gan_cls.mnist", ["--prompt TEXT (repeatable)", "--truncation FLOAT"], ["--label"]),
    ("sample", "vae.mnist", ["--reconstruct", "--interpolate", "--label INT"], ["--truncation"]),
    ("eval", "vae.mnist", ["--iw-samples INT", "--latent-map PATH", "--split test|val|train", "--metrics TEXT"], []),
    ("eval", "lenet5.mnist", ["--split test|val|train", "--out PATH"], ["--metrics", "--iw-samples"]),
    ("eval", "dcgan", ["--metrics TEXT", "--extractor-weights TEXT", "--reference TEXT"], ["--split"]),
])
def test_help_with_a_model_lists_its_tasks_options(capsys, command, name, shown, absent):
    r = run_zoo(capsys, command, name, "--help")
    assert r.code == 0, r.err
    options = r.out.split("task '", 1)[1]
    for text in shown:
        assert text in options
    for text in absent:
        assert text not in options


def test_help_without_a_model_says_how_to_see_a_tasks_options(capsys):
    r = run_zoo(capsys, "sample", "--help")
    assert r.code == 0 and "zoo sample dcgan.mnist --help" in r.out


def test_an_option_of_another_task_is_refused_listing_the_tasks_own(capsys):
    r = run_zoo(capsys, "sample", "dcgan.mnist", "--prompt", "a seven")
    assert r.code == 2
    assert r.err.strip() == ("error: option --prompt does not apply to zoo:dcgan (task adversarial); its options: "
                             "--interpolate, --label, --n, --out, --seed, --truncation")


def test_options_parse_the_way_the_cli_spells_them():
    task = load_contribution("tasks", "text-to-image")
    parsed = parse_options(task.SampleOptions, ["--prompt", "a one", "--prompt=a two", "--interpolate", "--n", "8",
                                                "--no-interpolate", "--truncation=0.5"], "owner")
    assert parsed.prompt == ["a one", "a two"] and parsed.interpolate is False and parsed.n == 8
    assert parsed.truncation == 0.5 and str(parsed.out) == "samples.png"


TOKENS = st.lists(st.one_of(st.sampled_from(["--n", "--seed", "--out", "--label", "--truncation", "--interpolate",
                                             "--no-interpolate", "--prompt", "--n=3", "--interpolate=1", "-x", "--"]),
                            st.text(max_size=8)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(TOKENS)
def test_any_command_line_parses_or_is_one_option_error(tokens):
    task = load_contribution("tasks", "adversarial")
    try:
        parsed = parse_options(task.SampleOptions, tokens, "owner")
    except OptionError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(parsed, task.SampleOptions)
