"""Deploy the synthesized templates into the embedded AWS.

The state machine definition, Lambda handlers and environments, and EventBridge rules are taken
from the CloudFormation templates CDK synthesized, with Ref/GetAtt/Join/Sub/ImportValue
substituted by the physical names chosen here. Nothing about the pipeline is re-declared.
Resources that only matter on AWS (KMS, alarms, Glue, Athena, log groups, queues) are skipped.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3

from infra import assets
from judgeflow.environment import Resources
from offline.embedded_aws import ACCOUNT_ID, EmbeddedAws
from offline.iam_enforcement import STATE_MACHINE_ACCESS_KEY
from offline.lambda_runtime import FunctionSpec
from offline.synth import CloudAssembly

PSEUDO = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT_ID, "AWS::URLSuffix": "amazonaws.com",
          "AWS::NoValue": None}


@dataclass
class Physical:
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


class TemplateResolver:
    """Substitutes CloudFormation intrinsics using physical resources and stack exports."""

    def __init__(self, *, region: str, stack_name: str, resources: dict[str, Physical], exports: dict[str, str]):
        self.pseudo = {**PSEUDO, "AWS::Region": region, "AWS::StackName": stack_name}
        self.resources = resources
        self.exports = exports

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.pseudo[arg] if arg in self.pseudo else self._physical(arg).ref
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                physical = self._physical(logical)
                if attribute not in physical.attributes:
                    raise KeyError(f"offline deploy has no attribute {attribute} for {logical}")
                return physical.attributes[attribute]
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p)) for p in self.resolve(parts))
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(self._sub(m.group(1), variables)), text)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::ImportValue":
                return self.exports[self.resolve(arg)]
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, name: str, variables: dict[str, Any]) -> Any:
        if name in variables:
            return variables[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if "." in name:
            logical, attribute = name.split(".", 1)
            return self._physical(logical).attributes[attribute]
        return self._physical(name).ref

    def _physical(self, logical: str) -> Physical:
        if logical not in self.resources:
            raise KeyError(f"offline deploy did not create {logical}")
        return self.resources[logical]


@dataclass(frozen=True, kw_only=True)
class Deployment(Resources):
    """What the offline deploy created: the resources the stage functions are told of (found
    through their environment), the state machine and the functions (by logical id)."""

    state_machine_arn: str = ""
    state_machine_definition: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> function name


def _name(logical: str, limit: int = 63) -> str:
    return re.sub(r"[^a-z0-9-]", "-", f"jf-{logical.lower()}")[:limit].rstrip("-")


def deploy(aws: EmbeddedAws, assembly: CloudAssembly, stack_order: list[str]) -> Deployment:
    """Create the resources of each stack (stateful first) in the embedded AWS."""
    templates = assembly.templates
    region = aws.region
    exports: dict[str, str] = {}
    found: dict[str, Any] = {"functions": {}}  # the fields of the Deployment, as the deploy finds them
    for stack_name in stack_order:
        template = templates[stack_name]
        physical: dict[str, Physical] = {}
        resolver = TemplateResolver(region=region, stack_name=stack_name, resources=physical, exports=exports)
        resources = template.get("Resources", {})
        # Pass 1: names and ARNs for every resource, so references resolve in any order.
        for logical, resource in resources.items():
            physical[logical] = _physical_for(logical, resource["Type"], region, resource.get("Properties", {}))
        # The policies every offline call is decided against (offline/iam_enforcement.py).
        aws.access.add_stack(resources, resolver.resolve,
                             lambda logical: physical[logical].attributes.get("Arn") or physical[logical].ref)
        # Pass 2: create what the offline pipeline uses, in dependency-safe order.
        for kind in ("AWS::IAM::Role", "AWS::S3::Bucket", "Custom::S3BucketNotifications", "AWS::DynamoDB::Table",
                     "AWS::SNS::Topic",
                     "AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::Events::Rule"):
            for logical, resource in resources.items():
                if resource["Type"] == kind:
                    _create(aws, kind, logical, resolver.resolve(resource.get("Properties", {})), physical[logical],
                            found,
                            asset=lambda: assembly.asset_folder(stack_name, resource["Properties"]["Code"]))
        outputs = {name: output for name, output in template.get("Outputs", {}).items()
                   if not name.startswith("Export")}  # CDK's own cross-stack exports stay exports only
        for output in template.get("Outputs", {}).values():
            if "Export" in output:
                exports[resolver.resolve(output["Export"]["Name"])] = resolver.resolve(output["Value"])
        _publish_stack(aws, stack_name, {name: (str(resolver.resolve(output["Value"])), output.get("Description", ""))
                                         for name, output in outputs.items()})
    return Deployment(**found)


def _publish_stack(aws: EmbeddedAws, stack_name: str, outputs: dict[str, tuple[str, str]]) -> None:
    """The stack as CloudFormation lists it, with its outputs resolved: operators find a deployment
    through DescribeStacks, as on AWS. Its resources were created above, one by one; the stack
    record holds a placeholder resource (CloudFormation requires one) and the outputs."""
    import warnings

    template = {"Resources": {"Deployed": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                "Outputs": {name: {"Value": value, **({"Description": text} if text else {})}
                            for name, (value, text) in outputs.items()}}
    with warnings.catch_warnings():  # moto does not model the placeholder's type; it needs none
        warnings.simplefilter("ignore", UserWarning)
        boto3.client("cloudformation", region_name=aws.region).create_stack(StackName=stack_name,
                                                                         TemplateBody=json.dumps(template))


def _physical_for(logical: str, kind: str, region: str, props: dict[str, Any]) -> Physical:
    name = _name(logical)
    if kind == "AWS::StepFunctions::StateMachine" and isinstance(props.get("StateMachineName"), str):
        name = props["StateMachineName"]
    arn = f"arn:aws:{kind.split('::')[1].lower()}:{region}:{ACCOUNT_ID}:{name}"
    if kind == "AWS::S3::Bucket":
        return Physical(name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                               "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com"})
    if kind == "AWS::DynamoDB::Table":
        return Physical(name, {"Arn": f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}",
                               "StreamArn": f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}/stream/x"})
    if kind == "AWS::Lambda::Function":
        return Physical(name, {"Arn": f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"})
    if kind == "AWS::SNS::Topic":
        topic_arn = f"arn:aws:sns:{region}:{ACCOUNT_ID}:{name}"
        return Physical(topic_arn, {"TopicArn": topic_arn, "TopicName": name})
    if kind == "AWS::IAM::Role":
        return Physical(name, {"Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", "RoleId": name})
    if kind == "AWS::StepFunctions::StateMachine":
        arn = f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"
        return Physical(arn, {"Arn": arn, "Name": name})
    if kind == "AWS::Events::Rule":
        return Physical(name, {"Arn": f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{name}"})
    if kind == "AWS::KMS::Key":
        key_arn = f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{name}"
        return Physical(name, {"Arn": key_arn, "KeyId": name})
    if kind == "AWS::SQS::Queue":
        return Physical(f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{name}",
                        {"Arn": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}", "QueueName": name})
    if kind == "AWS::Logs::LogGroup":
        return Physical(name, {"Arn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{name}:*"})
    return Physical(name, {"Arn": arn})


def _create(aws: EmbeddedAws, kind: str, logical: str, props: dict[str, Any], physical: Physical,
            found: dict[str, Any], asset: Callable[[], tuple[Path, bool]]) -> None:
    region = aws.region
    if kind == "AWS::IAM::Role":
        boto3.client("iam", region_name=region).create_role(
            RoleName=physical.ref, AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))
    elif kind == "AWS::S3::Bucket":
        s3 = boto3.client("s3", region_name=region)
        s3.create_bucket(Bucket=physical.ref) if region == "us-east-1" else s3.create_bucket(
            Bucket=physical.ref, CreateBucketConfiguration={"LocationConstraint": region})
        if props.get("VersioningConfiguration"):
            s3.put_bucket_versioning(Bucket=physical.ref, VersioningConfiguration={"Status": "Enabled"})
    elif kind == "Custom::S3BucketNotifications":
        # CDK turns on S3 -> EventBridge through this custom resource, not a bucket property.
        configuration = props.get("NotificationConfiguration") or {}
        if "EventBridgeConfiguration" in configuration:
            boto3.client("s3", region_name=region).put_bucket_notification_configuration(
                Bucket=props["BucketName"], NotificationConfiguration={"EventBridgeConfiguration": {}})
    elif kind == "AWS::DynamoDB::Table":
        kwargs = {k: props[k] for k in ("KeySchema", "AttributeDefinitions", "BillingMode", "GlobalSecondaryIndexes",
                                        "LocalSecondaryIndexes") if k in props}
        boto3.client("dynamodb", region_name=region).create_table(TableName=physical.ref, **kwargs)
    elif kind == "AWS::SNS::Topic":
        boto3.client("sns", region_name=region).create_topic(Name=physical.attributes["TopicName"])
    elif kind == "AWS::Lambda::Function":
        handler = props.get("Handler") or (props.get("ImageConfig") or {}).get("Command", [None])[0]
        if not handler or "ZipFile" in props["Code"]:
            return  # CDK's own custom-resource functions (inline code) run at deploy time, not in the pipeline
        variables = {k: str(v) for k, v in (props.get("Environment") or {}).get("Variables", {}).items()}
        placeholder = io.BytesIO()
        with zipfile.ZipFile(placeholder, "w") as archive:
            archive.writestr("README.txt", "runs from its asset folder: see offline/lambda_runtime.py")
        boto3.client("lambda", region_name=region).create_function(
            FunctionName=physical.ref, Role=props["Role"], Handler=handler, Code={"ZipFile": placeholder.getvalue()},
            Runtime=props.get("Runtime", f"python{assets.RUNTIME_PYTHON_VERSION}"),
            Timeout=int(props.get("Timeout", 3)), MemorySize=int(props.get("MemorySize", 128)),
            Environment={"Variables": variables})
        folder, image = asset()
        principal = aws.iam.register_role(props["Role"], session_name=physical.ref)
        aws.lambdas.register(FunctionSpec(
            name=physical.ref, arn=physical.attributes["Arn"], handler=handler,
            paths=_image_paths(folder) if image else _zip_paths(folder, props["Runtime"]),
            environment=variables, timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)), access_key_id=principal.access_key_id,
            ephemeral_storage_mb=int((props.get("EphemeralStorage") or {}).get("Size", 512))))
        found["functions"][logical] = physical.ref
        # The resources the pipeline works with are found the way its functions find them: through
        # the Lambda environment contract.
        found.update({k: v for k, v in dataclasses.asdict(Resources.from_environment(variables)).items() if v})
    elif kind == "AWS::StepFunctions::StateMachine":
        definition = props["DefinitionString"]
        name = props.get("StateMachineName") or physical.attributes["Name"]
        arn = f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"
        physical.ref = physical.attributes["Arn"] = arn
        # Its service tasks sign with the interpreter's key: that key is the state machine's role.
        aws.iam.bind(STATE_MACHINE_ACCESS_KEY, aws.iam.register_role(props["RoleArn"], session_name=name))
        boto3.client("stepfunctions", region_name=region).create_state_machine(
            name=name, definition=definition, roleArn=props["RoleArn"])
        found["state_machine_arn"] = arn
        found["state_machine_definition"] = json.loads(definition)
    elif kind == "AWS::Events::Rule":
        events = boto3.client("events", region_name=region)
        name = physical.ref
        events.put_rule(Name=name, EventPattern=json.dumps(props["EventPattern"]), State=props.get("State", "ENABLED"))
        targets = []
        for target in props.get("Targets", []):
            entry = {"Id": target["Id"], "Arn": target["Arn"]}
            for key in ("Input", "InputPath", "InputTransformer", "RoleArn"):
                if key in target:
                    entry[key] = target[key]
            targets.append(entry)
        events.put_targets(Rule=name, Targets=targets)


def _zip_paths(folder: Path, runtime: str) -> tuple[Path, ...]:
    """A zip function runs from its asset folder alone, in the runtime's Python."""
    if runtime != f"python{assets.RUNTIME_PYTHON_VERSION}":
        raise ValueError(f"the offline runtime runs Python {assets.RUNTIME_PYTHON_VERSION}; the template asks for {runtime}")
    return (folder,)


def _image_paths(context: Path) -> tuple[Path, ...]:
    """An image function runs from what its Dockerfile puts in the task root: the stage's code
    (task/) and exactly the locked requirements of the image, installed for the runtime's Python."""
    base = next(line.split()[1] for line in (context / "Dockerfile").read_text().splitlines()
                if line.startswith("FROM "))
    if not base.endswith(f"python:{assets.RUNTIME_PYTHON_VERSION}"):
        raise ValueError(f"the offline runtime runs Python {assets.RUNTIME_PYTHON_VERSION}; the image is {base}")
    return context / assets.IMAGE_CODE_FOLDER, assets.install_requirements(context / assets.IMAGE_LOCK_NAME)
