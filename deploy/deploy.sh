#!/usr/bin/env bash
# One command from a clone to a running stack: build and push the images,
# create or update the CloudFormation stack, apply the database migrations.
#
#   cp deploy/config.example.env deploy/config.env   # once; fill it in
#   deploy/deploy.sh                                 # every release
#
# SKIP_BUILD=1 deploys images already pushed under IMAGE_TAG; DRY_RUN=1 prints
# the commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${DEPLOY_CONFIG:-deploy/config.env}
# shellcheck source=/dev/null
[ -f "$CONFIG" ] && . "$CONFIG"

missing=""
for name in AWS_REGION VPC_ID PUBLIC_SUBNET_IDS PRIVATE_SUBNET_IDS \
            DATABASE_URL_SECRET_ARN FLOWER_SECRET_ARN SECRET_KEY_SECRET_ARN; do
  [ -n "${!name:-}" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
  echo "deploy.sh: not set:$missing" >&2
  echo "deploy.sh: copy deploy/config.example.env to deploy/config.env and fill it in" >&2
  exit 2
fi

STACK_NAME=${STACK_NAME:-jobsys}
IMAGE_TAG=${IMAGE_TAG:-$(git rev-parse --short HEAD)}
RUN=${DRY_RUN:+echo}
export AWS_REGION

if [ -z "${SKIP_BUILD:-}" ]; then
  deploy/build-push.sh "$IMAGE_TAG"
fi

parameters=(
  "VpcId=$VPC_ID"
  "PublicSubnetIds=$PUBLIC_SUBNET_IDS"
  "PrivateSubnetIds=$PRIVATE_SUBNET_IDS"
  "AssignPublicIp=${ASSIGN_PUBLIC_IP:-DISABLED}"
  "DatabaseUrlSecretArn=$DATABASE_URL_SECRET_ARN"
  "DatabaseSecurityGroupId=${DATABASE_SECURITY_GROUP_ID:-}"
  "FlowerSecretArn=$FLOWER_SECRET_ARN"
  "WebSecretKeyArn=$SECRET_KEY_SECRET_ARN"
  "RepositoryPrefix=${REPOSITORY_PREFIX:-jobsys}"
  "WebImageTag=$IMAGE_TAG" "WorkerImageTag=$IMAGE_TAG"
  "FlowerImageTag=$IMAGE_TAG" "AutoscalerImageTag=$IMAGE_TAG"
)
# Flower signs in with OAuth when FLOWER_AUTH is set (README, "OAuth instead of basic auth").
[ -z "${FLOWER_AUTH:-}" ] || parameters+=("FlowerAuth=$FLOWER_AUTH")
[ -z "${FLOWER_AUTH_PROVIDER:-}" ] || parameters+=("FlowerAuthProvider=$FLOWER_AUTH_PROVIDER")
[ -z "${FLOWER_OAUTH2_REDIRECT_URI:-}" ] || parameters+=("FlowerOAuthRedirectUri=$FLOWER_OAUTH2_REDIRECT_URI")
# shellcheck disable=SC2206  # EXTRA_PARAMETERS is a list of Key=Value words
parameters+=(${EXTRA_PARAMETERS:-})

$RUN aws cloudformation deploy \
  --region "$AWS_REGION" --stack-name "$STACK_NAME" \
  --template-file deploy/template.yaml \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
  --parameter-overrides "${parameters[@]}"

output() {
  aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$STACK_NAME" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

if [ -n "$RUN" ]; then
  echo "(dry run: the migration task and the outputs follow a real deploy)"
  exit 0
fi

echo "==> applying database migrations (ECS task $(output MigrateTaskDefinition))"
cluster=$(output ClusterName)
task=$(aws ecs run-task --region "$AWS_REGION" --cluster "$cluster" \
  --task-definition "$(output MigrateTaskDefinition)" --launch-type FARGATE \
  --network-configuration "awsvpcConfiguration={subnets=[$(output TaskSubnets)],securityGroups=[$(output WorkerSecurityGroup)],assignPublicIp=${ASSIGN_PUBLIC_IP:-DISABLED}}" \
  --query 'tasks[0].taskArn' --output text)
aws ecs wait tasks-stopped --region "$AWS_REGION" --cluster "$cluster" --tasks "$task"
code=$(aws ecs describe-tasks --region "$AWS_REGION" --cluster "$cluster" --tasks "$task" \
  --query 'tasks[0].containers[0].exitCode' --output text)
if [ "$code" != "0" ]; then
  echo "deploy.sh: migrations failed (exit $code); logs: aws logs tail $(output LogGroupName) --log-stream-name-prefix migrate" >&2
  exit 1
fi

echo "==> deployed $IMAGE_TAG to stack $STACK_NAME"
aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$STACK_NAME" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
