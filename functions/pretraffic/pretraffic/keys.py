"""The deployment's API key, for the sample requests: read from the store the inference function reads.

The hook calls the new version directly (not through API Gateway), so the function's own key check applies and the
sample predictions must carry the key. The variables are the function's (template.yaml sets them in Globals).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: The variables naming the key's store: a Secrets Manager secret (wins) or an SSM SecureString parameter.
STORE_VARIABLES = ("API_KEY_SECRET_NAME", "API_KEY_PARAMETER_NAME")


class KeyUnavailableError(Exception):
    """Raised when a key store is configured but cannot be read, or holds an empty value."""


def read_api_key(environ: Mapping[str, str], client_for: Callable[[str], Any]) -> str | None:
    """The key, or None when the deployment requires none; raises KeyUnavailableError when it cannot be read.

    ``client_for(service)`` returns a boto3 client for ``"secretsmanager"`` or ``"ssm"``.
    """
    secret_name = environ.get(STORE_VARIABLES[0], "").strip()
    parameter_name = environ.get(STORE_VARIABLES[1], "").strip()
    try:
        if secret_name:
            response = client_for("secretsmanager").get_secret_value(SecretId=secret_name)
            value = response.get("SecretString")
            if value is None:
                value = bytes(response["SecretBinary"]).decode("utf-8")
        elif parameter_name:
            response = client_for("ssm").get_parameter(Name=parameter_name, WithDecryption=True)
            value = response["Parameter"]["Value"]
        else:
            return None
    except Exception as exc:  # any failure means the checks cannot run with the key: the deployment must fail
        raise KeyUnavailableError(type(exc).__name__) from exc
    key = str(value).strip()
    if not key:
        raise KeyUnavailableError("EmptyKey")
    return key
