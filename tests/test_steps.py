"""The step table: the command line the operator renders is the one the CLI parses; inputs come from the
first producer that named them; skip rules; a parameter added to the table reaches the CLI and coqui."""

from __future__ import annotations

import dataclasses

from stt_tasks import steps
from stt_tasks.cli import build_parser, chosen_step, resolve_inputs
from stt_tasks.layout import DataRoot
from stt_tasks.parameters import PARAMETERS, Parameter, _positive_int, resolve_parameters
from stt_tasks.steps import AFTER_IMPORT, PREFLIGHT, command_line, find, pipeline, run_parameters, skip_reason
from stt_tasks.training.flags import direct_flags
from tests.test_cli import OTHER_VALUES

#: What a run's conf holds for each parameter (JSON values, as the trigger form sends them).
CONF_VALUES = {name: value for name, (_text, value) in OTHER_VALUES.items()}
CONF_VALUES.update(lm_evaluate_range="2,3,4", augmentation_arguments="volume[p=0.5,dbfs=-10:-40]")


def parsed(argv):
    """The step's table entry and resolved parameters, as the CLI sees ``argv``."""
    args = build_parser().parse_args(argv)
    spec = chosen_step(args)
    return spec, args, resolve_parameters(args, spec.parameters)


def test_every_step_parses_the_command_line_rendered_for_it():
    for spec in pipeline():
        argv = command_line(spec, "fr", CONF_VALUES, {})
        cli_spec, _args, params = parsed(argv)
        assert cli_spec.name == spec.name and set(params) == set(spec.parameters), spec.task_id
        for name in spec.parameters:
            expected = "/transfer-checkpoint" if PARAMETERS[name].mount else OTHER_VALUES[name][1]
            assert _plain(params[name]) == expected, (spec.task_id, name)


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def test_defaults_render_to_the_same_values_as_the_cli_defaults():
    defaults = {name: parameter.typed_default() for name, parameter in run_parameters().items()}
    for spec in pipeline():
        _spec, _args, from_dag = parsed(command_line(spec, "fr", defaults, {}))
        _spec, _args, from_cli = parsed(list(spec.command))
        assert from_dag == from_cli, spec.task_id


def test_an_input_comes_from_the_first_producer_that_named_it(tmp_path):
    test = find("test")
    lm = {"scorer": "/mnt/lm/kenlm.scorer"}
    tuned = {"scorer": "/mnt/lm/tuned/kenlm.scorer", "tuning": "/mnt/lm/opt_lm.json"}
    alphabet = {"alphabet": "/mnt/models/alphabet.txt"}
    skipped = command_line(test, "fr", {}, {"optimize-lm": None, "lm": lm, "alphabet": alphabet})
    assert "--scorer=/mnt/lm/kenlm.scorer" in skipped and "--alphabet=/mnt/models/alphabet.txt" in skipped
    assert "--scorer=/mnt/lm/tuned/kenlm.scorer" in command_line(test, "fr", {}, {"optimize-lm": tuned, "lm": lm})
    # optimize-lm tunes the lm step's scorer, never its own earlier output
    assert "--scorer=/mnt/lm/kenlm.scorer" in command_line(find("optimize-lm"), "fr", {}, {"optimize-lm": tuned,
                                                                                           "lm": lm})
    # nothing produced: passed empty, so that the step goes without instead of reading a stale default
    package = command_line(find("package"), "fr", {}, {})
    assert "--tuning=" in package and "--scorer=" in package


def test_an_empty_input_is_none_and_a_left_out_one_the_default(tmp_path):
    root = DataRoot(tmp_path)
    root.create()
    root.tuning.write_text("{}")
    spec, args, _params = parsed(["package", "--data-root", str(tmp_path), "--tuning="])
    assert resolve_inputs(spec, args, root)["tuning"] is None
    spec, args, _params = parsed(["package", "--data-root", str(tmp_path)])
    inputs = resolve_inputs(spec, args, root)
    assert inputs["tuning"] == root.tuning and inputs["scorer"] is None  # no lm/kenlm.scorer: none
    assert inputs["alphabet"] == root.alphabet  # required: the default path (the step says it is missing)


def test_skip_rules():
    lm, alphabet, optimize = find("lm"), find("alphabet"), find("optimize-lm")
    assert skip_reason(lm, {"stop_after": "alphabet"}) == "the run stops after 'alphabet'"
    assert skip_reason(alphabet, {"stop_after": "alphabet"}) is None
    assert skip_reason(PREFLIGHT, {"stop_after": "preflight"}) is None
    importers = [spec for spec in pipeline() if spec.stage == "import"]
    assert len(importers) >= 7 and all(skip_reason(spec, {"stop_after": "preflight"}) for spec in importers)
    cv = next(spec for spec in importers if spec.words == ("import", "common-voice"))
    assert skip_reason(cv, {"corpora": ["common-voice"]}) is None
    assert skip_reason(cv, {"corpora": ["mls"]}) == "'common-voice' is not in this run's corpora"
    assert skip_reason(optimize, {"lm_evaluate_range": None}) and skip_reason(optimize, {"lm_evaluate_range": "1,1,2"}) is None


def test_a_parameter_added_to_the_table_reaches_the_cli_and_the_steps_coqui_flags(monkeypatch):
    patience = Parameter("es_patience", "ES_PATIENCE", "25", _positive_int, "epochs without improvement before the "
                         "early stop", {"type": "integer", "minimum": 1}, coqui=("es_epochs",))
    monkeypatch.setitem(PARAMETERS, "es_patience", patience)
    train = find("train")
    monkeypatch.setattr(steps, "AFTER_IMPORT", tuple(
        dataclasses.replace(spec, parameters=spec.parameters + ("es_patience",)) if spec is train else spec
        for spec in AFTER_IMPORT))
    _spec, _args, params = parsed(["train", "--es-patience=7"])
    assert params["es_patience"] == 7 and direct_flags(params)["es_epochs"] == 7
    assert "--es-patience=3" in command_line(find("train"), "fr", {"es_patience": 3}, {})
    monkeypatch.setenv("ES_PATIENCE", "9")
    _spec, _args, params = parsed(["train"])
    assert direct_flags(params)["es_epochs"] == 9


def test_the_run_context_reaches_the_steps_that_take_it():
    report = find("report")
    assert report.run_context == ("run_id", "run_started")
    declared = {option.dest for option in report.options}
    assert set(report.run_context) <= declared  # each is an option of the step: the CLI takes it by hand
    argv = command_line(report, "fr", {}, {}, {"run_id": "scheduled__2026-12-01", "run_started": None})
    assert "--run-id=scheduled__2026-12-01" in argv and not any(a.startswith("--run-started") for a in argv)
    _spec, args, _params = parsed(argv)
    assert args.run_id == "scheduled__2026-12-01" and args.run_started is None
    _spec, args, _params = parsed(command_line(report, "fr", {}, {}))
    assert args.run_id == "manual"  # by hand, or no run context: a manual run
    for spec in pipeline():
        assert set(spec.run_context) <= {option.dest for option in spec.options}, spec.task_id
