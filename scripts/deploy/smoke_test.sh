#!/usr/bin/env bash
# Smoke-test a deployed emotion API: GET /health and POST /predict must answer 200,
# and the prediction must carry an "emotion" key. With a key, POST /predict without it
# must be refused (401 from the function, or 403 from the HTTP API's authorizer).
#
#   scripts/deploy/smoke_test.sh [--api-key KEY] https://abc123.execute-api.us-east-1.amazonaws.com
#
# The URL may also come from API_URL, and the key from API_KEY (preferred in CI: a key on
# the command line is visible to other processes). The key is sent as the x-api-key header.
set -euo pipefail

usage() {
  echo "usage: $0 [--api-key KEY] [--text TEXT] API_URL   (or set API_URL / API_KEY)"
}

api_url="${API_URL:-}"
api_key="${API_KEY:-}"
text="I am feeling very happy today!"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --api-key) api_key="${2:?--api-key needs a value}"; shift 2 ;;
    --api-key=*) api_key="${1#*=}"; shift ;;
    --text) text="${2:?--text needs a value}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    *) api_url="$1"; shift ;;
  esac
done

if [[ -z "${api_url}" ]]; then
  usage >&2
  exit 2
fi
api_url="${api_url%/}"

curl_opts=(--silent --show-error --max-time 60 --retry 3 --retry-delay 5 --retry-all-errors)
headers=(-H "Accept: application/json")
if [[ -n "${api_key}" ]]; then
  headers+=(-H "x-api-key: ${api_key}")
fi

body_file="$(mktemp)"
trap 'rm -f "${body_file}"' EXIT

echo "GET ${api_url}/health"
curl --fail "${curl_opts[@]}" "${headers[@]}" "${api_url}/health"
echo

echo "POST ${api_url}/predict"
payload="$(TEXT="${text}" python3 -c 'import json, os; print(json.dumps({"text": os.environ["TEXT"]}))')"
status="$(curl "${curl_opts[@]}" "${headers[@]}" -H "Content-Type: application/json" \
  -o "${body_file}" -w '%{http_code}' -X POST --data "${payload}" "${api_url}/predict")"
cat "${body_file}"
echo
if [[ "${status}" != "200" ]]; then
  echo "smoke test failed: POST /predict answered HTTP ${status}, expected 200" >&2
  exit 1
fi

python3 - "${body_file}" <<'PY'
"""Fail unless the /predict response is JSON with an "emotion" key."""
import json
import sys

with open(sys.argv[1], encoding="utf-8") as handle:
    body = json.load(handle)
if not isinstance(body, dict) or "emotion" not in body:
    sys.exit('smoke test failed: the /predict response has no "emotion" key')
print(f"prediction ok: emotion={body['emotion']!r}")
PY

if [[ -n "${api_key}" ]]; then
  echo "POST ${api_url}/predict without the key"
  status="$(curl "${curl_opts[@]}" -H "Accept: application/json" -H "Content-Type: application/json" \
    -o /dev/null -w '%{http_code}' -X POST --data "${payload}" "${api_url}/predict")"
  if [[ "${status}" != "401" && "${status}" != "403" ]]; then
    echo "smoke test failed: POST /predict without the key answered HTTP ${status}, expected 401 or 403" >&2
    exit 1
  fi
  echo "refused without the key: HTTP ${status}"
fi
echo "smoke test passed"
