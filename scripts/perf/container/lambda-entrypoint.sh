#!/bin/sh
# The stand-in base's entrypoint, shaped like the one in AWS's Lambda base images: with no Runtime API to talk to
# (a plain `docker run`), start the Runtime Interface Emulator in front of the runtime; inside Lambda, or when
# SAM's emulator image wraps this one, talk to the given Runtime API directly.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie /var/runtime/bootstrap
fi
exec /var/runtime/bootstrap
