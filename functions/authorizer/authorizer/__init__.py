"""The HTTP API's Lambda authorizer: the deployment's API key is checked at the gateway, before the inference function.

The Lambda entry is ``authorizer.handler.handler``; ``keys`` reads the key from Secrets Manager or SSM.
"""
