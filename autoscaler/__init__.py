"""The autoscaler: a pure scaling decision plus thin adapters (boto3 only)."""
