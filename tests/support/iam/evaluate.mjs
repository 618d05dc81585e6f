// Decides AWS calls against IAM policies, one JSON request per line on stdin,
// one JSON answer per line on stdout (tests/support/iam_gate.py drives it).
//   in:  {"principal": arn, "policies": [{"name", "policy"}], "action": "sqs:SendMessage",
//         "resource": arn, "account": "123456789012", "context": {...}}
//   out: {"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error", "detail": ...}
import { createInterface } from 'node:readline'
import { isWildcardOnlyAction, runSimulation } from '@cloud-copilot/iam-simulate'

async function decide(request) {
  const [service, action] = request.action.split(':')
  // An action without resource-level permissions is authorized on "*" (the Service
  // Authorization Reference lists no resource type for it).
  const wildcard = await isWildcardOnlyAction(service, action)
  // Never '*' for an action that has resource types: the simulator would then ask
  // whether *some* resource is allowed, which is not what AWS decides.
  const resource = wildcard ? '*' : request.resource
  if (!wildcard && resource.includes('*')) {
    return { decision: 'Error', resource, detail: 'a request names one resource, not a pattern' }
  }
  return finish(await simulate(request, resource), resource)
}

function finish(answer, resource) {
  if (answer.resultType === 'error') {
    return { decision: 'Error', resource, detail: answer.errors }
  }
  return { decision: answer.overallResult, resource }
}

async function simulate(request, resource) {
  const simulation = {
    identityPolicies: request.policies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource, accountId: request.account },
      contextVariables: request.context || {}
    }
  }
  return runSimulation(simulation, {})
}

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (!line.trim()) continue
  let out
  try {
    out = await decide(JSON.parse(line))
  } catch (error) {
    out = { decision: 'Error', detail: String(error) }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}
