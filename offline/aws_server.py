"""The embedded AWS served over HTTP on 127.0.0.1, for what runs outside the harness process (the
Lambda functions, each in its own interpreter). It serves the same moto state the harness sees.

Each request is handled alone (`api_lock`, which the harness's own in-process calls take too): on
AWS every API call is atomic (a conditional write checks and writes in one step; a reader never
sees half an item), while moto's backends check and write in separate Python steps that
concurrent requests could interleave. Faults a test injects (`Faults`) and throttling past an
API's rate (offline/aws_limits.py) are answered here, in the AWS error format, before the request
reaches moto.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class Fault:
    """Answer the next `count` calls of `target` (the X-Amz-Target of a JSON-protocol call, e.g.
    "DynamoDB_20120810.DeleteItem") with this AWS error."""

    target: str
    error: str
    message: str
    count: int = 1
    status: int = 400
    seen: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Faults:
    active: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> Fault:
        self.active.append(fault)
        return fault

    def take(self, target: str) -> Fault | None:
        for fault in self.active:
            if fault.target == target and fault.count > 0:
                fault.count -= 1
                return fault
        return None


class AwsServer:
    def __init__(self, faults: Faults, *, port: int = 0) -> None:
        self.faults = faults
        self.port = port  # 0: any free port (the harness); `judgeflow local up --port` names one
        self.throttle: Callable[[str], str | None] = lambda target: None  # the error of a call past its rate
        # Reentrant: a call may make others in the same thread (an S3 write starting an execution).
        self.api_lock = threading.RLock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines in test output
        moto_app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", self.port, self._wrap(moto_app), threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="embedded-aws-http")
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def _wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            with self.api_lock:
                fault = self.faults.take(target) if target else None
                throttled = None if fault or not target else self.throttle(target)
                if fault is not None or throttled is not None:
                    error = fault.error if fault else throttled
                    message = fault.message if fault else "Rate exceeded"
                    body = json.dumps({"__type": error, "message": message}).encode()
                    if fault:
                        fault.seen.append({"target": target})
                    start_response(f"{fault.status if fault else 400} Fault",
                                   [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))])
                    return [body]
                return list(app(environ, start_response))  # the whole response inside the lock

        return serve
