"""The `judgeflow` command.

  judgeflow demo [--out DIR]                       the offline pipeline on the sample dataset
  judgeflow validate FILE [--task T] [--report OUT] exit 0 valid, 1 invalid, 2 usage or I/O error
  judgeflow plan --task T --judge J --dataset S3URI --output S3URI --role ARN --instance TYPE --region R
  judgeflow ingest-results OUTPUT_TAR --out DIR [--sidecar FILE] [--run-id ID]
  judgeflow local up [--port P]                    the whole stack on 127.0.0.1 (embedded AWS) until Ctrl-C

Operator commands, against a deployed stack (found by its CloudFormation outputs; credentials,
--profile, --region and AWS_ENDPOINT_URL as the AWS CLI reads them; --output table|json):
  judgeflow submit FILE --model-a A --model-b B [--task T] [--judge J] [--instance-types T ...] [--rerun] [--wait]
  judgeflow runs [--status S] [--since DATE] [--limit N]
  judgeflow show RUN | wait RUN [--timeout S] | report RUN --out DIR | cancel RUN
  judgeflow gate RUN --require not-worse|better [--max-error-rate R]   exit 0 holds, 1 not, 3 running, 4 undecidable

A usage mistake (a missing file, a bad number or name, a path leaving --out) exits 2 with one
sentence on stderr saying what, where and how to fix it. Each command imports what it needs when it runs (`judgeflow --help` and `validate` never load
pyarrow, matplotlib or the offline harness).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from judgeflow import runs, schemas
from judgeflow.settings import DEFAULTS, JUDGE_MODELS, TASKS, Settings


class UsageError(Exception):
    """A mistake in how the command was called, found while it runs: exit 2 with this sentence,
    never a traceback (a bug is any other exception, and keeps its traceback)."""


# --- argument checks, shared by every command (argparse `type=` functions and one path check) ---

# SageMaker CreateTrainingJob, TrainingJobName: length 1 to 63, pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html, Request
# Parameters). The pattern alone lets runs of hyphens exceed 63 characters: the length is checked too.
TRAINING_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
TRAINING_JOB_NAME_MAX = 63
_NUMBER = re.compile(r"-\d+(\.\d*)?")


def _quoted(text: object) -> str:
    """A user's name in a message: quoted, with line breaks and other invisibles shown as escapes."""
    return repr(str(text))


def positive_whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number (1 or more), got {_quoted(text)}")
    return value


def job_name_base(text: str) -> str:
    """A run name or run id: judgeflow names the training job after it (runs.training_job_name) and
    builds S3 keys and local paths from it, so it must be a SageMaker job name with room for the suffix."""
    job_name = runs.training_job_name(text)
    if len(job_name) <= TRAINING_JOB_NAME_MAX and TRAINING_JOB_NAME.fullmatch(job_name):
        return text
    suffix = runs.training_job_name("")
    raise argparse.ArgumentTypeError(
        f"{_quoted(text)} is not a usable run name: judgeflow names the run's files and its SageMaker training "
        f"job (<name>{suffix}) after it, and job names are at most {TRAINING_JOB_NAME_MAX} letters, digits and hyphens starting with "
        f"a letter or digit; use 1 to {TRAINING_JOB_NAME_MAX - len(suffix)} letters, digits and hyphens, starting with a letter or "
        f"digit, e.g. 'my-eval-2026'")


def model_label(text: str) -> str:
    limit = schemas.load("run_settings")["properties"]["model_a"]["maxLength"]  # what the pipeline accepts
    if not 1 <= len(text) <= limit:
        raise argparse.ArgumentTypeError(f"a model label is 1 to {limit} characters, got {len(text)}; "
                                         "shorten it, e.g. 'nova-lite-v2'")
    return text


def existing_file(text: str) -> Path:
    """An input file that exists, is a file and can be read (checked again when it is opened)."""
    if not text:
        raise argparse.ArgumentTypeError("the file name is empty: give the path of a file")
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"file {_quoted(text)} does not exist: check the name and the folder "
                                         f"(the current folder is {_quoted(os.getcwd())})")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{_quoted(text)} is a folder, not a file: name a file inside it")
    if not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"file {_quoted(text)} cannot be read (permission denied): make it "
                                         "readable (chmod u+r) or copy it somewhere you can read")
    return Path(text)


def output_folder(text: str) -> Path:
    """A folder to write into: existing or not yet (made_folder creates it when the command runs)."""
    if not text:
        raise argparse.ArgumentTypeError("the folder name is empty: give a folder, e.g. out/results")
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{_quoted(text)} is a file, not a folder: name a folder (it is created "
                                         "if missing) or move the file away")
    return Path(text)


