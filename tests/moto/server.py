"""moto, in-process, with the few additions the findings-bridge end-to-end tests need.

Usage: server.py [--host 127.0.0.1] [--port 0] [--exit-with-stdin]
Prints one line ``listening on 127.0.0.1:PORT`` on stdout (flushed) once requests are served,
then runs until killed — or, with ``--exit-with-stdin``, until its stdin closes, so a test
harness that dies without cleaning up (an abort) leaves no server behind. Everything else goes
to stderr.

moto (pinned in requirements.txt) is patched at runtime, in this process only, through its
extension points: the service ``urls.url_paths`` maps, methods on the response and backend
classes, and a WSGI wrapper around moto's dispatcher application. No moto code is copied here.

Additions, and why:

1. Security Hub ``BatchUpdateFindings`` (``PATCH /findings/batchupdate``) — moto answers 404.
   Sets Workflow.Status, Note (Text, UpdatedBy, UpdatedAt = now), Severity, VerificationState,
   Confidence, Criticality, Types, UserDefinedFields, RelatedFindings on stored findings and
   keeps ``UpdatedAt`` (as AWS does). Unknown identifiers come back in ``UnprocessedFindings``
   with ``FindingNotFound``, repeated ones with ``DuplicatedFindingIdentifier``; more than 100
   identifiers (or none), a Note without Text/UpdatedBy or Text over 512 characters, or an
   unknown Workflow status is an ``InvalidInputException``.
2. ``BatchUpdateFindingsV2`` (``PATCH /findingsv2/batchupdatev2``), minimal: the stored findings
   are ASFF, so ``MetadataUids`` and ``FindingIdentifiers[].FindingInfoUid`` are matched against
   the ASFF ``Id``; ``StatusId`` (1 NEW, 2 NOTIFIED, 3 SUPPRESSED, 4 RESOLVED) sets the
   Workflow and ``Comment`` the Note (UpdatedBy ``BatchUpdateFindingsV2``).
3. ``GetFindings`` filters — moto ignores them. StringFilter EQUALS, PREFIX, CONTAINS,
   CONTAINS_WORD (any of them on one field matches: OR), NOT_EQUALS, PREFIX_NOT_EQUALS,
   NOT_CONTAINS (all must hold: AND), fields combined with AND, case-sensitive, on the fields of
   ``STRING_FIELDS`` below; DateFilter (Start/End or DateRange DAYS) on CreatedAt/UpdatedAt.
   Any other filter field is refused with InvalidInputException, so a test never passes on a
   filter that was silently ignored. MaxResults (1–100) / NextToken paging is moto's own.
4. ``BatchImportFindings`` keeps what a provider cannot change: on a re-import, the stored
   Workflow and Note stay; a new finding gets ``Workflow.Status NEW`` and ``RecordState ACTIVE``
   when absent. A re-import that moves RecordState ARCHIVED → ACTIVE resets Workflow
   NOTIFIED/RESOLVED to NEW, as Security Hub does.
5. STS ``AssumeRole`` denial — moto lets anyone assume any role. Here, assuming a role whose
   name does not exist in the target account's IAM (moto's IAM backend of that account) answers
   ``AccessDenied`` (HTTP 400: moto's serializer knows no STS shape for it), so a test makes
   an account unassumable by not creating the role there.
   Exception: ``OrganizationAccountAccessRole`` (the role AWS Organizations creates in every
   account it creates) can always be assumed; the test harness uses it to reach an account and
   create the roles the product assumes.
6. ``Security Hub Findings - Imported`` events — moto emits none. Every finding stored by
   BatchImportFindings and every finding changed by BatchUpdateFindings(V2) emits one event
   (the envelope of the AWS docs, ``detail.findings[0]`` the finding as stored), as Security
   Hub does — including the echo of our own write-back. Each event is put on the default bus of
   the account and region that stored the finding (moto's PutEvents: rules with SQS, log-group
   or bus targets see it) and kept for the control endpoint below.
7. A control endpoint on the same port, under ``/_fb/`` (JSON in and out), for test state that
   the AWS API cannot set directly:
   - ``POST /_fb/securityhub/record-state`` ``{"account", "region", "id", "record_state"}``:
     the provider archives / un-archives a finding (with the Workflow reset of point 4, and
     its Imported event);
   - ``GET /_fb/securityhub/finding?account=&region=&id=``: the stored finding as JSON (404 when
     unknown), to read its Workflow and Note without credentials;
   - ``GET /_fb/securityhub/events?account=&region=``: the Imported events emitted there
     (point 6), oldest first.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import re
import sys
import threading
import uuid
import warnings
from typing import Any, Callable
from urllib.parse import parse_qs

from moto.core.common_models import BaseModel  # noqa: F401  (moto must import first)
from moto.events.models import events_backends
from moto.iam.models import iam_backends
from moto.moto_server import werkzeug_app
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.securityhub import urls as securityhub_urls
from moto.securityhub.exceptions import InvalidInputException
from moto.securityhub.models import SecurityHubBackend, securityhub_backends
from moto.securityhub.responses import SecurityHubResponse
from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend
from moto.utilities.paginator import paginate

WORKFLOW_STATUSES = {"NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"}
V2_STATUS_TO_WORKFLOW = {1: "NEW", 2: "NOTIFIED", 3: "SUPPRESSED", 4: "RESOLVED"}
ALWAYS_ASSUMABLE_ROLE = "OrganizationAccountAccessRole"
MAX_IDENTIFIERS = 100
MAX_NOTE = 512

# GetFindings StringFilter field → how to read it from an ASFF finding.
STRING_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Id": lambda f: f.get("Id"),
    "ProductArn": lambda f: f.get("ProductArn"),
    "ProductName": lambda f: f.get("ProductName"),
    "CompanyName": lambda f: f.get("CompanyName"),
    "GeneratorId": lambda f: f.get("GeneratorId"),
    "AwsAccountId": lambda f: f.get("AwsAccountId"),
    "Region": lambda f: f.get("Region"),
    "Title": lambda f: f.get("Title"),
    "Type": lambda f: f.get("Types") or [],
    "WorkflowStatus": lambda f: (f.get("Workflow") or {}).get("Status"),
    "RecordState": lambda f: f.get("RecordState"),
    "SeverityLabel": lambda f: (f.get("Severity") or {}).get("Label"),
    "ComplianceStatus": lambda f: (f.get("Compliance") or {}).get("Status"),
    "NoteText": lambda f: (f.get("Note") or {}).get("Text"),
    "NoteUpdatedBy": lambda f: (f.get("Note") or {}).get("UpdatedBy"),
}
DATE_FIELDS = {"CreatedAt", "UpdatedAt"}
POSITIVE = {"EQUALS", "PREFIX", "CONTAINS", "CONTAINS_WORD"}
NEGATIVE = {"NOT_EQUALS", "PREFIX_NOT_EQUALS", "NOT_CONTAINS"}


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log(message: str) -> None:
    print(f"[fb-moto] {message}", file=sys.stderr, flush=True)


# --- 6. Imported events -----------------------------------------------------------------------

IMPORTED_DETAIL_TYPE = "Security Hub Findings - Imported"
_emitted: dict[tuple[str, str], list[dict[str, Any]]] = {}
_emitted_lock = threading.Lock()


def emit_imported(account: str, region: str, findings: list[dict[str, Any]]) -> None:
    """One event per finding, as Security Hub sends them (one finding each)."""
    events = [
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": IMPORTED_DETAIL_TYPE,
            "source": "aws.securityhub",
            "account": account,
            "time": now_iso(),
            "region": region,
            "resources": [f"{f.get('ProductArn', '')}/{f.get('Id', '')}"],
            "detail": {"findings": [json.loads(json.dumps(f))]},
        }
        for f in findings
    ]
    with _emitted_lock:
        _emitted.setdefault((account, region), []).extend(events)
    backend = events_backends[account][region]
    for start in range(0, len(events), 10):
        entries = [
            {
                "Source": e["source"],
                "DetailType": e["detail-type"],
                "Detail": json.dumps(e["detail"]),
                "Resources": e["resources"],
                "EventBusName": "default",
            }
            for e in events[start : start + 10]
        ]
        try:
            backend.put_events(entries)
        except Exception as err:  # delivery to moto's targets is best effort
            log(f"put_events of Imported events failed: {err}")


# --- 3. GetFindings filters -------------------------------------------------------------------


def _string_matches(value: str, comparison: str, wanted: str) -> bool:
    if comparison in ("EQUALS", "NOT_EQUALS"):
        hit = value == wanted
    elif comparison in ("PREFIX", "PREFIX_NOT_EQUALS"):
        hit = value.startswith(wanted)
    elif comparison == "CONTAINS_WORD":
        hit = re.search(rf"(^|\W){re.escape(wanted)}(\W|$)", value) is not None
    else:  # CONTAINS, NOT_CONTAINS
        hit = wanted in value
    return hit if comparison in POSITIVE else not hit


def _field_matches(values: list[str], filters: list[dict[str, Any]]) -> bool:
    """AWS: positive comparisons on one field are OR-ed, negative ones AND-ed, then both."""
    positives = [f for f in filters if f.get("Comparison") in POSITIVE]
    negatives = [f for f in filters if f.get("Comparison") in NEGATIVE]
    if positives and not any(
        _string_matches(v, f["Comparison"], f.get("Value", "")) for f in positives for v in values
    ):
        return False
    return all(
        all(_string_matches(v, f["Comparison"], f.get("Value", "")) for v in values)
        for f in negatives
    )


def _parse_time(text: str) -> datetime.datetime:
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def _date_matches(value: str | None, filters: list[dict[str, Any]]) -> bool:
    if not value:
        return False
    at = _parse_time(value)
    for f in filters:
        if "DateRange" in f:
            days = int(f["DateRange"].get("Value", 0))
            since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
            if at >= since:
                return True
            continue
        start, end = f.get("Start"), f.get("End")
        if (not start or at >= _parse_time(start)) and (not end or at <= _parse_time(end)):
            return True
    return False


def _check_filters(filters: dict[str, Any]) -> None:
    for name, entries in filters.items():
        if name not in STRING_FIELDS and name not in DATE_FIELDS:
            raise InvalidInputException(
                op="GetFindings",
                msg=f"filter field {name} is not supported by the findings-bridge test harness",
            )
        if name in STRING_FIELDS:
            for entry in entries:
                if entry.get("Comparison") not in POSITIVE | NEGATIVE:
                    raise InvalidInputException(
                        op="GetFindings",
                        msg=f"unknown Comparison {entry.get('Comparison')!r} on {name}",
                    )


def finding_matches(finding: dict[str, Any], filters: dict[str, Any]) -> bool:
    for name, entries in filters.items():
        if not entries:
            continue
        if name in DATE_FIELDS:
            if not _date_matches(finding.get(name), entries):
                return False
            continue
        raw = STRING_FIELDS[name](finding)
        values = [v for v in (raw if isinstance(raw, list) else [raw]) if v is not None]
        if not _field_matches(values, entries):
            return False
    return True


@paginate(pagination_model=SecurityHubBackend.PAGINATION_MODEL)
def get_findings(
    self: SecurityHubBackend,
    filters: dict[str, Any] | None = None,
    sort_criteria: list[dict[str, str]] | None = None,
    max_results: int | None = None,
) -> list[dict[str, Any]]:
    if max_results is not None and not 1 <= int(max_results) <= 100:
        raise InvalidInputException(
            op="GetFindings", msg="MaxResults must be a number between 1 and 100"
        )
    filters = filters or {}
    _check_filters(filters)
    return [f.as_dict() for f in self.findings if finding_matches(f.as_dict(), filters)]


# --- 4. BatchImportFindings keeps Workflow and Note -------------------------------------------


def _apply_record_state(finding: dict[str, Any], new_state: str) -> None:
    """Security Hub resets NOTIFIED/RESOLVED to NEW when a finding goes ARCHIVED → ACTIVE."""
    old_state = finding.get("RecordState", "ACTIVE")
    finding["RecordState"] = new_state
    status = (finding.get("Workflow") or {}).get("Status")
    if old_state == "ARCHIVED" and new_state == "ACTIVE" and status in ("NOTIFIED", "RESOLVED"):
        finding["Workflow"] = {"Status": "NEW"}
        finding["WorkflowState"] = "NEW"


_original_batch_import = SecurityHubBackend.batch_import_findings


def batch_import_findings(
    self: SecurityHubBackend, findings: list[dict[str, Any]]
) -> tuple[int, int, list[dict[str, Any]]]:
    existing = {f.id: f.data for f in self.findings}
    kept: dict[str, tuple[Any, Any, str | None]] = {}
    for incoming in findings:
        old = existing.get(incoming.get("Id"))
        if old is not None:
            kept[old["Id"]] = (old.get("Workflow"), old.get("Note"), old.get("RecordState"))
    failed, succeeded, failures = _original_batch_import(self, findings)
    for stored in (f.data for f in self.findings):
        if stored["Id"] in kept:
            workflow, note, old_state = kept[stored["Id"]]
            new_state = stored.get("RecordState", "ACTIVE")
            stored["RecordState"] = old_state or "ACTIVE"
            for key, value in (("Workflow", workflow), ("Note", note)):
                if value is None:
                    stored.pop(key, None)
                else:
                    stored[key] = value
            _apply_record_state(stored, new_state)
        else:
            stored.setdefault("Workflow", {"Status": "NEW"})
            stored.setdefault("RecordState", "ACTIVE")
    failed_ids = {f.get("Id") for f in failures}
    imported_ids = [f.get("Id") for f in findings if f.get("Id") not in failed_ids]
    by_id = {f.id: f.data for f in self.findings}
    emit_imported(
        self.account_id, self.region_name, [by_id[i] for i in imported_ids if i in by_id]
    )
    return failed, succeeded, failures


# --- 1. and 2. BatchUpdateFindings (V1 and a minimal V2) --------------------------------------


def _find(backend: SecurityHubBackend, finding_id: str, product_arn: str | None) -> Any:
    for f in backend.findings:
        if f.id == finding_id and (product_arn is None or f.data.get("ProductArn") == product_arn):
            return f.data
    return None


def _validate_update(params: dict[str, Any], op: str, count: int) -> None:
    if count < 1 or count > MAX_IDENTIFIERS:
        raise InvalidInputException(op=op, msg="between 1 and 100 finding identifiers are required")
    note = params.get("Note")
    if note is not None:
        text, by = note.get("Text"), note.get("UpdatedBy")
        if not text or not by or len(text) > MAX_NOTE:
            raise InvalidInputException(
                op=op, msg="Note needs Text (1-512 characters) and UpdatedBy"
            )
    status = (params.get("Workflow") or {}).get("Status")
    if status is not None and status not in WORKFLOW_STATUSES:
        raise InvalidInputException(op=op, msg=f"invalid Workflow.Status {status}")


def _update_finding(finding: dict[str, Any], params: dict[str, Any]) -> None:
    """Write the BatchUpdateFindings fields; UpdatedAt is the provider's and stays."""
    if "Workflow" in params:
        finding["Workflow"] = {"Status": params["Workflow"]["Status"]}
        finding["WorkflowState"] = params["Workflow"]["Status"]
    if "Note" in params:
        finding["Note"] = {
            "Text": params["Note"]["Text"],
            "UpdatedBy": params["Note"]["UpdatedBy"],
            "UpdatedAt": now_iso(),
        }
    if "Severity" in params:
        finding["Severity"] = {**(finding.get("Severity") or {}), **params["Severity"]}
    for key in (
        "VerificationState",
        "Confidence",
        "Criticality",
        "Types",
        "UserDefinedFields",
        "RelatedFindings",
    ):
        if key in params:
            finding[key] = params[key]


