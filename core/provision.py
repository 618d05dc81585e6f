"""Create the queues, dead-letter queues and bucket, idempotently.

    python -m core.provision            # apply against AWS_ENDPOINT_URL (the emulator)
    python -m core.provision --dry-run  # print what would be created

Without AWS_ENDPOINT_URL (real AWS) it prints the plan and changes nothing
unless --apply is given: in AWS the CloudFormation stack owns these resources.
"""
from __future__ import annotations

import argparse
import sys

from botocore.exceptions import ClientError

from core import aws, csvimport, filekeys, queues, wake
from core.settings import Settings

# Generated files (PDFs and their ZIPs, exports) expire; uploads are the users' own.
GENERATED_PREFIXES = (filekeys.EXPORTS, filekeys.PDF)


def describe(settings: Settings) -> list[str]:
    """Lines saying what would be created."""
    lines = []
    for item in queues.plan(settings):
        lines.append(f"queue {item.dead_letter} (dead-letter, retention 14 days)")
        lines.append(f"queue {item.name} (visibility {item.visibility_timeout}s, "
                     f"to {item.dead_letter} after {item.max_receive_count} receives)")
    lines.append(f"queue {wake.wake_queue_name(settings.queue_prefix)} (FIFO, wake signals "
                 "for the autoscaler)")
    lines.append(f"bucket {settings.bucket} (region {settings.aws_region}; files under "
                 f"{', '.join(GENERATED_PREFIXES)} expire after {settings.file_retention_days} days)")
    lines.append(f"queue {uploads_queue_name(settings)} (object-created notifications of "
                 f"{settings.bucket}/{csvimport.PREFIX}; locally only, in AWS they invoke the "
                 "lambdas.import_upload handler)")
    return lines


def uploads_queue_name(settings: Settings) -> str:
    """The queue the emulator's bucket notification fills with new import uploads."""
    return f"{settings.queue_prefix}uploads"


def apply(settings: Settings, sqs, s3) -> dict[str, str]:
    """Create or update every queue and the bucket; returns queue name → URL."""
    urls = {}
    for item in queues.plan(settings):
        dlq_url = _ensure_queue(sqs, item.dead_letter, {
            "MessageRetentionPeriod": str(queues.DLQ_RETENTION_SECONDS)})
        dlq_arn = sqs.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        urls[item.dead_letter] = dlq_url
        urls[item.name] = _ensure_queue(sqs, item.name, queues.queue_attributes(item, dlq_arn))
    wake_name = wake.wake_queue_name(settings.queue_prefix)
    urls[wake_name] = _ensure_queue(sqs, wake_name, {
        "FifoQueue": "true", "MessageRetentionPeriod": "300", "VisibilityTimeout": "30"})
    _ensure_bucket(s3, settings)
    if settings.aws_endpoint_url:
        urls[uploads_queue_name(settings)] = _notify_uploads(sqs, s3, settings)
    return urls


def _notify_uploads(sqs, s3, settings: Settings) -> str:
    """Send the bucket's object-created events under the imports prefix to a queue."""
    url = _ensure_queue(sqs, uploads_queue_name(settings), {"VisibilityTimeout": "60"})
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=settings.bucket, NotificationConfiguration={
        "QueueConfigurations": [{"Id": "import-uploads", "QueueArn": arn,
                                 "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [
                                     {"Name": "prefix", "Value": csvimport.PREFIX}]}}}]})
    return url


def _ensure_queue(sqs, name: str, attributes: dict[str, str]) -> str:
    try:
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("QueueAlreadyExists",
                                                 "QueueNameExists"):
            raise
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    changeable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
    sqs.set_queue_attributes(QueueUrl=url, Attributes=changeable)
    return url


def _ensure_bucket(s3, settings: Settings) -> None:
    kwargs = {"Bucket": settings.bucket}
    if settings.aws_region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.aws_region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    s3.put_bucket_lifecycle_configuration(
        Bucket=settings.bucket, LifecycleConfiguration=lifecycle_rules(settings))


def lifecycle_rules(settings: Settings) -> dict:
    """The bucket's retention: generated files expire after ``FILE_RETENTION_DAYS``."""
    return {"Rules": [
        {"ID": f"expire-{prefix.rstrip('/')}", "Status": "Enabled",
         "Filter": {"Prefix": prefix},
         "Expiration": {"Days": settings.file_retention_days},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
        for prefix in GENERATED_PREFIXES]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan only")
    parser.add_argument("--apply", action="store_true",
                        help="create the resources even without AWS_ENDPOINT_URL (real AWS)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    lines = describe(settings)
    target = settings.aws_endpoint_url or f"AWS ({settings.aws_region})"
    if args.dry_run or not (settings.aws_endpoint_url or args.apply):
        print(f"Would create in {target}:")
        print("\n".join(f"  {line}" for line in lines))
        if not args.dry_run:
            print("Nothing changed: in AWS the CloudFormation stack creates these. "
                  "Pass --apply to create them directly.")
        return 0
    apply(settings, aws.client(settings, "sqs"), aws.client(settings, "s3"))
    print(f"Ready in {target}:")
    print("\n".join(f"  {line}" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
