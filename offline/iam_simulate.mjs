// The IAM decision point of the embedded AWS (offline/iam_enforcement.py starts it).
// One JSON simulation per input line (the shape @cloud-copilot/iam-simulate's runSimulation takes),
// one JSON answer per output line, in order: {"result": "Allowed" | "ImplicitlyDenied" |
// "ExplicitlyDenied", "statements": [...]} or {"error": "..."} when the request itself is invalid
// (an unknown action, or a resource of a type the action does not take).
import { createInterface } from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

// Which statements decided, for a denial message a developer can act on.
function deciding(analysis) {
  const parts = [analysis?.identityAnalysis, analysis?.resourceAnalysis]
  return parts.flatMap((part) => [...(part?.denyStatements ?? []), ...(part?.allowStatements ?? [])])
    .map((statement) => ({ policy: statement.policyId, effect: statement.statement?.Effect }))
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (!line.trim()) continue
  let answer
  try {
    const outcome = await runSimulation(JSON.parse(line), {})
    if (outcome.resultType === 'error') {
      answer = { error: JSON.stringify(outcome.errors) }
    } else if (outcome.resultType === 'single') {
      answer = { result: outcome.overallResult, statements: deciding(outcome.result.analysis) }
    } else {
      answer = { error: `a request for one resource was simulated as ${outcome.resultType}` }
    }
  } catch (error) {
    answer = { error: String(error?.stack ?? error) }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
