"""Every error, warning and waiting reason a judgeflow user can see, in one catalogue.

Each entry has a stable code, the places it shows, the shape of its message and how to fix it.
docs/troubleshooting.md is rendered from this module (`python -m judgeflow.docs_reference`), and
tests/domain/test_docs.py keeps it in step with the code: the dataset entries are exactly the issue
codes the validator emits, and the messages the code produces match the shapes written here.

Message shapes are the message as the code words it, with each part that varies written as
`<what goes there>`. `shape_pattern` turns a shape into the regular expression the tests use.

Plain data, no imports beyond the standard library: the CLI and the docs generator load it cheaply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Where a user meets a message.
VALIDATION_REPORT = "validation report"
RUN_RECORD = "run record"
NOTIFICATION = "notification"
CONSOLE = "Step Functions console"
RUN_WARNINGS = "run warnings"
CLI_EXIT_1 = "CLI exit 1"
CLI_EXIT_2 = "CLI exit 2"
GATE = "judgeflow gate"
CDK_SYNTH = "cdk synth"

PLACES: dict[str, str] = {
    VALIDATION_REPORT: "`rejected/<name>.report.json` next to the upload in the datasets bucket (each finding "
                       "with line, field, kind, message and fix), and the output of `judgeflow validate`.",
    RUN_RECORD: "the run's record in the run registry: its status and `reason` once it ended, its "
                "`waiting_reason` while it waits for capacity; `judgeflow show RUN` prints it.",
    NOTIFICATION: "the message published to the notifications topic (and the e-mail set in "
                  "`notification_email`).",
    CONSOLE: "the run's execution: the cause of its failed end state, or a state's output (`Check "
             "capacity` says why a run waits).",
    RUN_WARNINGS: "warnings on a finished run: `warnings_json` in the `runs` table, the warnings of "
                  "`summary.json` and `summary.md`, and `warnings` in the notification. The run still counts.",
    CLI_EXIT_1: "a `judgeflow` command that ends with exit code 1 and says why on stderr.",
    CLI_EXIT_2: "a `judgeflow` command that ends with exit code 2: one sentence on stderr, "
                "`judgeflow <command>: error: ...`.",
    GATE: "the sentence `judgeflow gate` prints; its exit code is 0 when the requirement holds, 1 when it does "
          "not, 3 when the run has not finished, 4 when it cannot be decided.",
    CDK_SYNTH: "`cdk synth` or `cdk deploy` stops before anything is deployed.",
}

# How serious an entry is.
ERROR = "error"
WARNING = "warning"
WAIT = "wait"
NOTICE = "notice"
SEVERITIES: dict[str, str] = {
    ERROR: "error: the file, run or command stops here",
    WARNING: "warning: the file or run goes ahead",
    WAIT: "wait: the run keeps its place in line and checks again",
    NOTICE: "notice: nothing is wrong, judgeflow says what it did",
}

_PLACEHOLDER = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class Entry:
    """One message a user can see. `messages` holds its shapes (one or more wordings);
    `report_kind` is the `kind` it carries in a validation report, when it appears in one."""

    code: str
    title: str
    shows: tuple[str, ...]
    messages: tuple[str, ...]
    fix: str
    severity: str = ERROR
    report_kind: str | None = None


@dataclass(frozen=True)
class Group:
    title: str
    intro: str
    entries: tuple[Entry, ...]


def shape_pattern(shape: str) -> re.Pattern[str]:
    """The regular expression of a message shape: literal text, any text for each `<...>`."""
    parts = _PLACEHOLDER.split(shape)
    return re.compile(".*?".join(re.escape(part) for part in parts), re.DOTALL)


def matches(entry: Entry, message: str) -> bool:
    """Whether `message` has one of the entry's shapes, whole."""
    return any(shape_pattern(shape).fullmatch(message) for shape in entry.messages)


_REJECTED = (VALIDATION_REPORT, RUN_RECORD, NOTIFICATION, CONSOLE)


def _finding(code: str, title: str, message: str, fix: str, severity: str = ERROR) -> Entry:
    """A finding of judgeflow.validation: its code is the report's `kind`."""
    shows = (VALIDATION_REPORT,) if severity == WARNING else _REJECTED
    return Entry(code, title, shows, (message,), fix, severity, report_kind=code)


