"""`judgeflow local up` for the operator tests, with one addition: training jobs named
`other-team-*` stay InProgress (another team's job holding the quota) until StopTrainingJob.

    python -m tests.e2e.operator_stack PORT [CDK_OUT]

CDK_OUT: the test session's synthesized assembly, deployed as it is (no second synthesis).
"""

from __future__ import annotations

import sys

from offline.embedded_aws import EmulatorBehaviour
from offline.local_stack import serve

OTHER_TEAM = "other-team-"

if __name__ == "__main__":
    from judgeflow.stacks import STATEFUL_STACK_NAME, STATELESS_STACK_NAME
    from offline.synth import CloudAssembly

    assembly = (CloudAssembly.read(sys.argv[2], (STATEFUL_STACK_NAME, STATELESS_STACK_NAME))
                if len(sys.argv) > 2 else None)
    raise SystemExit(serve(port=int(sys.argv[1]), emulator=EmulatorBehaviour(hold_jobs=(OTHER_TEAM,)),
                           assembly=assembly))