def batch_update_findings(self: SecurityHubResponse) -> str:
    params = json.loads(self.body or "{}")
    identifiers = params.get("FindingIdentifiers") or []
    _validate_update(params, "BatchUpdateFindings", len(identifiers))
    backend = self.securityhub_backend
    processed, unprocessed, seen = [], [], set()
    for ident in identifiers:
        key = (ident.get("Id"), ident.get("ProductArn"))
        if key in seen:
            code, message = "DuplicatedFindingIdentifier", "Duplicated finding identifier"
        elif _find(backend, key[0], key[1]) is None:
            code, message = "FindingNotFound", "Finding Not Found"
        else:
            code = message = None
        seen.add(key)
        if code:
            unprocessed.append(
                {"FindingIdentifier": ident, "ErrorCode": code, "ErrorMessage": message}
            )
            continue
        _update_finding(_find(backend, key[0], key[1]), params)
        processed.append(ident)
    emit_imported(
        backend.account_id,
        backend.region_name,
        [_find(backend, p.get("Id"), p.get("ProductArn")) for p in processed],
    )
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


def batch_update_findings_v2(self: SecurityHubResponse) -> str:
    params = json.loads(self.body or "{}")
    uids = params.get("MetadataUids") or []
    idents = params.get("FindingIdentifiers") or []
    if uids and idents:
        raise InvalidInputException(
            op="BatchUpdateFindingsV2", msg="give MetadataUids or FindingIdentifiers, not both"
        )
    if "Comment" in params and not 1 <= len(params["Comment"]) <= MAX_NOTE:
        raise InvalidInputException(op="BatchUpdateFindingsV2", msg="Comment is 1-512 chars")
    status_id = params.get("StatusId")
    if status_id is not None and status_id not in V2_STATUS_TO_WORKFLOW:
        raise InvalidInputException(
            op="BatchUpdateFindingsV2", msg=f"StatusId {status_id} is not supported here"
        )
    _validate_update({}, "BatchUpdateFindingsV2", len(uids) + len(idents))
    update: dict[str, Any] = {}
    if status_id is not None:
        update["Workflow"] = {"Status": V2_STATUS_TO_WORKFLOW[status_id]}
    if "Comment" in params:
        update["Note"] = {"Text": params["Comment"], "UpdatedBy": "BatchUpdateFindingsV2"}
    backend = self.securityhub_backend
    processed, unprocessed, changed = [], [], []
    targets = [({"MetadataUid": u}, u) for u in uids] + [
        ({"FindingIdentifier": i}, i.get("FindingInfoUid")) for i in idents
    ]
    for echo, finding_id in targets:
        finding = _find(backend, finding_id, None)
        if finding is None:
            unprocessed.append(
                {**echo, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": "not found"}
            )
            continue
        _update_finding(finding, update)
        processed.append(echo)
        changed.append(finding)
    emit_imported(backend.account_id, backend.region_name, changed)
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


# --- 5. AssumeRole denial ---------------------------------------------------------------------

_original_assume_role = STSBackend.assume_role
ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)$")