DATASET = Group(
    "Dataset validation",
    "Every line of an upload is checked before any GPU time is spent. A file with an error is rejected: "
    "its report lands in `rejected/<name>.report.json`, the run is recorded as `REJECTED` "
    "(see `rejected` under *Execution input and runs*), and the original stays where it was. The code "
    "is the `kind` of the finding in the report. `judgeflow validate FILE` runs the same checks "
    "locally (exit 0 valid, 1 invalid).",
    (
        _finding("invalid_json", "A line is not valid JSON",
                 "not valid JSON: <the parser's message> at column <n>.",
                 "Write one complete JSON object per line. If the line holds a carriage return (CR), the "
                 "file may have CR-only (classic Mac) line ends: save it with LF or CR LF line ends; inside "
                 "a string, write a CR as `\\r`."),
        _finding("not_an_object", "A line is JSON but not an object",
                 "the line is a JSON <array, string, number, boolean or null>, not an object.",
                 "Write each record as `{\"prompt\": ..., \"response_A\": ..., \"response_B\": ...}`."),
        _finding("missing_field", "A required field is missing",
                 "required field '<name>' is missing.",
                 "Add the field (`prompt`, `response_A` or `response_B`) to the record on that line."),
        _finding("null_field", "A required field is null",
                 "field '<name>' is null.",
                 "Give the field a text value (a JSON string)."),
        _finding("not_a_string", "A required field is not a string",
                 "field '<name>' must be a string, got <type>.",
                 "Write the field as a JSON string, for example `\"prompt\": \"text\"`."),
        _finding("empty_field", "A required field is empty",
                 "field '<name>' is empty.",
                 "Put the text in the field."),
        _finding("blank_field", "A required field holds only whitespace",
                 "field '<name>' holds only whitespace.",
                 "Put the text in the field; a judge cannot compare blank answers."),
        _finding("schema", "Another schema rule failed",
                 "<the JSON Schema validator's message>",
                 "Compare the record with `judgeflow/schemas/<task>.schema.json`."),
        _finding("reserved_field", "A record uses the reserved field `_line`",
                 "the field name '_line' is reserved: judgeflow keeps each record's line number under it, "
                 "beside your extra fields.",
                 "Rename the field, for example to `source_line`; its value is then kept as it is, with your "
                 "other extra fields."),
        _finding("nesting_too_deep", "An extra field nests too deep",
                 "<field 'name', or the line> nests objects and arrays more than 64 levels deep (the record "
                 "counts as one level); judgeflow keeps extra fields up to 64 levels.",
                 "Flatten the field (for example, store it as a JSON string) or drop it."),
        _finding("too_many_tokens", "A record is over the token limit",
                 "the record is about <n> tokens, over the limit of <token_limit>.",
                 "Shorten the prompt or the responses, or raise `token_limit` in cdk.json. The estimate is the "
                 "characters of the three fields divided by 4, plus 300 tokens of judge instructions."),
        _finding("too_many_rows", "More records than allowed",
                 "the file has more than <max_rows> records (the configured maximum).",
                 "Split the file, or raise `max_rows` in cdk.json."),
        _finding("invalid_utf8", "Bytes that are not UTF-8",
                 "invalid UTF-8 at byte offset <n> of the file.",
                 "Re-encode the file as UTF-8; the offset shows where the first bad byte is."),
        _finding("byte_order_mark", "The file starts with a byte-order mark",
                 "the file starts with a UTF-8 byte-order mark (BOM).",
                 "Save the file as UTF-8 without BOM."),
        _finding("blank_line", "A blank line between records",
                 "blank line inside the data.",
                 "Remove empty lines between records; blank lines at the end of the file are fine."),
        _finding("line_too_long", "A line over 1 MiB",
                 "the line is longer than 1 MiB; it was not read.",
                 "Put one record per line; a record must also stay within `token_limit`."),
        _finding("binary_content", "The file is binary",
                 "the file is binary (gzip or other), not JSON Lines text.",
                 "Upload the uncompressed `.jsonl` text file."),
        _finding("empty_file", "The file holds no records",
                 "the file holds no records.",
                 "Add one JSON object per line with `prompt`, `response_A` and `response_B`."),
        _finding("file_extension", "The file name does not end in .jsonl",
                 "the file name '<name>' does not end in .jsonl.",
                 "Name dataset files `*.jsonl`. The file is still judged.", WARNING),
        _finding("duplicate_row", "A record repeats an earlier one",
                 "same record as line <n>.",
                 "Remove the repeated record unless you mean to count it twice.", WARNING),
        _finding("duplicate_check_limited", "Duplicates were checked in part of the file",
                 "duplicates were checked among the first 200,000 distinct records only.",
                 "Nothing to fix; split very large files if duplicates matter.", WARNING),
        _finding("crlf_line_end", "Windows (CR LF) line ends",
                 "<n> of <lines> lines end with CR LF (Windows line ends), the first on line <k>; JSON reads "
                 "the CR as whitespace and the file is staged with LF line ends.",
                 "Nothing to fix: CR LF line ends are accepted.", WARNING),
    ),
)

_SETTINGS_FIX = ("Correct the S3 object metadata (or the execution input's `settings`) and upload the file again; "
                 "the report's fix says the same.")

