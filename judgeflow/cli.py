"""The `judgeflow` command.

  judgeflow demo [--out DIR]                       the offline pipeline on the sample dataset
  judgeflow validate FILE [--task T] [--report OUT] exit 0 valid, 1 invalid, 2 usage or I/O error
  judgeflow plan --task T --judge J --dataset S3URI --output S3URI --role ARN --instance TYPE --region R
  judgeflow ingest-results OUTPUT_TAR --out DIR [--sidecar FILE]

Each command imports what it needs when it runs (`judgeflow --help` and `validate` never load
pyarrow, matplotlib or the offline harness).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from judgeflow.settings import DEFAULTS, JUDGE_MODELS, TASKS, Settings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2, as documented
        self.print_usage(sys.stderr)
        print(f"judgeflow: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _cmd_validate(args: argparse.Namespace) -> int:
    from judgeflow import validation

    settings = Settings.from_mapping(None)
    try:
        with open(args.file, "rb") as handle:
            report = validation.validate_stream(
                validation.read_file_chunks(handle), source=args.file, task=args.task,
                token_limit=args.token_limit, max_rows=args.max_rows, max_findings=settings.max_errors_reported)
    except OSError as exc:
        print(f"judgeflow validate: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    print(report.summary())
    if args.report:
        try:
            Path(args.report).write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            print(f"judgeflow validate: cannot write report {args.report}: {exc.strerror}", file=sys.stderr)
            return 2
    return 0 if report.valid else 1


def _cmd_plan(args: argparse.Namespace) -> int:
    from judgeflow import recipes, runs

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
        print(f"judgeflow plan: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"recipe_yaml": recipes.recipe_yaml(recipe), "create_training_job": request}, indent=2))
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from judgeflow.stages import results

    try:
        archive = Path(args.output_tar).read_bytes()
        sidecar = Path(args.sidecar).read_bytes() if args.sidecar else None
    except OSError as exc:
        print(f"judgeflow ingest-results: {exc}", file=sys.stderr)
        return 2
    now = int(time.time())
    context = results.RunContext(run_id=args.run_id, task=args.task, model_a=args.model_a, model_b=args.model_b)
    try:
        bundle = results.build_results(archive, context=context, sidecar=sidecar, finished_at=now,
                                       date=time.strftime("%Y-%m-%d", time.gmtime(now)))
    except ValueError as exc:
        print(f"judgeflow ingest-results: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    for relative, data in bundle.files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(target)
    stats = bundle.summary["judgeflow_statistics"]
    print(f"verdict: {stats['verdict']} ({stats['verdict_reason']})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    # The offline harness (moto, CDK synth) is not part of the domain package: loaded by name,
    # so the package never imports it.
    import importlib

    return importlib.import_module("offline.demo").run_demo(Path(args.out))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="judgeflow", description="Nova LLM-as-a-Judge evaluations on AWS")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="run the sample dataset through the offline pipeline")
    demo.add_argument("--out", default="out/demo", help="folder for the Parquet files and report (default out/demo)")
    demo.set_defaults(func=_cmd_demo)

    validate = sub.add_parser("validate", help="validate a JSONL dataset locally")
    validate.add_argument("file")
    validate.add_argument("--task", choices=TASKS, default=DEFAULTS["default_task"])
    validate.add_argument("--report", help="write the report JSON here")
    validate.add_argument("--token-limit", type=int, default=DEFAULTS["token_limit"])
    validate.add_argument("--max-rows", type=int, default=DEFAULTS["max_rows"])
    validate.set_defaults(func=_cmd_validate)

    plan = sub.add_parser("plan", help="print the recipe YAML and the CreateTrainingJob request")
    plan.add_argument("--task", choices=TASKS, required=True)
    plan.add_argument("--judge", choices=JUDGE_MODELS, required=True)
    plan.add_argument("--dataset", required=True, help="S3 prefix holding llm_judge.jsonl")
    plan.add_argument("--output", required=True, help="S3 output path of the job")
    plan.add_argument("--role", required=True, help="judge execution role ARN")
    plan.add_argument("--instance", required=True, help="instance type, e.g. ml.g5.12xlarge")
    plan.add_argument("--region", required=True)
    plan.add_argument("--run-name", default="judgeflow-run", help="recipe run.name and job name base")
    plan.add_argument("--recipe-s3", help="S3 prefix the recipe YAML is uploaded to (default <output>/recipe/)")
    plan.add_argument("--image", help="Nova evaluation image (default: the region's image from settings)")
    plan.set_defaults(func=_cmd_plan)

    ingest = sub.add_parser("ingest-results", help="turn a judge output.tar.gz into Parquet, summary and report")
    ingest.add_argument("output_tar")
    ingest.add_argument("--out", required=True)
    ingest.add_argument("--sidecar", help="sidecar.jsonl written at staging (joins categories back)")
    ingest.add_argument("--run-id", default="local")
    ingest.add_argument("--task", choices=TASKS, default="llm_judge")
    ingest.add_argument("--model-a", default="model_a")
    ingest.add_argument("--model-b", default="model_b")
    ingest.set_defaults(func=_cmd_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
