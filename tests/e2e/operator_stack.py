"""`judgeflow local up` for the operator tests, with one addition: training jobs named
`other-team-*` stay InProgress (another team's job holding the quota) until StopTrainingJob.

    python -m tests.e2e.operator_stack PORT
"""

from __future__ import annotations

import sys

from offline.embedded_aws import EmulatorBehaviour
from offline.local_stack import serve

OTHER_TEAM = "other-team-"

if __name__ == "__main__":
    raise SystemExit(serve(port=int(sys.argv[1]), emulator=EmulatorBehaviour(hold_jobs=(OTHER_TEAM,))))
