"""The AWS deployment: the CloudFormation template's source and its scripts."""