RUN_SETTINGS = Group(
    "Run settings",
    "Per-run settings come from the upload's S3 user metadata (`x-amz-meta-<key>`) or the execution input's "
    "`settings`. A wrong setting rejects the file like a bad line: the finding has kind `settings`, field "
    "`settings`, and the message below.",
    (
        Entry("metadata.given_twice", "A setting given twice in the metadata", _REJECTED,
              ("S3 metadata sets <setting> twice: 'x-amz-meta-<key>' and 'x-amz-meta-<other key>'; keep one of "
               "them",),
              "Keep one of the two keys (`model-a` and `model_a` are the same setting).", report_kind="settings"),
        Entry("metadata.misspelt_key", "A metadata key that looks like a misspelt setting", _REJECTED,
              ("unknown S3 metadata key 'x-amz-meta-<key>': did you mean 'x-amz-meta-<setting>'? judgeflow "
               "settings are x-amz-meta-task, x-amz-meta-judge-model, x-amz-meta-model-a, x-amz-meta-model-b, "
               "x-amz-meta-instance-types, x-amz-meta-rerun",),
              "Use the key the message suggests.", report_kind="settings"),
        Entry("metadata.rerun_value", "rerun is not true or false", _REJECTED,
              ("x-amz-meta-rerun must be 'true' or 'false', got <value>",),
              "Set `rerun=true` to judge an identical dataset again, or leave the key out.", report_kind="settings"),
        Entry("metadata.bad_encoding", "A metadata value S3 could not decode", _REJECTED,
              ("x-amz-meta-<key>: the value <value> is not valid RFC 2047 text (<detail>); set it again as "
               "plain text",),
              "Set the value again as plain text; S3 encodes non-ASCII values itself.", report_kind="settings"),
        Entry("ignored_metadata", "A metadata key that is not a setting", (VALIDATION_REPORT,),
              ("the S3 metadata key 'x-amz-meta-<key>' is not a judgeflow setting (upload tools such as rclone "
               "or s3cmd add keys like it); it was ignored.",),
              "Nothing to do if an upload tool added it. judgeflow's keys are `task`, `judge-model`, `model-a`, "
              "`model-b`, `instance-types` and `rerun`.", WARNING, report_kind="ignored_metadata"),
        Entry("run_settings.invalid", "A setting has a value that is not allowed", _REJECTED,
              ("invalid run settings: Additional properties are not allowed (<keys> <was or were> unexpected); "
               "allowed keys: <keys>",
               "invalid run settings: <key>: <value> is not allowed; use one of <values>",
               "invalid run settings: <key>: <the JSON Schema validator's message>"),
              "Use the allowed keys and values the message lists (several problems are joined with `; `). "
              "Labels (`model-a`, `model-b`) are 1 to 128 characters; instance types look like "
              "`ml.g5.12xlarge`.", report_kind="settings"),
        Entry("recipe.no_recipe", "The task has no recipe for the judge model", _REJECTED,
              ("task '<task>' has no recipe for judge model '<judge model>'; available: [<judge models>]",),
              "Pick a judge model the task offers: `llm_judge` takes `micro`, `lite` or `pro`; "
              "`rubric_llm_judge` takes `lite-2`. A rubric run must say `judge-model=lite-2` unless "
              "`default_judge_model` is `lite-2`.", report_kind="settings"),
        Entry("recipe.no_allowed_instance_type", "No preferred instance type is allowed by the recipe", _REJECTED,
              ("none of the preferred instance types [<types>] is allowed for the <task>/<judge model> recipe; "
               "allowed: [<types>]",),
              "Give `instance-types` (or `instance_preferences` in cdk.json) at least one type the message "
              "lists as allowed.", report_kind="settings"),
    ),
)

_INPUT = (RUN_RECORD, NOTIFICATION, CONSOLE)
_EXAMPLE = '{"bucket": "<datasets bucket>", "key": "incoming/my-data.jsonl", "settings": {"model_a": "..."}}'

EXECUTION_INPUT = Group(
    "Execution input and runs",
    "An execution started from the console or the CLI is checked before anything is read. A mistake ends it "
    "as *Dataset rejected* (error `DatasetRejected`) with the sentence below, recorded as a `REJECTED` run "
    "(`jf-rejected-...`) and notified once.",
    (
        Entry("rejected", "A dataset was rejected", _INPUT,
              ("Dataset s3://<bucket>/<key> rejected: <n> error(s). <the first three findings>. Full report: "
               "s3://<bucket>/rejected/<name>.report.json. The original file is kept unchanged.",),
              "Read the full report, fix the findings it lists (see *Dataset validation* and *Run settings*) "
              "and upload the file again."),
        Entry("request.not_an_object", "The execution input is not a JSON object", _INPUT,
              (f"Execution input rejected: execution input must be a JSON object like {_EXAMPLE}, got <a string, "
               "an array, a number, a boolean or null>",),
              "Paste a JSON object with `bucket` and `key`, as in the message."),
        Entry("request.keys", "The execution input misses or adds keys", _INPUT,
              (f"Execution input rejected: execution input: missing [<keys>] / unknown keys [<keys>]; allowed keys "
               f"['bucket', 'key', 'version_id', 'settings', 'source', 'event_id']; example: {_EXAMPLE}",),
              "Give `bucket` and `key` as non-empty strings and only the keys the message allows."),
        Entry("request.settings_not_object", "The execution input's settings are not an object", _INPUT,
              (f"Execution input rejected: execution input 'settings' must be an object, got <type>; example: "
               f"{_EXAMPLE}",),
              "Write `settings` as an object with the metadata keys in snake case, e.g. "
              "`{\"model_a\": \"aurora-7b\"}`."),
        Entry("request.version_id", "The execution input's version_id is not a string", _INPUT,
              ("Execution input rejected: execution input 'version_id' must be an S3 version id (a string); "
               "leave it out to judge the object's current version",),
              "Give the version id as a string, or leave it out."),
        Entry("request.other_bucket", "The execution input names another bucket", _INPUT,
              ("Execution input rejected: execution input names bucket '<bucket>'; judgeflow only reads datasets "
               "from its datasets bucket '<datasets bucket>': copy the file there, under incoming/, and give "
               "that bucket",),
              "Copy the file into the datasets bucket (stack output `DatasetsBucketName`) under `incoming/`."),
        Entry("request.no_such_object", "The dataset named does not exist", _INPUT,
              ("Execution input rejected: <s3://bucket/key, or: version 'id' of s3://bucket/key> does not "
               "exist< (also tried the URL-decoded key 'key')>: it was deleted or overwritten before it was read, or the "
               "bucket/key in the execution input is misspelt (keys are case-sensitive); list the bucket to "
               "find the key",),
              "List the bucket (`aws s3 ls s3://<bucket>/incoming/`) and give the key exactly."),
        Entry("request.bad_version", "The version id is not a valid S3 version id", _INPUT,
              ("Execution input rejected: version '<id>' of s3://<bucket>/<key> is not a valid S3 version id; "
               "leave 'version_id' out to judge the current version",),
              "Copy the version id from `aws s3api list-object-versions`, or leave it out."),
        Entry("run.not_launched_again", "The same dataset and settings were judged before", (CONSOLE,),
              ("Not launched again: this dataset and these settings are run <run_id> (status <status>, first "
               "seen as s3://<bucket>/<key>, execution <execution ARN>). <To run it again on purpose, set the "
               "setting rerun=true, or: Upload the file again with rerun=true to run it once more>.",),
              "Nothing is wrong: read the earlier run's results. To judge the same file with the same settings "
              "again, upload it with `rerun=true` (`judgeflow submit --rerun`). `judgeflow submit` prints the "
              "earlier run and exits 0.", NOTICE),
        Entry("console.dataset_unreadable", "The validate step could not read the dataset", (CONSOLE,),
              ("<the error the validate Lambda raised>",),
              "The execution ends in *Could not read dataset* (error `DatasetUnreadable`). The cause is an AWS "
              "error, such as access denied: check that the object is in the datasets bucket and readable with "
              "the bucket's KMS key, then start the run again."),
        Entry("console.registry_error", "The run could not be registered", (CONSOLE,),
              ("<the error the register Lambda raised>",),
              "The execution ends in *Could not register run* (error `RegistryError`). Check the run "
              "registry table and the register function's log, then start the run again."),
    ),
)