def assume_role(self: STSBackend, **kwargs: Any) -> Any:
    role_arn = kwargs.get("role_arn") or ""
    match = ROLE_ARN.match(role_arn)
    if not match:
        raise STSClientError("ValidationError", f"{role_arn} is not a valid role ARN")
    account, name = match.group(1), match.group(2)
    if name != ALWAYS_ASSUMABLE_ROLE:
        iam = iam_backends[account]["aws"]
        if not any(role.name == name for role in iam.get_roles()):
            raise STSClientError(
                "AccessDenied",
                f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
    return _original_assume_role(self, **kwargs)


# --- 6. Control endpoint ----------------------------------------------------------------------


def _json_response(start_response: Any, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def control(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
    try:
        if path == "/_fb/securityhub/finding" and method == "GET":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            backend = securityhub_backends[query["account"]][query["region"]]
            finding = _find(backend, query["id"], None)
            if finding is None:
                return _json_response(start_response, "404 Not Found", {"error": "no such finding"})
            return _json_response(start_response, "200 OK", finding)
        if path == "/_fb/securityhub/events" and method == "GET":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            with _emitted_lock:
                events = list(_emitted.get((query["account"], query["region"]), []))
            return _json_response(start_response, "200 OK", events)
        if path == "/_fb/securityhub/record-state" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            if body.get("record_state") not in ("ACTIVE", "ARCHIVED"):
                raise KeyError("record_state must be ACTIVE or ARCHIVED")
            backend = securityhub_backends[body["account"]][body["region"]]
            finding = _find(backend, body["id"], None)
            if finding is None:
                return _json_response(start_response, "404 Not Found", {"error": "no such finding"})
            _apply_record_state(finding, body["record_state"])
            emit_imported(body["account"], body["region"], [finding])  # the provider's update
            return _json_response(start_response, "200 OK", finding)
    except (KeyError, ValueError) as err:
        return _json_response(start_response, "400 Bad Request", {"error": str(err)})
    return _json_response(start_response, "404 Not Found", {"error": f"no control route {path}"})


_original_dispatch_call = werkzeug_app.DomainDispatcherApplication.__call__


def dispatch_call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
    if environ.get("PATH_INFO", "").startswith("/_fb/"):
        return control(environ, start_response)
    return _original_dispatch_call(self, environ, start_response)


# --- wiring -----------------------------------------------------------------------------------


def install() -> None:
    securityhub_urls.url_paths["{0}/findings/batchupdate$"] = SecurityHubResponse.dispatch
    securityhub_urls.url_paths["{0}/findingsv2/batchupdatev2$"] = SecurityHubResponse.dispatch
    SecurityHubResponse.batch_update_findings = batch_update_findings
    SecurityHubResponse.batch_update_findings_v2 = batch_update_findings_v2
    SecurityHubBackend.get_findings = get_findings
    SecurityHubBackend.batch_import_findings = batch_import_findings
    STSBackend.assume_role = assume_role
    werkzeug_app.DomainDispatcherApplication.__call__ = dispatch_call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-with-stdin", action="store_true")
    args = parser.parse_args()
    install()
    # One line per request would drown the test output; errors still reach stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # moto warns that STS has no AccessDenied error shape; the code still reaches the client.
    warnings.filterwarnings("ignore", message=".*does not match an error shape.*")
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"listening on {host}:{port}", flush=True)
    if args.exit_with_stdin:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
        return
    threading.Event().wait()


if __name__ == "__main__":
    main()
