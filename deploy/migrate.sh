#!/usr/bin/env bash
# Applies the database migrations: runs the stack's migration task on ECS
# (output MigrateTaskDefinition, in the stack's subnets with the workers'
# security group), waits for it to stop and fails unless it exited 0.
# deploy/deploy.sh runs it between its two phases; run it alone to retry.
#
# Reads deploy/config.env (AWS_REGION, STACK_NAME, ASSIGN_PUBLIC_IP).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${DEPLOY_CONFIG:-deploy/config.env}
# shellcheck source=/dev/null
[ -f "$CONFIG" ] && . "$CONFIG"
if [ -z "${AWS_REGION:-}" ]; then
  echo "migrate.sh: no region; set AWS_REGION (or in deploy/config.env)" >&2
  exit 2
fi
STACK_NAME=${STACK_NAME:-jobsys}

output() {
  local value
  value=$(aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$STACK_NAME" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text)
  if [ -z "$value" ] || [ "$value" = None ]; then
    echo "migrate.sh: stack $STACK_NAME has no output $1" >&2
    return 1
  fi
  echo "$value"
}

cluster=$(output ClusterName)
definition=$(output MigrateTaskDefinition)
network="awsvpcConfiguration={subnets=[$(output TaskSubnets)],securityGroups=[$(output WorkerSecurityGroup)],assignPublicIp=${ASSIGN_PUBLIC_IP:-DISABLED}}"
echo "==> running $definition on cluster $cluster"
task=$(aws ecs run-task --region "$AWS_REGION" --cluster "$cluster" \
  --task-definition "$definition" --launch-type FARGATE --network-configuration "$network" \
  --query 'tasks[0].taskArn' --output text)
if ! aws ecs wait tasks-stopped --region "$AWS_REGION" --cluster "$cluster" --tasks "$task"; then
  echo "migrate.sh: task $task has not stopped within 10 minutes; it may still be running" >&2
  exit 1
fi
code=$(aws ecs describe-tasks --region "$AWS_REGION" --cluster "$cluster" --tasks "$task" \
  --query 'tasks[0].containers[0].exitCode' --output text)
if [ "$code" != "0" ]; then
  echo "migrate.sh: migrations failed (exit $code); logs: aws logs tail $(output LogGroupName) --log-stream-name-prefix migrate" >&2
  exit 1
fi
echo "==> migrations applied"