_WAITING = (CONSOLE, RUN_RECORD)
_FAILED = (RUN_RECORD, NOTIFICATION, CONSOLE)
_NEXT_CHECK = "; next check in <s> s, or sooner when a run releases capacity."
_INCREASE = ("Request an increase of the Service Quotas quota '<quota name>'< (code L-...), once known> (service "
             "'sagemaker') in <region>: Service Quotas console > AWS services > Amazon SageMaker, or `aws "
             "service-quotas request-service-quota-increase --service-code sagemaker --quota-code <code> "
             "--desired-value 1 --region <region>`.")
_QUOTA_FIX = ("Request more of the quota the message names (Service Quotas, service `sagemaker`), or allow "
              "another instance type (`instance-types`, or `instance_preferences` in cdk.json).")

CAPACITY = Group(
    "Capacity waits and quota refusals",
    "Before launching, *Check capacity* reads the quota \"<instance type> for training job usage\" and the "
    "instances in use. A run that finds no room waits in line; the reason is the `reason` of *Check "
    "capacity*'s output and the run record's `waiting_reason`. A run that cannot be served fails; its record "
    "and notification read `Run <run_id> failed: NoCapacity: <message>`.",
    (
        Entry("capacity.all_in_use", "Every allowed quota is in use", _WAITING,
              ("All allowed quotas are in use ('<quota name>' = <n>, in use <u><, k wanted by runs ahead in "
               "line><; the other allowed types alike>)" + _NEXT_CHECK,),
              "Nothing to do: the run starts when a slot frees. To start sooner, raise the quota or allow more "
              "instance types.", WAIT),
        Entry("capacity.in_line", "Free slots go to runs that waited longer", _WAITING,
              ("Free slots go to runs that waited longer ('<quota name>' = <n>, in use <u>, <k> wanted by runs "
               "ahead in line<; the other allowed types alike>)" + _NEXT_CHECK,),
              "Nothing to do: runs are served first come, first served.", WAIT),
        Entry("capacity.account_full", "The account-wide instance quota is in use", _WAITING,
              ("The account-wide quota 'Number of instances across all training jobs' = <n> is in use (<u> "
               "instances of all types; this run needs <i>)" + _NEXT_CHECK,),
              "Nothing to do: the run starts when other training jobs end. To start sooner, raise that quota.",
              WAIT),
        Entry("capacity.zone_unavailable", "No instances in the zone and no other free type", _WAITING,
              ("No instance capacity in the zone for <types> (CapacityError) and no free quota for the other "
               "allowed types" + _NEXT_CHECK,),
              "Nothing to do: SageMaker had no instances of those types; the run tries every allowed type again "
              "after the wait. Allowing more types gives it more chances.", WAIT),
        Entry("capacity.gave_up", "The capacity wait ran out", _FAILED,
              ("Gave up waiting for SageMaker capacity after <waited> s (limit <total> s): <why it waited>. "
               + _INCREASE,),
              _QUOTA_FIX + " Or raise `capacity_wait_total_seconds`. Then upload the file again with "
              "`rerun=true`."),
        Entry("capacity.no_quota", "No quota for any allowed instance type", _FAILED,
              ("No SageMaker training quota for any allowed instance type (<types>): the quota '<type> for "
               "training job usage' is 0. " + _INCREASE,),
              _QUOTA_FIX + " Waiting cannot help, so the run fails at once."),
        Entry("capacity.account_too_small", "The account-wide instance quota is below one job", _FAILED,
              ("The account-wide quota 'Number of instances across all training jobs' is <n>, below the <i> "
               "instance(s) one judge job needs. " + _INCREASE,),
              "Request more of the account-wide quota; waiting cannot help, so the run fails at once."),
    ),
)

