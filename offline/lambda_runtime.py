"""Lambda offline, running what ships: every function runs from the asset `cdk deploy` uploads, in
its own interpreter of the Lambda runtime's Python (started by offline/lambda_bootstrap.py), with
nothing on its path but its task root, what the runtime provides (boto3, pinned in
offline/lambda-runtime-requirements.txt) and the standard library. Its environment is the one the
template gives it, plus what Lambda adds; its AWS calls go to the embedded AWS over HTTP.

Like Lambda, an execution environment (a worker process) serves one invocation at a time and is
kept warm for the next; concurrent invocations start more of them (cold starts). A handler that
runs past its function's timeout is killed and answered like Lambda answers it. Its /tmp holds
only its configured ephemeral storage: no file grows past it, and a /tmp holding more after an
invocation is recorded (`LambdaService.storage_overruns`) and fails the test.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from infra import assets

BOOTSTRAP = Path(__file__).resolve().parent / "lambda_bootstrap.py"
RUNTIME_REQUIREMENTS = Path(__file__).resolve().parent / "lambda-runtime-requirements.txt"
START_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class FunctionSpec:
    """A deployed function as the offline runtime runs it."""

    name: str
    arn: str
    handler: str
    paths: tuple[Path, ...]  # its code on sys.path, the task root first (the runtime's packages follow)
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    access_key_id: str = "testing"  # signs its calls: the embedded AWS knows the role by it
    # EphemeralStorage.Size: "from 512 MB to 10,240 MB", 512 MB by default
    # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html).
    ephemeral_storage_mb: int = 512


def runtime_packages() -> Path:
    """What the Lambda runtime provides beside the standard library (boto3 and its dependencies),
    installed for the runtime's Python and platform (cached in build/)."""
    def build(target: Path) -> None:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--only-binary=:all:", "--no-compile", "--no-warn-conflicts", "--implementation", "cp",
                   "--python-version", assets.RUNTIME_PYTHON_VERSION,
                   *[arg for platform in assets.PLATFORMS for arg in ("--platform", platform)],
                   "--target", str(target), "-r", str(RUNTIME_REQUIREMENTS)]
        subprocess.run(command, check=True, capture_output=True)
        shutil.rmtree(target / "bin", ignore_errors=True)
        assets._compile(target)

    key = assets._digest(RUNTIME_REQUIREMENTS.read_bytes(), " ".join(assets.PLATFORMS).encode())[:24]
    return assets._publish(build, assets.BUILD_DIR / "lambda-runtime" / f"py{assets.RUNTIME_PYTHON_VERSION}-{key}")


def standard_library_roots(python: str) -> tuple[Path, ...]:
    """Where the runtime's standard library lives (modules found there are the runtime's own)."""
    answer = subprocess.run([python, "-I", "-S", "-c", "import sys, json; print(json.dumps(sys.path))"],
                            capture_output=True, text=True, check=True)
    return tuple(Path(p) for p in json.loads(answer.stdout) if p)


@dataclass
class Invocation:
    function: str
    event: Any
    cold: bool
    seconds: float
    result: Any = None
    error: dict[str, Any] | None = None


