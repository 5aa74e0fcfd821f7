"""The offline stand-in for the Lambda Python runtime's bootstrap: run ONE function's handler in
this interpreter (the runtime's Python, started isolated: `-I -S -B`), invocation after invocation,
as one warm execution environment does.

Started by offline/lambda_runtime.py as
    python3.14 -I -S -B lambda_bootstrap.py <handler> <result fd> <tmp bytes> <path>...
with the function's environment. sys.path becomes the given folders (the function's task root,
then what the runtime provides, boto3) followed by the standard library: nothing of the harness.
Invocations arrive as JSON lines on stdin; each answer is one JSON line on the result fd. What the
handler prints (its logs) goes to stdout/stderr, which the harness keeps as CloudWatch Logs would.

Standard library only: this file is the runtime, not part of any asset.
"""

import importlib
import json
import os
import resource
import sys
import time
import traceback


class Context:
    """The attributes of the Lambda context object."""

    def __init__(self, request):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request["function_arn"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline = request["deadline"]

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))


def _error(error_type, message, stack=None):
    return {"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}


def _new_modules(reported):
    """Files of the modules imported since the last answer (the harness checks where they come from)."""
    found = {}
    for name, module in list(sys.modules.items()):
        if name not in reported:
            reported.add(name)
            found[name] = getattr(module, "__file__", None)
    return found


def _invoke(handler, request):
    try:
        result = handler(request["event"], Context(request))
    except Exception as exc:
        return {"error": _error(type(exc).__name__, str(exc), traceback.format_exception(exc))}
    try:
        return {"result": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return {"error": _error("Runtime.MarshalError", f"Unable to marshal response: {exc}")}


def main():
    handler_name, result_fd, tmp_bytes, *path = sys.argv[1:]
    # The function's ephemeral storage bounds what it can write: no file grows past it (a write
    # beyond fails with EFBIG; Python ignores SIGXFSZ). The harness checks the folder's total
    # after each invocation (offline/lambda_runtime.py).
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(tmp_bytes), int(tmp_bytes)))
    sys.path[:0] = path
    results = os.fdopen(int(result_fd), "w", encoding="utf-8")
    reported = set()
    module_name, _, attribute = handler_name.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
        init_error = None
    except Exception as exc:  # Lambda answers every invocation of a function that failed to start
        kind = ("Runtime.ImportModuleError" if isinstance(exc, ImportError)
                else "Runtime.HandlerNotFound" if isinstance(exc, AttributeError) else "Runtime.UserCodeSyntaxError")
        init_error = _error(kind, f"Unable to import module '{module_name}': {exc}", traceback.format_exception(exc))
        handler = None
    print(json.dumps({"ready": True, "modules": _new_modules(reported)}), file=results, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        answer = {"error": init_error} if init_error else _invoke(handler, request)
        sys.stdout.flush()
        sys.stderr.flush()
        answer["modules"] = _new_modules(reported)
        print(json.dumps(answer), file=results, flush=True)


if __name__ == "__main__":
    main()
