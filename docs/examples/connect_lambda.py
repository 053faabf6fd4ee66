"""Amazon Connect flow Lambda: read the metadata voxgate stored for this contact.

voxgate's `amazon-connect` profile stores the call's metadata under the Connect contact id
*before* it sends the BYE that hands the call back. The flow resumes after the disconnect
("Resume flow after disconnect" = Yes), invokes this function, and gets the record back as flat
contact attributes. It replaces the seed's DynamoDB table, API Gateway and three Lambdas.

Runtime: Python 3.9+ with the standard library only (no layers, no boto3).

Environment:
  VOXGATE_URL             base URL of the node's HTTP API, e.g. https://voxgate.example.com:8080
  VOXGATE_METADATA_TOKEN  the node's `[api] metadata_token`
  VOXGATE_WAIT_SECS       how long to keep asking while the record is not there yet (default 2)
  VOXGATE_TIMEOUT_SECS    per-request timeout (default 2)

Input: the Connect event. The contact id is the flow parameter `contactId` (Destination key
`contactId`, value System > Contact id), else `Details.ContactData.ContactId`.

Output: a flat map of strings (what "Set contact attributes" can read under External):
  found                   "true" | "false"
  kore-instanceSessionId  voxgate's session id (the Agent AI widget uses it)
  reason                  the hand-back reason (TransferToAgent, HangUp, ...)
  transcriptSummary       the conversation, one "caller: ..." / "bot: ..." line each
  <variable>              each bot variable (ringGroup, ...) under its own name
  metadata                the bot's metadata, as JSON text
  body                    the whole record, as JSON text (the seed flow's `customData`)
An unreachable node or a wrong token raises, so the flow takes the Lambda block's Error branch.

Self-test (no AWS needed): `python3 connect_lambda.py --self-test CONTACT_ID` runs the handler
with a Connect-shaped event against VOXGATE_URL and prints its result as JSON.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# Keys that stay top-level strings; nested values become JSON text.
_SCALARS = (str, int, float, bool)


class VoxgateError(Exception):
    """The node refused the request or could not be reached."""


def _contact_id(event):
    details = (event or {}).get("Details") or {}
    params = details.get("Parameters") or {}
    contact_id = params.get("contactId") or (details.get("ContactData") or {}).get("ContactId")
    if not contact_id or not isinstance(contact_id, str):
        raise VoxgateError("no contactId in the event (Parameters.contactId or ContactData.ContactId)")
    return contact_id


def _fetch(base_url, token, contact_id, timeout):
    """GET /metadata/{contactId}: the record, or None when the node has none (404)."""
    url = "%s/metadata/%s" % (base_url.rstrip("/"), urllib.parse.quote(contact_id, safe=""))
    request = urllib.request.Request(url, headers={"authorizationToken": token})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        try:
            detail = json.loads(e.read().decode("utf-8"))
        except Exception:  # the error body is only for the message
            detail = {}
        raise VoxgateError("voxgate answered %d %s: %s" % (
            e.code, detail.get("error", ""), detail.get("message", e.reason)))
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise VoxgateError("voxgate unreachable at %s: %s" % (url, e))


def _flatten(record):
    """Connect contact attributes are strings: scalars as text, variables spread out."""
    attributes = {}
    variables = record.get("variables") if isinstance(record, dict) else None
    if isinstance(variables, dict):
        for key, value in variables.items():
            attributes[str(key)] = value if isinstance(value, str) else json.dumps(value)
    for key, value in (record.items() if isinstance(record, dict) else []):
        if key == "variables":
            continue
        if value is None:
            continue
        if isinstance(value, str):
            attributes[key] = value
        elif isinstance(value, bool):
            attributes[key] = "true" if value else "false"
        elif isinstance(value, _SCALARS):
            attributes[key] = str(value)
        else:
            attributes[key] = json.dumps(value, separators=(",", ":"))
    attributes["found"] = "true"
    attributes["body"] = json.dumps(record, separators=(",", ":"))
    return attributes


def lambda_handler(event, context):
    """The Connect entry point."""
    base_url = os.environ["VOXGATE_URL"]
    token = os.environ["VOXGATE_METADATA_TOKEN"]
    wait = float(os.environ.get("VOXGATE_WAIT_SECS", "2"))
    timeout = float(os.environ.get("VOXGATE_TIMEOUT_SECS", "2"))
    contact_id = _contact_id(event)
    deadline = time.monotonic() + wait
    while True:
        record = _fetch(base_url, token, contact_id, timeout)
        if record is not None:
            print("voxgate metadata found for contact %s" % contact_id)
            return _flatten(record)
        # voxgate writes before its BYE, but a failed write is retried in the background:
        # give it a moment before telling the flow there is nothing.
        if time.monotonic() >= deadline:
            print("no voxgate metadata for contact %s" % contact_id)
            return {"found": "false"}
        time.sleep(0.2)


def _self_test(argv):
    if len(argv) != 1:
        print("usage: connect_lambda.py --self-test CONTACT_ID", file=sys.stderr)
        return 2
    event = {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {"ContactId": argv[0], "Channel": "VOICE"},
            "Parameters": {"contactId": argv[0]},
        },
    }
    try:
        result = lambda_handler(event, None)
    except VoxgateError as e:
        print(json.dumps({"error": str(e)}))
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--self-test":
        sys.exit(_self_test(sys.argv[2:]))
    print(__doc__)
