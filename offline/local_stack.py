"""`judgeflow local up`: the whole deployment served on 127.0.0.1 until interrupted.

It synthesizes the app and deploys both stacks into the embedded AWS (moto) exactly as the tests
do, then serves that AWS over HTTP: point any AWS tool at it with AWS_ENDPOINT_URL (the operator
commands, the AWS CLI, boto3). The judge is the local emulator, and every result says so
(`produced_by: local-emulator`).
"""

from __future__ import annotations

import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TextIO

from judgeflow.stacks import STATEFUL_STACK_NAME, STATELESS_STACK_NAME
from offline.embedded_aws import EmulatorBehaviour
from offline.pipeline import OfflineJudgeflow
from offline.synth import CloudAssembly, default_context, synthesize

DEFAULT_PORT = 4510
# Quotas the local account starts with: one pairwise and one rubric run at a time.
LOCAL_QUOTAS = {"ml.g5.12xlarge": 1, "ml.p5.48xlarge": 1}
# Any access key the deployment's own roles do not use acts as the account's administrator.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


@contextmanager
def local_stack(*, port: int = DEFAULT_PORT, quotas: Mapping[str, float] | None = None,
                emulator: EmulatorBehaviour | None = None, wait_scale: float = 0.01, outdir: Path | None = None,
                lambda_log: TextIO | None = None, assembly: CloudAssembly | None = None) -> Iterator[OfflineJudgeflow]:
    """Both stacks deployed and served on 127.0.0.1:`port` while the block runs. The app is
    synthesized into `outdir` (a temporary folder when None) unless an `assembly` synthesized
    before is given. Capacity waits are scaled by `wait_scale` (a minute's wait takes 0.6 s), so
    a local run does not idle."""
    context = default_context()
    with tempfile.TemporaryDirectory(prefix="judgeflow-local-") as folder:
        assembly = assembly or synthesize(context, outdir=str(outdir or folder))
        with OfflineJudgeflow(assembly, stack_order=[STATEFUL_STACK_NAME, STATELESS_STACK_NAME],
                              region=context["region"], quotas=dict(quotas if quotas is not None else LOCAL_QUOTAS),
                              emulator=emulator, wait_scale=wait_scale, port=port, lambda_log=lambda_log) as stack:
            yield stack


def ready_line(stack: OfflineJudgeflow) -> str:
    """The one line `local up` prints once requests are taken: the endpoint and how to use it."""
    endpoint = stack.aws.server.endpoint
    exports = " ".join(f"{name}={value}" for name, value in
                       {"AWS_ENDPOINT_URL": endpoint, **LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": stack.aws.region}.items())
    return (f"judgeflow local stack ready at {endpoint} (stacks {STATEFUL_STACK_NAME} and {STATELESS_STACK_NAME}, "
            f"judge = local-emulator); in another terminal: export {exports}")


def serve(*, port: int = DEFAULT_PORT, print_fn: Callable[..., Any] = print, stop: threading.Event | None = None,
          emulator: EmulatorBehaviour | None = None, assembly: CloudAssembly | None = None) -> int:
    """Serve until Ctrl-C, SIGTERM or `stop`; 0 once stopped cleanly."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Both set explicitly: a process started in the background inherits SIGINT ignored.
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
    print_fn(f"judgeflow local up: synthesizing and deploying both stacks on 127.0.0.1:{port} ...", flush=True)
    try:
        with local_stack(port=port, emulator=emulator, assembly=assembly) as stack:
            print_fn(ready_line(stack), flush=True)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    print_fn("judgeflow local stack stopped", flush=True)
    return 0
