"""The deployment's names and the CloudFormation outputs operators find it by, written once: infra
names its stacks and writes these outputs, the operator commands read them.

`cdk deploy --all -c deployment=staging` deploys a second copy beside the default one in the same
account and region: its stacks (and state machine, Glue database, Athena workgroup) carry the name.
"""

from __future__ import annotations

import re

STATEFUL_STACK_NAME = "JudgeflowData"
STATELESS_STACK_NAME = "JudgeflowPipeline"
DEPLOYMENT_CONTEXT_KEY = "deployment"
_DEPLOYMENT_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")

# Outputs operators find a deployment by: the pipeline (stateless) stack's, which names its data
# stack; and the data stack's. (An output re-exporting the other stack's value would be an
# import of an import, which CloudFormation linters flag.)
STATE_MACHINE_ARN = "StateMachineArn"
DATA_STACK = "DataStackName"
PIPELINE_OUTPUTS = (STATE_MACHINE_ARN, DATA_STACK)
DATASETS_BUCKET = "DatasetsBucketName"
METRICS_BUCKET = "MetricsBucketName"
RUN_REGISTRY_TABLE = "RunRegistryTableName"
DATA_OUTPUTS = (DATASETS_BUCKET, METRICS_BUCKET, RUN_REGISTRY_TABLE)


def stack_names(deployment: str = "") -> tuple[str, str]:
    """(stateful, stateless) stack names of a deployment; the default one keeps the plain names."""
    if not deployment:
        return STATEFUL_STACK_NAME, STATELESS_STACK_NAME
    if not _DEPLOYMENT_NAME.fullmatch(deployment):
        raise ValueError(f"deployment name {deployment!r}: use 1 to 20 lowercase letters, digits or hyphens, "
                         "starting with a letter (e.g. -c deployment=staging)")
    return f"{STATEFUL_STACK_NAME}-{deployment}", f"{STATELESS_STACK_NAME}-{deployment}"