JUDGE_JOB = Group(
    "Judge job",
    "The judge is a SageMaker training job (`Run Nova judge`). SageMaker's own refusals send the run back to "
    "waiting; a job that fails ends the run, recorded as `FAILED` with the reason below.",
    (
        Entry("job.resource_limit_exceeded", "SageMaker refused the launch over a quota", _WAITING,
              ("CreateTrainingJob refused the launch: <SageMaker's message, e.g. The account-level service limit "
               "'quota' is N Instances, with current utilization of U Instances and a request delta of "
               "D Instances. ...>" + _NEXT_CHECK,),
              "Nothing to do: judgeflow's count said there was room but SageMaker counted a job judgeflow cannot "
              "see (or a quota just changed). The slot is given back and the run waits, keeping its place.",
              WAIT),
        Entry("job.capacity_error", "No instances of the type in the zone", (CONSOLE,),
              ("CapacityError: Unable to provision requested ML compute capacity<...>",),
              "Nothing to do: the run goes to *Try another instance type* and checks capacity for the next "
              "allowed type. When every allowed type is out, it waits (`capacity.zone_unavailable`).", NOTICE),
        Entry("job.failed", "The training job failed", _FAILED,
              ("Run <run_id> failed: <error>: training job <job name> <status>: <SageMaker's failure reason>",),
              "Read the failure reason and the job's CloudWatch logs (log group /aws/sagemaker/TrainingJobs). "
              "Fix the cause, then upload the file again with `rerun=true`."),
        Entry("job.resource_in_use", "A job of the same name exists", _FAILED,
              ("Run <run_id> failed: <error naming ResourceInUse>: <SageMaker's message>",),
              "Two deployments judged the same file with the same settings at the same moment; the other copy's "
              "run holds the job and its results. Read that run, or upload with `rerun=true`."),
        Entry("run.step_failed", "A step of the run failed", _FAILED,
              ("Run <run_id> failed: <error>:< cause>",),
              "The error and cause name the step and what went wrong (`States.Timeout` after "
              "`results_timeout_seconds` at *Wait for results* means no output archive was read in time). Open "
              "the execution in the console, check that step's log, then upload again with `rerun=true`."),
        Entry("run.execution_ended", "The execution was stopped or ended on its own", (RUN_RECORD,),
              ("execution <aborted, timed_out or failed>: <cause, or stopped>",),
              "A stopped run (`judgeflow cancel`, or *Stop execution* in the console) is `ABORTED`; its capacity "
              "slot and place in line are given back. Start it again if you meant to.", NOTICE),
    ),
)

_RESULTS_FAILED = (RUN_RECORD, NOTIFICATION, CONSOLE, CLI_EXIT_1)
_LOGS = "; the judge job's summary is incomplete - check its CloudWatch logs"

RESULTS_FAILURES = Group(
    "Results failures",
    "The results stage reads the judge job's `output.tar.gz`. When it cannot, the run is `FAILED` with the "
    "reason `Results of run <run_id> could not be read from s3://<work bucket>/<key>: <message>`, and "
    "`judgeflow ingest-results` prints `judgeflow ingest-results: <message>` and exits 1.",
    (
        Entry("results.no_summary", "No summary in the archive", _RESULTS_FAILED,
              ("no summary JSON (<run>/eval_results/results_<timestamp>.json, or eval-result/ or eval-results/) in "
               "output.tar.gz; the judge job did not produce results - check its CloudWatch logs",),
              "The judge job ended without results: read its CloudWatch logs for the cause, then run again."),
        Entry("results.summary_not_json", "The summary is not JSON", _RESULTS_FAILED,
              ("<path>: the summary is not JSON (<parser error>); the judge job's output is damaged - check its "
               "CloudWatch logs",),
              "The output is damaged: read the job's logs, then run again."),
        Entry("results.summary_incomplete", "The summary lacks its results", _RESULTS_FAILED,
              ("<path>: field 'results' is missing or not an object" + _LOGS,
               "<path>: field 'results' holds neither 'all' nor a task entry such as '<task key>'" + _LOGS,
               "<path>: field '<results.all, or results['task key']>' is missing or not an object" + _LOGS),
              "The job wrote an incomplete summary: read its logs, then run again."),
        Entry("results.several_task_entries", "The summary has several differing task entries", _RESULTS_FAILED,
              ("<path>: field 'results' has no 'all' and several task entries that differ (<keys>); judgeflow "
               "cannot tell which one is the run's",),
              "Check that the job ran the run's recipe; read the summary to see which entry is the run's."),
        Entry("results.field_malformed", "A summary figure is not a number", _RESULTS_FAILED,
              ("<path>: field '<where>.<name>' must be a count (a number, 0 or more), got <value>",
               "<path>: field '<where>.<name>' must be a finite number, got <value>"),
              "The job wrote a damaged figure: read its logs, then run again."),
        Entry("results.details_columns", "A details file has columns of neither task", _RESULTS_FAILED,
              ("<path>: a pairwise (llm_judge) details file needs columns forward_output and backward_output, or "
               "a metrics column holding them; found columns [<columns>]< (the columns of a rubric_llm_judge "
               "details file)>; check the run's task and the judge job's recipe",
               "<path>: a rubric (rubric_llm_judge) details file needs a metrics or a predictions column; found "
               "columns [<columns>]< (the columns of a llm_judge details file)>; check the run's task and the "
               "judge job's recipe"),
              "The details were written by the other task's judge: make the run's `task` match the judge the job "
              "ran, then run again."),
        Entry("results.archive_too_large", "The archive unpacks to more than allowed", _RESULTS_FAILED,
              ("output.tar.gz unpacks to more than <n> bytes (setting results_max_unpacked_bytes); refusing to "
               "extract",
               "archive entry '<name>' is <size> bytes: the archive would unpack to more than the "
               "results_max_unpacked_bytes setting allows; refusing to extract"),
              "If the archive is genuine, raise `results_max_unpacked_bytes` (the results function holds the "
              "files in memory: 3,008 MB), deploy, then run again."),
        Entry("results.too_many_members", "The archive has more entries than allowed", _RESULTS_FAILED,
              ("output.tar.gz has more than <n> entries (setting results_max_members); refusing to extract",),
              "If the archive is genuine, raise `results_max_members`, deploy, then run again."),
        Entry("results.unsafe_entry", "The archive holds an unsafe entry", _RESULTS_FAILED,
              ("archive entry '<name>' has an absolute path; refusing to extract",
               "archive entry '<name>' escapes the archive with '..'; refusing to extract",
               "archive entry '<name>' is a link; refusing to extract",
               "archive entry '<name>' is a device or pipe; refusing to extract",
               "archive entry '<name>' is not a regular file; refusing to extract"),
              "A judge job never writes such entries: find out who wrote the archive. Nothing was extracted."),
        Entry("results.not_a_tar", "The archive cannot be read", _RESULTS_FAILED,
              ("output.tar.gz is not a readable tar archive: <error>",),
              "The archive is damaged or cut short: check its size in the work bucket and the job's logs."),
    ),
)