class _Worker:
    """One execution environment: an interpreter with the function's handler imported."""

    def __init__(self, spec: FunctionSpec, *, python: str, paths: tuple[Path, ...], environment: dict[str, str],
                 log: TextIO) -> None:
        self.spec = spec
        self.tmp = Path(tempfile.mkdtemp(prefix=f"lambda-{spec.name}-"))  # this environment's /tmp
        # Absolute: the process starts in its task root, and a relative entry would then mean another folder.
        self.paths = paths = tuple(path.resolve() for path in paths)
        read_fd, write_fd = os.pipe()
        environment = {**environment, "AWS_LAMBDA_FUNCTION_NAME": spec.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                       "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                       "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                       "AWS_LAMBDA_LOG_STREAM_NAME": f"offline/{uuid.uuid4().hex}",
                       "_HANDLER": spec.handler, "LAMBDA_TASK_ROOT": str(paths[0]),
                       "TMPDIR": str(self.tmp), "HOME": str(self.tmp)}
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [python, "-I", "-S", "-B", str(BOOTSTRAP), spec.handler, str(write_fd), str(self.tmp_budget),
             *map(str, paths)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(write_fd,),
            env=environment, cwd=paths[0], text=True, errors="replace")
        os.close(write_fd)
        # Through a pipe, not the log file itself: the file-size limit must bound /tmp, not the log.
        self._log_copier = threading.Thread(target=self._copy_log, args=(log,), daemon=True, name=f"log-{spec.name}")
        self._log_copier.start()
        self.answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, args=(read_fd,), daemon=True, name=f"lambda-{spec.name}").start()
        ready = self._answer(START_TIMEOUT_SECONDS)
        if ready is None:
            raise RuntimeError(f"Lambda {spec.name} did not start (see the Lambda log)")
        self.init_seconds = time.perf_counter() - started
        self.modules: dict[str, str | None] = dict(ready["modules"])

    @property
    def tmp_budget(self) -> int:
        return self.spec.ephemeral_storage_mb * 1024 * 1024

    def tmp_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.tmp.rglob("*") if f.is_file() and not f.is_symlink())

    def _copy_log(self, log: TextIO) -> None:
        for line in self.process.stdout:  # drained to the end, so the function never blocks on it
            try:
                log.write(line)
                log.flush()
            except (OSError, ValueError):  # the log closed under a late line: keep draining
                pass

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, encoding="utf-8") as answers:
            for line in answers:
                self.answers.put(json.loads(line))
        self.answers.put(None)  # the process ended

    def _answer(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self.answers.get(timeout=timeout)
        except queue.Empty:
            return None

    def invoke(self, event: Any) -> dict[str, Any]:
        timeout = self.spec.timeout_seconds
        request = {"event": event, "request_id": str(uuid.uuid4()), "function_arn": self.spec.arn,
                   "deadline": time.time() + timeout}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return {"error": {"errorType": "Runtime.ExitError", "errorMessage": "the runtime exited"}}
        answer = self._answer(timeout)
        if answer is None:
            self.stop()
            if self.process.returncode is None or self.process.returncode == -9:
                return {"error": {"errorType": "Sandbox.Timedout",
                                  "errorMessage": f"Task timed out after {timeout:.2f} seconds"}}
            return {"error": {"errorType": "Runtime.ExitError",
                              "errorMessage": f"Runtime exited with error: exit status {self.process.returncode}"}}
        self.modules.update(answer.pop("modules", {}))
        return answer

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()
        self._log_copier.join(timeout=5)  # the last lines reach the log before it is closed
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass
class LambdaService:
    """The deployed functions and their warm execution environments."""

    endpoint: str
    region: str
    log: TextIO
    log_level: str = "INFO"
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    invocations: list[Invocation] = field(default_factory=list)
    storage_overruns: list[str] = field(default_factory=list)  # /tmp over a function's ephemeral storage

    def __post_init__(self) -> None:
        self.python = assets.lambda_python()
        self.runtime_dir = runtime_packages()
        self.standard_library = standard_library_roots(self.python)
        self._idle: dict[str, list[_Worker]] = {}
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        # What Lambda puts in every environment; the credentials are the embedded AWS's.
        self.base_environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
            "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{assets.RUNTIME_PYTHON_VERSION}",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        # Set over the template's: the log level the harness asks for.
        self.harness_environment = {"POWERTOOLS_LOG_LEVEL": self.log_level}

    def register(self, spec: FunctionSpec) -> None:
        self.functions[spec.name] = spec

    def invoke(self, name: str, event: Any) -> tuple[str, bool]:
        """Run one invocation; returns (payload, errored) as the Lambda Invoke API does."""
        spec = self.functions[name]
        with self._lock:
            idle = self._idle.setdefault(name, [])
            worker = idle.pop() if idle else None
        cold = worker is None or not worker.alive
        started = time.perf_counter()
        if cold:
            worker = _Worker(spec, python=self.python, paths=(*spec.paths, self.runtime_dir),
                             environment={**self.base_environment, **spec.environment, **self.harness_environment,
                                          "AWS_ACCESS_KEY_ID": spec.access_key_id},
                             log=self.log)
            with self._lock:
                self._all.append(worker)
        answer = worker.invoke(event)
        if worker.alive and (used := worker.tmp_bytes()) > worker.tmp_budget:
            self.storage_overruns.append(f"{name}: /tmp holds {used} bytes after an invocation, over its ephemeral "
                                         f"storage of {spec.ephemeral_storage_mb} MB")
        record = Invocation(function=name, event=event, cold=cold, seconds=time.perf_counter() - started)
        self.invocations.append(record)
        if worker.alive:
            with self._lock:
                self._idle[name].append(worker)
        if "error" in answer:
            record.error = answer["error"]
            return json.dumps(answer["error"]), True
        record.result = json.loads(answer["result"])
        return answer["result"], False

    def modules_outside_code(self) -> dict[str, list[str]]:
        """Per function, the modules its environments loaded (lazily or not) from anywhere but its
        own code, the runtime (packages, standard library, bootstrap): none, when what ships is whole."""
        outside: dict[str, list[str]] = {}
        for worker in list(self._all):
            roots = (*worker.paths, *self.standard_library)
            strays = [f for f in worker.modules.values()
                      if f and f != str(BOOTSTRAP) and not any(Path(f).is_relative_to(r) for r in roots)]
            if strays:
                outside.setdefault(worker.spec.name, []).extend(strays)
        return outside

    def stop(self) -> None:
        with self._lock:
            workers, self._all, self._idle = self._all, [], {}
        for worker in workers:
            worker.stop()
