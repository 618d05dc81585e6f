#!/usr/bin/env bash
# One command from a clone to a running stack: build and push the images, then
#   phase 1: deploy the stack with the migration task on the new images and every
#            service as it runs now: its images, the web app's task count (on the
#            very first deploy: everything new, but no web task serving yet),
#   migrate: run the migrations (MIGRATE_COMMAND, by default deploy/migrate.sh:
#            the stack's migration task on ECS); stop here if they fail,
#   phase 2: deploy the stack with every service on the new images.
# The template goes through an S3 bucket (TEMPLATE_BUCKET; by default one this
# script creates: private, encrypted, public access blocked): CloudFormation
# takes at most 51,200 bytes inline.
#
#   cp deploy/config.example.env deploy/config.env   # once; fill it in
#   deploy/deploy.sh                                 # every release
#
# SKIP_BUILD=1 deploys images already pushed under IMAGE_TAG. DRY_RUN=1 reads the
# account, the bucket and the stack, and prints the commands that would change
# something instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${DEPLOY_CONFIG:-deploy/config.env}
# shellcheck source=/dev/null
[ -f "$CONFIG" ] && . "$CONFIG"
TEMPLATE=deploy/template.yaml
TAG_PARAMETERS="WebImageTag WorkerImageTag FlowerImageTag AutoscalerImageTag"

refuse() {
  echo "deploy.sh: $*" >&2
  echo "deploy.sh: settings are described in deploy/config.example.env" >&2
  exit 2
}