RESULTS_WARNINGS = Group(
    "Results warnings",
    "A run with warnings still ends with its verdict. Each warning is in `warnings_json`, in `summary.json` and "
    "`summary.md`, and in the notification.",
    (
        Entry("results.no_details", "No per-item details", (RUN_WARNINGS,),
              ("no details Parquet in the archive (the pairwise judge writes none): per-item verdicts are "
               "unavailable, statistics are over the service's counts",),
              "Nothing to fix. judgeflow counts over the service's judgments (`jf_count_unit = judgment`); "
              "a pairwise judgment counts each item twice, so read the interval with care (docs/statistics.md).",
              WARNING),
        Entry("results.details_unreadable", "A details file cannot be read", (RUN_WARNINGS,),
              ("details Parquet <path> is unreadable (<error>): its items are missing; statistics are over the "
               "service's counts",),
              "The items of that file are missing from the `items` table and the statistics count judgments. "
              "Check the file in the archive.", WARNING),
        Entry("results.indexes_overlap", "Details files' stored indexes overlap", (RUN_WARNINGS,),
              ("the <n> details files' stored indexes overlap: rows are matched to items by position, files in "
               "name order",),
              "Check a few items (`line_number`, `sidecar_json`) against your file: the rows were matched by "
              "position.", WARNING),
        Entry("results.counts_do_not_add_up", "Counts that do not add up", (RUN_WARNINGS,),
              ("the summary counts <j> judgments but the details hold <n> items (<k> judgments per item: <e> "
               "expected)",
               "the summary counts <j> judgments, fewer than the <n> items the details hold",
               "the details hold <n> items but <m> were staged for the judge",
               "the summary counts <j> judgments for <m> staged items (<k> judgments per item: <e> expected)"),
              "Compare the numbers: the job may have judged part of the file or written part of its details. "
              "judgeflow's statistics count the items it read.", WARNING),
        Entry("results.summary_entry_named_otherwise", "The summary's only entry is named after another task",
              (RUN_WARNINGS,),
              ("<path>: read the summary's only entry, '<key>', not named after the run's task ('<task key>')",),
              "Check that the job ran the run's task; the figures are read from that entry.", WARNING),
        Entry("results.several_summaries", "Several summaries in the archive", (RUN_WARNINGS,),
              ("the archive holds <n> summaries; read the newest, <path>, not <other paths>",),
              "Nothing to fix if the newest is the run's; otherwise read the others in the archive.", WARNING),
        Entry("results.details_outside_folder", "Details outside the summary's folder", (RUN_WARNINGS,),
              ("details outside <folder>/ not read: <paths>",),
              "Only the details beside the summary are read; check the archive if the others matter.", WARNING),
        Entry("results.not_applied", "An archive was not applied to its run", (RUN_RECORD,),
              ("<archive>: already <applied or being applied> to run <run_id> (a repeated delivery)",
               "<archive>: the job wrote output after the run was stopped; kept in place, not applied (the run "
               "stays ABORTED)",
               "<archive>: run <run_id> already has its results from <archive>",
               "<archive>: run <run_id> is <status>, not waiting for results",
               "results written under reports/ and lake/ but the run had already ended <status>"),
              "Nothing to fix: results are applied once. The note is in the run record's "
              "`results_not_applied`; a stopped run's late output is named in `late_results`.", NOTICE),
    ),
)

VERDICTS = Group(
    "Verdicts that cannot decide",
    "A run whose numbers cannot support a verdict ends `UNRELIABLE` with verdict `unreliable`; `judgeflow "
    "gate` cannot decide for it (exit 4). The unit is `item`, or `judgment` when judgeflow counted the service's "
    "judgments (docs/statistics.md).",
    (
        Entry("verdict.nothing_judged", "Nothing was judged", (RUN_RECORD, NOTIFICATION),
              ("nothing was judged (0 <unit>s)",),
              "The job judged no item: check the staged input and the job's logs."),
        Entry("verdict.too_many_errors", "Too many inference errors", (RUN_RECORD, NOTIFICATION),
              ("<p>% of <unit>s were inference errors (limit 20%)",),
              "More than 20 % of the judge's answers had no verdict. Check the items with `preference = "
              "'error'` (docs/athena-cookbook.md): very long records or odd text are common causes."),
        Entry("verdict.no_decisive", "No decisive verdicts", (RUN_RECORD, NOTIFICATION),
              ("no decisive verdicts (all ties or errors)",),
              "Every item was a tie or an error: there is no preference to measure. Check that the two "
              "responses differ."),
    ),
)

