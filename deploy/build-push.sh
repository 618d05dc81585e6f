#!/usr/bin/env bash
# Builds the four images and pushes them to ECR in this account and region:
#   <account>.dkr.ecr.<region>.amazonaws.com/<REPOSITORY_PREFIX>/{web,worker,flower,autoscaler}:<tag>
# Creates the repositories on first use. Prints the tag it pushed.
#
#   deploy/build-push.sh [TAG]        # TAG defaults to the current commit (git rev-parse --short HEAD)
#
# Reads deploy/config.env when present; AWS_REGION, REPOSITORY_PREFIX (jobsys)
# and PLATFORM (linux/amd64, what Fargate and Lambda run here) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${DEPLOY_CONFIG:-deploy/config.env}
# shellcheck source=/dev/null
[ -f "$CONFIG" ] && . "$CONFIG"

TAG=${1:-${IMAGE_TAG:-$(git rev-parse --short HEAD)}}
REGION=${AWS_REGION:-$(aws configure get region || true)}
PREFIX=${REPOSITORY_PREFIX:-jobsys}
PLATFORM=${PLATFORM:-linux/amd64}
IMAGES="web worker flower autoscaler"
RUN=${DRY_RUN:+echo}

if [ -z "$REGION" ]; then
  echo "build-push.sh: no region; set AWS_REGION (or in deploy/config.env)" >&2
  exit 2
fi
ACCOUNT=${AWS_ACCOUNT_ID:-$(aws sts get-caller-identity --region "$REGION" --query Account --output text)}
REGISTRY="$ACCOUNT.dkr.ecr.$REGION.amazonaws.com"

if [ -z "$RUN" ]; then
  aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"
fi
for image in $IMAGES; do
  repository="$PREFIX/$image"
  if [ -z "$RUN" ] && ! aws ecr describe-repositories --region "$REGION" \
       --repository-names "$repository" >/dev/null 2>&1; then
    aws ecr create-repository --region "$REGION" --repository-name "$repository" \
      --image-scanning-configuration scanOnPush=true >/dev/null
  fi
  # Lambda takes a single-platform image manifest: no provenance attestation.
  $RUN docker build --platform "$PLATFORM" --provenance=false \
    -f "docker/$image.Dockerfile" -t "$REGISTRY/$repository:$TAG" .
  $RUN docker push "$REGISTRY/$repository:$TAG"
done
echo "$TAG"