missing=""
for name in AWS_REGION VPC_ID PUBLIC_SUBNET_IDS PRIVATE_SUBNET_IDS \
            DATABASE_URL_SECRET_ARN FLOWER_SECRET_ARN SECRET_KEY_SECRET_ARN \
            MAIL_FROM SENDER_IDENTITY; do
  [ -n "${!name:-}" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
  echo "deploy.sh: not set:$missing" >&2
  refuse "copy deploy/config.example.env to deploy/config.env and fill it in"
fi
if [ -z "${CERTIFICATE_ARN:-}" ] && [ "${ALLOW_PLAIN_HTTP:-false}" != "true" ]; then
  refuse "set CERTIFICATE_ARN (an ACM certificate for HTTPS), or ALLOW_PLAIN_HTTP=true for a test stack served over plain HTTP"
fi

STACK_NAME=${STACK_NAME:-jobsys}
IMAGE_TAG=${IMAGE_TAG:-$(git rev-parse --short HEAD)}
MIGRATE_COMMAND=${MIGRATE_COMMAND:-deploy/migrate.sh}
export AWS_REGION STACK_NAME IMAGE_TAG DEPLOY_CONFIG=$CONFIG

# The parameters deploy/template.yaml declares (its generator writes one
# two-space-indented key per parameter under a top-level "Parameters:").
declared=" $(awk '/^[^ #]/ { inside = ($0 == "Parameters:") }
                 inside && /^  [A-Za-z0-9]+:/ { sub(":.*", ""); printf "%s ", $1 }' "$TEMPLATE")"
is_declared() { [[ "$declared" == *" $1 "* ]]; }

# shellcheck disable=SC2206  # EXTRA_PARAMETERS is a list of Key=Value words
extra=(${EXTRA_PARAMETERS:-})
for word in "${extra[@]}"; do
  [[ "$word" == *=* ]] || refuse "EXTRA_PARAMETERS: \"$word\" is not Key=Value"
  is_declared "${word%%=*}" || refuse "EXTRA_PARAMETERS: $TEMPLATE declares no parameter ${word%%=*}"
done

# Every setting is passed, empty or not: on an existing stack a parameter left
# out keeps its previous value, so removing a setting would not take effect.
settings=(
  "VpcId=$VPC_ID"
  "PublicSubnetIds=$PUBLIC_SUBNET_IDS"
  "PrivateSubnetIds=$PRIVATE_SUBNET_IDS"
  "AssignPublicIp=${ASSIGN_PUBLIC_IP:-DISABLED}"
  "DatabaseUrlSecretArn=$DATABASE_URL_SECRET_ARN"
  "DatabaseSecurityGroupId=${DATABASE_SECURITY_GROUP_ID:-}"
  "FlowerSecretArn=$FLOWER_SECRET_ARN"
  "WebSecretKeyArn=$SECRET_KEY_SECRET_ARN"
  "RepositoryPrefix=${REPOSITORY_PREFIX:-jobsys}"
  "CertificateArn=${CERTIFICATE_ARN:-}"
  "AllowPlainHttp=${ALLOW_PLAIN_HTTP:-false}"
  "MailFrom=$MAIL_FROM"
  "SenderIdentity=$SENDER_IDENTITY"
  "OperatorCidr=${OPERATOR_CIDR:-}"
  "AlertEmail=${ALERT_EMAIL:-}"
  "WebDesiredCount=${WEB_DESIRED_COUNT:-1}"
  # Flower signs in with OAuth when FLOWER_AUTH is set (README, "OAuth instead of basic auth").
  "FlowerAuth=${FLOWER_AUTH:-}"
  "FlowerOAuthRedirectUri=${FLOWER_OAUTH2_REDIRECT_URI:-}"
)
[ -z "${FLOWER_AUTH_PROVIDER:-}" ] || settings+=("FlowerAuthProvider=$FLOWER_AUTH_PROVIDER")
for word in "${settings[@]}"; do
  is_declared "${word%%=*}" ||
    echo "deploy.sh: note: $TEMPLATE declares no parameter ${word%%=*}; its setting is not used" >&2
done
is_declared MigrateImageTag ||
  echo "deploy.sh: note: $TEMPLATE has no MigrateImageTag: in phase 1 the migration task runs the web image the stack runs now" >&2

# parameter_words KEY=VALUE...: one word per declared parameter, the last value winning.
parameter_words() {
  local -A value=()
  local -a order=()
  local word key
  for word in "$@"; do
    key=${word%%=*}
    is_declared "$key" || continue
    [ -n "${value[$key]+set}" ] || order+=("$key")
    value[$key]=${word#*=}
  done
  for key in "${order[@]}"; do printf '%s=%s\n' "$key" "${value[$key]}"; done
}

# run COMMAND...: runs it, or with DRY_RUN prints it (quoted for the shell).
run() {
  local line
  if [ -z "${DRY_RUN:-}" ]; then "$@"; return; fi
  line=$(printf '%q ' "$@")
  echo "${line% }"
}

if [ -z "${SKIP_BUILD:-}" ]; then
  deploy/build-push.sh "$IMAGE_TAG"
fi

if [ -z "${TEMPLATE_BUCKET:-}" ]; then
  ACCOUNT=${AWS_ACCOUNT_ID:-$(aws sts get-caller-identity --region "$AWS_REGION" --query Account --output text)}
  TEMPLATE_BUCKET=$(echo "$STACK_NAME-templates-$ACCOUNT-$AWS_REGION" | tr '[:upper:]' '[:lower:]')
  if ! aws s3api head-bucket --region "$AWS_REGION" --bucket "$TEMPLATE_BUCKET" >/dev/null 2>&1; then
    echo "==> creating bucket $TEMPLATE_BUCKET for the template"
    location=()
    [ "$AWS_REGION" = us-east-1 ] || location=(--create-bucket-configuration "LocationConstraint=$AWS_REGION")
    run aws s3api create-bucket --region "$AWS_REGION" --bucket "$TEMPLATE_BUCKET" "${location[@]}" \
      --query Location --output text
    run aws s3api put-public-access-block --region "$AWS_REGION" --bucket "$TEMPLATE_BUCKET" \
      --public-access-block-configuration \
      BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
    run aws s3api put-bucket-encryption --region "$AWS_REGION" --bucket "$TEMPLATE_BUCKET" \
      --server-side-encryption-configuration \
      '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
  fi
fi

# stack_status: the stack's status, or NONE when there is no stack yet.
stack_status() {
  local out
  if out=$(aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$STACK_NAME" \
             --query 'Stacks[0].StackStatus' --output text 2>&1); then
    echo "$out"
  elif [[ "$out" == *"does not exist"* ]]; then
    echo NONE
  else
    echo "deploy.sh: cannot read stack $STACK_NAME: $out" >&2
    return 1
  fi
}

# deploy_stack KEY=VALUE...: the stack with the settings, these words on top.
deploy_stack() {
  local -a words
  mapfile -t words < <(parameter_words "${settings[@]}" "${extra[@]}" "$@")
  run aws cloudformation deploy \
    --region "$AWS_REGION" --stack-name "$STACK_NAME" \
    --template-file "$TEMPLATE" --s3-bucket "$TEMPLATE_BUCKET" --s3-prefix "$STACK_NAME" \
    --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
    --parameter-overrides "${words[@]}"
}

new_tags=()
for name in $TAG_PARAMETERS; do new_tags+=("$name=$IMAGE_TAG"); done
status=$(stack_status)
case "$status" in
  NONE|REVIEW_IN_PROGRESS)
    # Nothing runs yet: every image may be new, as long as no web task serves
    # before the schema exists.
    kept=("${new_tags[@]}" WebDesiredCount=0)
    running="nothing (a new stack)" ;;
  *_IN_PROGRESS|ROLLBACK_COMPLETE|*_FAILED)
    echo "deploy.sh: stack $STACK_NAME is $status; wait for it to settle (ROLLBACK_COMPLETE: delete it) and deploy again" >&2
    exit 1 ;;
  *)
    # The services keep their images and the web app its task count (still 0
    # after a first deploy whose migrations failed).
    mapfile -t kept < <(aws cloudformation describe-stacks --region "$AWS_REGION" \
      --stack-name "$STACK_NAME" --output text \
      --query "Stacks[0].Parameters[?contains('$TAG_PARAMETERS WebDesiredCount', ParameterKey)].[ParameterKey,ParameterValue]" |
      tr '\t' '=')
    running="${kept[*]}" ;;
esac

echo "==> phase 1: migration task on $IMAGE_TAG, services as they are ($running)"
deploy_stack "${kept[@]}" "MigrateImageTag=$IMAGE_TAG"

echo "==> applying database migrations: $MIGRATE_COMMAND"
if [ -n "${DRY_RUN:-}" ]; then
  echo "(dry run: the migrations would run here)"
elif ! bash -c "$MIGRATE_COMMAND"; then
  echo "deploy.sh: the migrations failed; phase 2 did not run, the services still run: $running" >&2
  echo "deploy.sh: fix the cause and run deploy/deploy.sh again (deploy/migrate.sh alone reruns the migrations)" >&2
  exit 1
fi

echo "==> phase 2: every service on $IMAGE_TAG"
deploy_stack "${new_tags[@]}" "MigrateImageTag=$IMAGE_TAG"

[ -z "${DRY_RUN:-}" ] || exit 0
echo "==> deployed $IMAGE_TAG to stack $STACK_NAME"
aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$STACK_NAME" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