DEPLOYMENT = Group(
    "Deployment settings",
    "Settings in `cdk.json` under `context.judgeflow` (docs/settings.md) are checked once, when the app is "
    "synthesized.",
    (
        Entry("cdk.unknown_key", "An unknown settings key", (CDK_SYNTH,),
              ("cdk.json context 'judgeflow' has unknown keys [<keys>]; allowed keys: [<keys>]",),
              "Correct the key's spelling; docs/settings.md lists every key."),
        Entry("cdk.not_positive", "A number setting is not a positive whole number", (CDK_SYNTH,),
              ("cdk.json context judgeflow.<key> must be a positive integer, got <value>",),
              "Give a whole number of 1 or more (no quotes)."),
        Entry("cdk.wait_order", "The first capacity wait is longer than the longest", (CDK_SYNTH,),
              ("judgeflow.capacity_wait_initial_seconds must not exceed judgeflow.capacity_wait_max_seconds",),
              "Make `capacity_wait_initial_seconds` at most `capacity_wait_max_seconds`."),
        Entry("cdk.no_image", "No Nova image for the region", (CDK_SYNTH,),
              ("No Nova evaluation image configured for region '<region>'; add it to cdk.json context "
               "judgeflow.nova_images (known: [<regions>])",),
              "Add the region's Nova evaluation image to `nova_images`, or deploy to a region it lists."),
        Entry("cdk.default_task", "default_task is not a task", (CDK_SYNTH,),
              ("judgeflow.default_task must be one of ['llm_judge', 'rubric_llm_judge'], got <value>",),
              "Use `llm_judge` or `rubric_llm_judge`."),
        Entry("cdk.default_judge_model", "default_judge_model is not a judge model", (CDK_SYNTH,),
              ("judgeflow.default_judge_model must be one of ['micro', 'lite', 'pro', 'lite-2'], got <value>",),
              "Use `micro`, `lite`, `pro` or `lite-2`."),
        Entry("cdk.instance_preferences", "instance_preferences is not a list of instance types", (CDK_SYNTH,),
              ("judgeflow.instance_preferences must be a non-empty list of SageMaker instance types like "
               "'ml.g5.12xlarge', got <value>",),
              "Give a list such as `[\"ml.g5.12xlarge\", \"ml.g5.24xlarge\"]`."),
        Entry("cdk.deployment_name", "A deployment name that cannot be used", (CDK_SYNTH,),
              ("deployment name '<name>': use 1 to 20 lowercase letters, digits or hyphens, starting with a "
               "letter (e.g. -c deployment=staging)",),
              "Use a name like `staging` with `-c deployment=NAME`."),
    ),
)

_ARG = "judgeflow <command>: error: argument <option>: "
_USAGE = "judgeflow <command>: error: "

