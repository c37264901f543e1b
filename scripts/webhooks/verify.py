#!/usr/bin/env python3
"""Verifies webhook requests with the Standard Webhooks reference library (PyPI `standardwebhooks`).

Reads a JSON list of {"secret", "headers", "body"} on stdin and prints a JSON list with, for each,
"ok" or the verifier's error. Exits 3 when the library is missing (install scripts/webhooks/requirements.txt).
"""
import json
import sys

try:
    from standardwebhooks.webhooks import Webhook
except ImportError:
    print("standardwebhooks is not installed: python3 -m pip install -r scripts/webhooks/requirements.txt", file=sys.stderr)
    sys.exit(3)

results = []
for item in json.load(sys.stdin):
    try:
        Webhook(item["secret"]).verify(item["body"].encode(), item["headers"])
        results.append("ok")
    except Exception as e:  # the verifier's own errors, reported back to the test
        results.append(f"{type(e).__name__}: {e}")
print(json.dumps(results))
