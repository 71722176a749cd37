"""Each setting is declared once (schemas/settings.py): every command and the Beam options
show the declared default, so `index`, `stream`, `launch` and the pipelines cannot drift."""

from __future__ import annotations

import argparse

import pytest
import typer

from sceneline.pipelines.cli import app
from sceneline.pipelines.options import PIPELINE_GROUPS, SceneLineOptions
from sceneline.schemas.settings import AnalysisSettings, BatchSettings, SettingsGroup, StreamSettings

# "--visual-model" -> (group, field) for every declared setting of sceneline's own (the runner,
# Beam's flag, has a default per command: checked below).
DECLARED = {"--" + group.flag(name).replace("_", "-"): (group, name)
            for group in PIPELINE_GROUPS for name, info in group.model_fields.items()
            if not (info.json_schema_extra or {}).get("beam_owned")}


def _commands(command, path: str = "sceneline"):
    if hasattr(command, "commands"):  # a group
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")
    else:
        yield path, command


# Same flag, another setting: search's --visual-model overrides the model the index recorded;
# setup-bucket's --subscription names the subscription to create.
NOT_THE_SETTING = {("sceneline search", "--visual-model"), ("sceneline setup-bucket", "--subscription")}


def _declared_options():
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            flag = next((o for o in param.opts if o in DECLARED), None)
            if flag and not param.required and (path, flag) not in NOT_THE_SETTING:
                yield path, flag, param


OPTIONS = list(_declared_options())


def test_the_commands_take_the_declared_settings():
    commands = {path for path, _, _ in OPTIONS}
    assert {"sceneline index", "sceneline stream", "sceneline launch dataflow", "sceneline launch flink",
            "sceneline init-index", "sceneline serve", "sceneline detect"} <= commands
    assert len(OPTIONS) > 40


@pytest.mark.parametrize("path,flag,param", OPTIONS, ids=[f"{p}{f}" for p, f, _ in OPTIONS])
def test_every_command_shows_the_declared_default_help_and_envvar(path, flag, param):
    group, name = DECLARED[flag]
    info = group.model_fields[name]
    assert param.default == info.default, f"{path} {flag}"
    assert param.help == info.description
    assert param.envvar == (info.json_schema_extra or {}).get("envvar")


def test_index_and_stream_share_the_detector_default():
    detectors = {path: param.default for path, flag, param in OPTIONS if flag == "--detector"}
    assert detectors["sceneline index"] == detectors["sceneline stream"] == AnalysisSettings.default("detector")


def test_each_command_runs_on_its_declared_runner():
    commands = dict(_commands(typer.main.get_command(app)))
    runner = {path: next(p.default for p in commands[path].params if "--runner" in p.opts)
              for path in ("sceneline index", "sceneline stream")}
    assert runner == {"sceneline index": BatchSettings.default("runner"),
                      "sceneline stream": StreamSettings.default("runner")}


def _beam_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    SceneLineOptions._add_argparse_args(parser)
    return parser


@pytest.mark.parametrize("group", PIPELINE_GROUPS, ids=lambda g: g.__name__)
def test_the_beam_options_default_to_the_declarations(group: type[SettingsGroup]):
    defaults = vars(_beam_parser().parse_args([]))
    for name, info in group.model_fields.items():
        if (info.json_schema_extra or {}).get("beam_owned"):
            assert group.flag(name) not in defaults  # Beam's own flag (--runner)
        else:
            assert defaults[group.flag(name)] == info.default, name


def test_a_setting_given_on_the_command_line_reaches_the_pipeline_as_typed():
    from apache_beam.options.pipeline_options import PipelineOptions

    from sceneline.pipelines.options import settings_from
    from sceneline.schemas.settings import UnderstandingSettings

    given = UnderstandingSettings(ocr=False, captioner_timeout=7.5, captioner="none")
    back = settings_from(PipelineOptions(given.argv()), UnderstandingSettings)
    assert back == given and back.ocr is False and back.captioner_timeout == 7.5


def test_a_bound_in_the_declaration_is_checked_by_the_command():
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["index", "x.mp4", "--captioner-concurrency", "0"])
    assert result.exit_code == 2 and "captioner-concurrency" in result.output