CLI_USAGE = Group(
    "Command-line usage",
    "A mistake in how a `judgeflow` command was called exits with code 2 and one sentence on stderr saying "
    "what, where and how to fix it (argparse prints the command's usage line before it). The operator "
    "commands (`submit`, `runs`, `show`, `wait`, `report`, `gate`, `cancel`) also exit 2 when they cannot find "
    "the deployment or the run.",
    (
        Entry("cli.arguments", "An option is missing, unknown or has a value not allowed", (CLI_EXIT_2,),
              (_USAGE + "the following arguments are required: <arguments>",
               "judgeflow: error: unrecognized arguments: <arguments><, then a hint for a name starting with "
               "'-'>",
               _ARG + "invalid choice: <value> (choose from <choices>)"),
              "Run `judgeflow <command> --help`. A file name starting with `-` goes after `--` or as `./-name`."),
        Entry("cli.not_positive", "A count is not a positive whole number", (CLI_EXIT_2,),
              (_ARG + "must be a positive whole number (1 or more), got '<text>'",),
              "Give a whole number of 1 or more, e.g. `--max-rows 5000`."),
        Entry("cli.run_name", "A run name that cannot name a training job", (CLI_EXIT_2,),
              (_ARG + "'<text>' is not a usable run name: judgeflow names the run's files and its SageMaker "
               "training job (<name>-judge-0) after it, and job names are at most 63 letters, digits and "
               "hyphens starting with a letter or digit; use 1 to 55 letters, digits and hyphens, starting "
               "with a letter or digit, e.g. 'my-eval-2026'",),
              "Use 1 to 55 letters, digits and hyphens, starting with a letter or digit."),
        Entry("cli.model_label", "A model label is empty or too long", (CLI_EXIT_2,),
              (_ARG + "a model label is 1 to 128 characters, got <n>; shorten it, e.g. 'nova-lite-v2'",),
              "Give a label of 1 to 128 characters."),
        Entry("cli.input_file", "An input file cannot be used", (CLI_EXIT_2,),
              (_ARG + "the file name is empty: give the path of a file",
               _ARG + "file '<name>' does not exist: check the name and the folder (the current folder is "
                      "'<folder>')",
               _ARG + "'<name>' is a folder, not a file: name a file inside it",
               _ARG + "file '<name>' cannot be read (permission denied): make it readable (chmod u+r) or copy it "
                      "somewhere you can read",
               _USAGE + "cannot read '<name>' (<reason>): check the file and its permissions"),
              "Name a readable file; the message quotes the name as it was received."),
        Entry("cli.output_folder", "An output folder cannot be used", (CLI_EXIT_2,),
              (_ARG + "the folder name is empty: give a folder, e.g. out/results",
               _ARG + "'<name>' is a file, not a folder: name a folder (it is created if missing) or move the file "
                      "away",
               _USAGE + "--out '<folder>' cannot be created (<reason>): choose a folder you can write to",
               _USAGE + "--out '<folder>' cannot be written to (permission denied): choose a folder you can write "
                        "to",
               _USAGE + "cannot write '<path>' (<reason>): choose an --out folder you can write to"),
              "Give a folder you can write to; it is created if missing."),
        Entry("cli.output_file", "A report file cannot be written", (CLI_EXIT_2,),
              (_ARG + "the file name is empty: give a file, e.g. report.json",
               _ARG + "'<name>' is a folder: name a file to write, e.g. '<name>/report.json'",
               _ARG + "cannot write '<name>': '<folder>' <does not exist, or is a file, not a folder>; create the "
                      "folder first or choose another path",
               _USAGE + "cannot write --report '<name>' (<reason>): choose a file in a folder you can write to"),
              "Name a file in a folder that exists and that you can write to."),
        Entry("cli.path_outside_out", "A file would be written outside --out", (CLI_EXIT_2,),
              (_USAGE + "refusing to write '<name>': it resolves to '<path>', outside --out '<folder>'; check the "
                        "names that make up the path and any symlink under --out",),
              "Check the run id and any symlink under the --out folder; nothing was written."),
        Entry("cli.plan_recipe", "plan: the task, judge or instance type do not fit a recipe", (CLI_EXIT_2,),
              (_USAGE + "<the recipe's message, as under Run settings>",),
              "Pick a judge model and instance type the task's recipe allows (see `recipe.*` above)."),
        Entry("cli.operator_values", "An operator option has a value it cannot use", (CLI_EXIT_2,),
              (_ARG + "must be a share between 0 and 1 (0.2 = 20%), got '<text>'",
               _ARG + "must be a date as YYYY-MM-DD (UTC), got '<text>'",
               _ARG + "must be a TCP port (1 to 65535), got '<text>'"),
              "Give `--max-error-rate` as a share (`0.05` for 5 %), `--since` as a date like `2026-11-01`, "
              "and `--port` as a number from 1 to 65535."),
        Entry("cli.deployment_not_found", "The deployment cannot be found", (CLI_EXIT_2,),
              (_USAGE + "no stack '<stack>' in <region>: deploy judgeflow (cdk deploy --all), or name its "
                        "pipeline stack with --stack",
               _USAGE + "cannot read stack '<stack>' in <region> (<error>): check your credentials, --profile and "
                        "--region, or AWS_ENDPOINT_URL for a local stack",
               _USAGE + "stack '<stack>' has no output <outputs>: it is not a judgeflow <kind> stack, or an "
                        "older one (deploy this version)",
               _USAGE + "no AWS region: give --region, or set one in your AWS profile or AWS_DEFAULT_REGION"),
              "Point the command at the pipeline stack: `--stack JudgeflowPipeline-NAME` for a named copy, "
              "`--region` for its region, `--profile` for its account; for `judgeflow local up`, set "
              "`AWS_ENDPOINT_URL`."),
        Entry("cli.unknown_run", "The run named is not recorded", (CLI_EXIT_2,),
              (_USAGE + "no run '<run_id>' in stack '<stack>': list the runs with 'judgeflow runs'",),
              "Copy the run id from `judgeflow submit` or `judgeflow runs`, and check that `--stack`, "
              "`--region` and `--profile` point at the deployment that ran it."),
        Entry("cli.report_not_ready", "The run has no report yet", (CLI_EXIT_2,),
              (_USAGE + "run '<run_id>' has no <file> yet (s3://<bucket>/reports/<run_id>/<file>): its results "
                        "are written when it ends; follow it with 'judgeflow wait'",),
              "Wait for the run to end (`judgeflow wait RUN`). A run that failed or was rejected has no report: "
              "`judgeflow show RUN` says why it ended."),
        Entry("gate.fails", "The requirement does not hold", (GATE,),
              ("fails: B is worse, judgeflow's Wilson 95% interval for B [<low>, <high>] over <unit>s lies below "
               "0.5",
               "fails: B is not shown better, judgeflow's Wilson 95% interval for B [<low>, <high>] over <unit>s "
               "does not lie above 0.5",
               "fails: <p>% of <unit>s were inference errors, over <max>%"),
              "The answer is no (exit 1). Read the report; for `better`, an inconclusive run may need more "
              "items to show a difference."),
        Entry("gate.not_finished", "The run has not finished", (GATE,),
              ("run <run_id> has not finished (<why it waits, or running>); gate it once it ends",),
              "Exit 3: wait for the run (`judgeflow wait RUN`), then gate it."),
        Entry("gate.undecidable", "The run cannot be gated", (GATE,),
              ("run <run_id> is unreliable (<verdict reason>): no decision",
               "run <run_id> ended <status> (<reason>): no decision"),
              "Exit 4: the run failed, was rejected or stopped, or is unreliable (see *Verdicts that cannot "
              "decide*). Fix the cause the reason names and submit again."),
    ),
)

CATALOG: tuple[Group, ...] = (DATASET, RUN_SETTINGS, EXECUTION_INPUT, CAPACITY, JUDGE_JOB, RESULTS_FAILURES,
                              RESULTS_WARNINGS, VERDICTS, DEPLOYMENT, CLI_USAGE)
ENTRIES: dict[str, Entry] = {entry.code: entry for group in CATALOG for entry in group.entries}


def entry(code: str) -> Entry:
    return ENTRIES[code]


def find(message: str) -> list[Entry]:
    """The entries whose shapes match `message` whole (most specific first: fewest placeholders)."""
    found = [e for e in ENTRIES.values() if matches(e, message)]
    return sorted(found, key=lambda e: min(len(_PLACEHOLDER.findall(s)) for s in e.messages))


def report_kinds() -> set[str]:
    """The `kind` values of a validation report that the catalogue explains."""
    return {e.report_kind for e in ENTRIES.values() if e.report_kind}
