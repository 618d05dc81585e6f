"""CSV imports: a file in the bucket, checked and loaded into a dataset's table."""
