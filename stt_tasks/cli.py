"""``python -m stt_tasks <step>``: the command-line contract between Airflow and a step.

- Inputs are options; ``--data-root`` (default ``$STT_DATA_ROOT``, else ``/mnt``) and ``--language``
  (default ``fr``) are common to every step. Run parameters keep the original image's names in
  kebab-case and can also be set by their upper-case environment variable.
- Progress goes to stderr; the **last line on stdout is one JSON object** naming the artifacts
  (DockerOperator pushes the last output line as XCom, so nothing is printed after it).
- Exit codes: 0 done; 2 bad input or usage (the message names the file and the fix);
  99 an optional input is absent, nothing to do (the task is skipped); 75 the data root's disk is full
  (retried after the task's delay); 78 the machine is set up wrong (permissions, a missing tool);
  anything else a failure. Expected failures are one line, never a traceback (``stt_tasks.failures``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from stt_tasks import __version__
from stt_tasks.diskspace import free_bytes
from stt_tasks.errors import EXIT_BAD_INPUT, EXIT_OK, StepError
from stt_tasks.failures import explain_os_error
from stt_tasks.importers.registry import corpora, listing
from stt_tasks.languages import load_language
from stt_tasks.layout import DataRoot
from stt_tasks.parameters import add_parameter_options, resolve_parameters
from stt_tasks.progress import LOG, configure_logging
from stt_tasks.stepspec import Input, Option, StepCall, StepSpec
from stt_tasks import steps as table


def _declare(parser: argparse.ArgumentParser, parameters: Iterable[str], options: Iterable[Option],
             inputs: Iterable[Input]) -> None:
    add_parameter_options(parser, parameters)
    for option in options:
        option.add_to(parser)
    for input_spec in inputs:
        parser.add_argument(input_spec.option, dest=input_spec.name, default=None, metavar="PATH",
                            help=input_spec.help + "; empty: none")


def _unique(items: Iterable[Any], key: Any) -> List[Any]:
    seen: Dict[Any, Any] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


def build_parser() -> argparse.ArgumentParser:
    """The CLI, generated from the step table (stt_tasks.steps)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root", default=None, help="data root (default $STT_DATA_ROOT, else /mnt)")
    common.add_argument("--language", default="fr", help="language pack (default fr)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    parser = argparse.ArgumentParser(prog="stt-tasks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=__version__)
    steps = parser.add_subparsers(dest="step", metavar="STEP")
    steps.required = True

    preflight = table.PREFLIGHT
    sub = steps.add_parser("preflight", parents=[common], help=preflight.help, description=preflight.help)
    _declare(sub, preflight.parameters, preflight.options, preflight.inputs)

    # One ``import`` command; each corpus declares its own parameters and options (refused for the others).
    registered = list(corpora().values())
    sub = steps.add_parser("import", parents=[common], help="import a corpus into extracted/data/",
                           description="import a corpus into extracted/data/")
    sub.add_argument("corpus", nargs="?", choices=[c.name for c in registered], help="corpus to import")
    sub.add_argument("--list", action="store_true", help="list the corpora, whether their source is present, their URL")
    _declare(sub, _unique((p for c in registered for p in c.parameters), lambda p: p),
             _unique((o for c in registered for o in c.options), lambda o: o.flags), ())
    sub.set_defaults(import_parser=sub)

    for spec in table.AFTER_IMPORT + table.TOOLS:
        sub = steps.add_parser(spec.name, parents=[common], help=spec.help, description=spec.help)
        _declare(sub, spec.parameters, spec.options, spec.inputs)
    return parser


def chosen_step(args: argparse.Namespace) -> Optional[StepSpec]:
    """The table entry of the parsed command (None for ``import --list``)."""
    if args.step == "import":
        if args.list:
            return None
        if not args.corpus:
            args.import_parser.error("name a corpus to import, or pass --list")  # exits 2 with the usage
        spec = table.import_step(corpora()[args.corpus])
        declared = set(spec.parameters) | {o.dest for o in spec.options}
        for other in corpora().values():
            for name in set(other.parameters) | {o.dest for o in other.options}:
                if name not in declared and getattr(args, name, None) not in (None, False):
                    args.import_parser.error("--{} is not an option of {}".format(name.replace("_", "-"), args.corpus))
        return spec
    for spec in (table.PREFLIGHT,) + table.AFTER_IMPORT + table.TOOLS:
        if spec.name == args.step:
            return spec
    raise AssertionError(args.step)


def resolve_inputs(spec: StepSpec, args: argparse.Namespace, root: DataRoot) -> Dict[str, Optional[Path]]:
    """The upstream artifacts: a given path (checked: under the data root, existing), none when given empty
    (what the DAG passes when no upstream step produced it), else the step's default."""
    inputs: Dict[str, Optional[Path]] = {}
    for input_spec in spec.inputs:
        value = getattr(args, input_spec.name)
        default = input_spec.default(root) if input_spec.default else None
        if value is None:
            inputs[input_spec.name] = default
        else:
            inputs[input_spec.name] = root.given_input(value, input_spec.option,
                                                       default if default is not None else "none")
    return inputs


def emit_result(result: Dict[str, Any]) -> None:
    """Print the step's result as the last stdout line."""
    sys.stderr.flush()
    sys.stdout.write(json.dumps(result, sort_keys=True, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    spec = chosen_step(args)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    root = DataRoot.from_env(args.data_root)
    free_at_start = free_bytes(root.root)
    try:
        if spec is None:
            result: Dict[str, Any] = {"corpora": _list_corpora(load_language(args.language), root)}
        else:
            try:
                params = resolve_parameters(args, spec.parameters)
            except ValueError as error:
                LOG.error("invalid parameter: %s", error)
                return EXIT_BAD_INPUT
            call = StepCall(root=root, language=args.language, params=params,
                            options={o.dest: getattr(args, o.dest) for o in spec.options},
                            inputs=resolve_inputs(spec, args, root))
            result = spec.function(call)
    except StepError as error:
        LOG.error("%s", error)
        return error.exit_code
    except OSError as error:
        failure = explain_os_error(error, root.root, free_at_start)
        if failure is None:
            raise
        LOG.debug("%s", failure, exc_info=True)  # the traceback with --verbose only
        LOG.error("%s", failure)
        return failure.exit_code
    emit_result(result)
    return EXIT_OK


def _list_corpora(pack: Any, root: DataRoot) -> List[Dict[str, Any]]:
    rows = listing(pack, root)
    for row in rows:
        LOG.info("%-24s %-7s %-58s %s", row["corpus"], "present" if row["present"] else "absent", row["archive"],
                 row["url"])
    return rows