def output_file(text: str) -> Path:
    """A file to write (replaced if it exists), in a folder that exists."""
    if not text:
        raise argparse.ArgumentTypeError("the file name is empty: give a file, e.g. report.json")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{_quoted(text)} is a folder: name a file to write, e.g. "
                                         f"{_quoted(os.path.join(text, 'report.json'))}")
    folder = os.path.dirname(text) or "."
    if not os.path.isdir(folder):
        state = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise argparse.ArgumentTypeError(f"cannot write {_quoted(text)}: {_quoted(folder)} {state}; create the "
                                         "folder first or choose another path")
    return Path(text)


def made_folder(folder: Path, argument: str = "--out") -> Path:
    """`folder`, created if missing, as an absolute path; a UsageError if it cannot be made or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{argument} {_quoted(folder)} cannot be created ({exc.strerror}): choose a folder you "
                         "can write to") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{argument} {_quoted(folder)} cannot be written to (permission denied): choose a folder "
                         "you can write to")
    return folder.resolve()


def path_under(folder: Path, relative: str, argument: str = "--out") -> Path:
    """folder/relative, refused unless it stays inside `folder` once `..`, absolute parts and symlinks
    are resolved. Names are checked where they are given; this is the last look before writing."""
    root = folder.resolve()
    target = (root / relative).resolve()
    if target == root or not target.is_relative_to(root):
        raise UsageError(f"refusing to write {_quoted(relative)}: it resolves to {_quoted(target)}, outside "
                         f"{argument} {_quoted(root)}; check the names that make up the path and any symlink "
                         f"under {argument}")
    return target


class _Parser(argparse.ArgumentParser):
    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # usage errors exit 2, as documented
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}{self._dash_name_hint(message)}", file=sys.stderr)
        raise SystemExit(2)

    def _dash_name_hint(self, message: str) -> str:
        """argparse takes a file name starting with '-' for an unknown option: say how to pass one."""
        if "unrecognized arguments" not in message and "arguments are required" not in message:
            return ""
        # argparse lists its options only in these attributes (stable since Python 3.2).
        known = set(self._option_string_actions)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for parser in action.choices.values():
                    known |= set(parser._option_string_actions)
        for arg in getattr(self, "_given", []):
            if arg.startswith("-") and arg != "--" and not _NUMBER.fullmatch(arg) and arg.split("=")[0] not in known:
                return (f"\nif {_quoted(arg)} is a file name, write it as {_quoted('./' + arg)} or put -- before "
                        "it (e.g. judgeflow validate -- -data.jsonl)")
        return ""


def _cmd_validate(args: argparse.Namespace) -> int:
    from judgeflow import validation

    settings = Settings.from_mapping(None)
    try:
        with open(args.file, "rb") as handle:
            report = validation.validate_stream(
                validation.read_file_chunks(handle), source=str(args.file), task=args.task,
                token_limit=args.token_limit, max_rows=args.max_rows, max_findings=settings.max_errors_reported)
    except OSError as exc:
        raise UsageError(f"cannot read {_quoted(args.file)} ({exc.strerror}): check the file and its "
                         "permissions") from None
    print(report.summary())
    if args.report:
        try:
            args.report.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write --report {_quoted(args.report)} ({exc.strerror}): choose a file in a "
                             "folder you can write to") from None
    return 0 if report.valid else 1


def _cmd_plan(args: argparse.Namespace) -> int:
    from judgeflow import recipes

    try:
        choice = recipes.choose_recipe(args.task, args.judge)
        recipes.allowed_instance_order(choice, [args.instance])
        run_name = args.run_name
        recipe = recipes.render_recipe(choice, run_name=run_name)
        file_name = f"{args.task}-{args.judge}.yaml"
        recipe_prefix = args.recipe_s3 or f"{args.output.rstrip('/')}/recipe/"
        request = recipes.build_create_training_job_request(
            job_name=runs.training_job_name(run_name), recipe=recipe, recipe_file_name=file_name,
            image_uri=Settings.from_mapping({"region": args.region, **({"nova_images": {args.region: args.image}}
                                                                       if args.image else {})}).nova_image,
            role_arn=args.role, dataset_s3_prefix=args.dataset, recipe_s3_prefix=recipe_prefix,
            output_s3_path=args.output, instance_type=args.instance)
    except (recipes.RecipeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps({"recipe_yaml": recipes.recipe_yaml(recipe), "create_training_job": request}, indent=2))
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from judgeflow.stages import results

    try:
        archive = args.output_tar.read_bytes()
        sidecar = args.sidecar.read_bytes() if args.sidecar else None
    except OSError as exc:
        raise UsageError(f"cannot read {_quoted(exc.filename)} ({exc.strerror}): check the file and its "
                         "permissions") from None
    out = made_folder(args.out)
    now = int(time.time())
    context = results.RunContext(run_id=args.run_id, task=args.task, model_a=args.model_a, model_b=args.model_b)
    try:
        bundle = results.build_results(archive, context=context, sidecar=sidecar, finished_at=now,
                                       date=time.strftime("%Y-%m-%d", time.gmtime(now)))
    except ValueError as exc:
        print(f"judgeflow ingest-results: {exc}", file=sys.stderr)
        return 1
    # Every target is checked before the first is written: a refused path leaves nothing half-written.
    targets = {path_under(out, relative): data for relative, data in bundle.files.items()}
    for target, data in targets.items():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as exc:
            raise UsageError(f"cannot write {_quoted(target)} ({exc.strerror}): choose an --out folder you can "
                             "write to") from None
        print(target)
    stats = bundle.summary["judgeflow_statistics"]
    print(f"verdict: {stats['verdict']} ({stats['verdict_reason']})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    # The offline harness (moto, CDK synth) is not part of the domain package: loaded by name,
    # so the package never imports it.
    import importlib

    return importlib.import_module("offline.demo").run_demo(made_folder(args.out))


def _cmd_local(args: argparse.Namespace) -> int:
    import importlib

    return importlib.import_module("offline.local_stack").serve(port=args.port)


def _operator(name: str):
    """An operator command, imported when it runs (boto3 and rich load only then)."""
    def run(args: argparse.Namespace) -> int:
        from judgeflow import commands

        try:
            return getattr(commands, name)(args)
        except commands.NotFound as exc:
            raise UsageError(str(exc)) from None
    return run


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1 (0.2 = 20%), got {_quoted(text)}")
    return value


def utc_date(text: str) -> str:
    try:
        time.strptime(text[:10], "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date as YYYY-MM-DD (UTC), got {_quoted(text)}") from None
    return text[:10]


def port_number(text: str) -> int:
    value = positive_whole_number(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port (1 to 65535), got {_quoted(text)}")
    return value


def _operator_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--output", choices=("table", "json"), default="table", help="table (default) or json")
    common.add_argument("--profile", help="AWS profile (default: the AWS CLI's)")
    common.add_argument("--region", help="AWS region (default: the profile's)")
    common.add_argument("--stack", help="the pipeline stack's name (default JudgeflowPipeline)")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="judgeflow", description="Nova LLM-as-a-Judge evaluations on AWS")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="run the sample dataset through the offline pipeline")
    demo.add_argument("--out", type=output_folder, default=Path("out/demo"),
                      help="folder for the Parquet files and report (default out/demo)")
    demo.set_defaults(func=_cmd_demo)

    validate = sub.add_parser("validate", help="validate a JSONL dataset locally")
    validate.add_argument("file", metavar="FILE", type=existing_file,
                          help="the JSONL file (a name starting with '-' goes after --)")
    validate.add_argument("--task", choices=TASKS, default=DEFAULTS["default_task"])
    validate.add_argument("--report", type=output_file, help="write the report JSON here")
    validate.add_argument("--token-limit", type=positive_whole_number, default=DEFAULTS["token_limit"])
    validate.add_argument("--max-rows", type=positive_whole_number, default=DEFAULTS["max_rows"])
    validate.set_defaults(func=_cmd_validate)

    plan = sub.add_parser("plan", help="print the recipe YAML and the CreateTrainingJob request")
    plan.add_argument("--task", choices=TASKS, required=True)
    plan.add_argument("--judge", choices=JUDGE_MODELS, required=True)
    plan.add_argument("--dataset", required=True, help="S3 prefix holding llm_judge.jsonl")
    plan.add_argument("--output", required=True, help="S3 output path of the job")
    plan.add_argument("--role", required=True, help="judge execution role ARN")
    plan.add_argument("--instance", required=True, help="instance type, e.g. ml.g5.12xlarge")
    plan.add_argument("--region", required=True)
    plan.add_argument("--run-name", type=job_name_base, default="judgeflow-run",
                      help="recipe run.name and job name base (letters, digits, hyphens)")
    plan.add_argument("--recipe-s3", help="S3 prefix the recipe YAML is uploaded to (default <output>/recipe/)")
    plan.add_argument("--image", help="Nova evaluation image (default: the region's image from settings)")
    plan.set_defaults(func=_cmd_plan)

    ingest = sub.add_parser("ingest-results", help="turn a judge output.tar.gz into Parquet, summary and report")
    ingest.add_argument("output_tar", metavar="OUTPUT_TAR", type=existing_file)
    ingest.add_argument("--out", type=output_folder, required=True, help="folder to write into (created if missing)")
    ingest.add_argument("--sidecar", type=existing_file, help="sidecar.jsonl written at staging (joins categories back)")
    ingest.add_argument("--run-id", type=job_name_base, default="local", help="letters, digits and hyphens")
    ingest.add_argument("--task", choices=TASKS, default="llm_judge")
    ingest.add_argument("--model-a", type=model_label, default="model_a")
    ingest.add_argument("--model-b", type=model_label, default="model_b")
    ingest.set_defaults(func=_cmd_ingest)

    local = sub.add_parser("local", help="run the whole stack on this machine")
    local_sub = local.add_subparsers(dest="local_command", required=True, parser_class=_Parser)
    up = local_sub.add_parser("up", help="deploy both stacks into the embedded AWS on 127.0.0.1 and serve until Ctrl-C")
    up.add_argument("--port", type=port_number, default=4510, help="TCP port on 127.0.0.1 (default 4510)")
    up.set_defaults(func=_cmd_local)

    common = _operator_options()
    submit = sub.add_parser("submit", parents=[common], help="validate a dataset, upload it and start its run")
    submit.add_argument("file", metavar="FILE", type=existing_file)
    submit.add_argument("--model-a", type=model_label, required=True, help="label of response_A's model")
    submit.add_argument("--model-b", type=model_label, required=True, help="label of response_B's model")
    submit.add_argument("--task", choices=TASKS)
    submit.add_argument("--judge", choices=JUDGE_MODELS, help="judge model (default: the deployment's)")
    submit.add_argument("--instance-types", nargs="+", metavar="TYPE", help="instance types to try, in order")
    submit.add_argument("--rerun", action="store_true", help="judge again even if this file was judged")
    submit.add_argument("--wait", action="store_true", help="follow the run until it ends")
    submit.add_argument("--timeout", type=positive_whole_number, help="with --wait: give up after S seconds")
    submit.add_argument("--register-timeout", type=positive_whole_number, default=300, help=argparse.SUPPRESS)
    submit.set_defaults(func=_operator("submit"))

    listing = sub.add_parser("runs", parents=[common], help="list runs, newest first")
    listing.add_argument("--status", choices=runs.FINAL_STATUSES + (runs.RUNNING,))
    listing.add_argument("--since", type=utc_date, help="created on or after this date (YYYY-MM-DD, UTC)")
    listing.add_argument("--limit", type=positive_whole_number)
    listing.set_defaults(func=_operator("list_runs"))

    for name, text in (("show", "a run's status, metrics, categories and locations"),
                       ("wait", "follow a run until it ends (exit 0 succeeded, 1 otherwise)"),
                       ("cancel", "stop a run (capacity released, recorded ABORTED)")):
        command = sub.add_parser(name, parents=[common], help=text)
        command.add_argument("run_id", metavar="RUN", type=job_name_base)
        if name == "wait":
            command.add_argument("--timeout", type=positive_whole_number, help="give up after S seconds (exit 1)")
        command.set_defaults(func=_operator(name))

    report = sub.add_parser("report", parents=[common], help="download a run's report.png, summary.json, summary.md")
    report.add_argument("run_id", metavar="RUN", type=job_name_base)
    report.add_argument("--out", type=output_folder, required=True, help="folder to write into (created if missing)")
    report.set_defaults(func=_operator("report"))

    gate = sub.add_parser("gate", parents=[common], help="for CI: exit 0 when the run meets the requirement")
    gate.add_argument("run_id", metavar="RUN", type=job_name_base)
    gate.add_argument("--require", choices=("not-worse", "better"), required=True,
                      help="not-worse: the interval does not lie below 0.5; better: it lies above")
    gate.add_argument("--max-error-rate", type=rate, help="fail when more inference errors than this share")
    gate.set_defaults(func=_operator("gate"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """The exit code: 0 done, 1 the input is invalid, 2 a usage mistake (explained on stderr)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse's own exits (--help, usage errors), as a code like the rest
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"judgeflow {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
