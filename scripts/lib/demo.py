"""Helpers for ./scripts/demo.sh: the steps that need AWS calls or JSON, kept out of the shell.

Usage: demo.py COMMAND [options]   (run with the demo's .venv python: boto3 comes with moto)

Commands (each prints a short result line and exits non-zero when its check fails):
  free-port                    a free 127.0.0.1 TCP port (for the daemon: the relay URL in the
                               config must name its port before it starts)
  secret                       a random URL-safe secret
  versions                     the versions of moto and boto3 in .venv
  wait-line FILE PREFIX PID    wait until FILE has a line starting with PREFIX; print the rest
  config SRC DST ...           the demo config: SRC (examples/demo.yaml) with the real ports
  roles ...                    create the execution role in every emulated account
  import ...                   import sample GuardDuty findings into moto's Security Hub
  deliver ...                  deliver moto's Imported events to the daemon, N times each
  wait-filed ...               wait until one issue per finding exists and every finding is
                               NOTIFIED with its issue key
  echoes ...                   deliver Security Hub's echoes of those write-backs: absorbed
  close ...                    close one issue in the sandbox as a human; print its key
  wait-closed ...              wait until that issue's finding is RESOLVED

Talks only to the emulators on 127.0.0.1 that demo.sh started: the AWS endpoint comes from
AWS_ENDPOINT_URL, and the script refuses to run without it (no real AWS account is touched).
Secrets come from the environment and are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, NoReturn

# moto's default account (the key `test` lands there) and the role server.py lets anyone
# assume, so that the demo can act inside every emulated account.
DEFAULT_ACCOUNT = "123456789012"
HARNESS_ROLE = "OrganizationAccountAccessRole"
FIXTURE_ACCOUNT = "193043430472"
FIXTURE_REGION = "us-east-1"
SEVERITIES = [("HIGH", 70), ("MEDIUM", 40), ("LOW", 20), ("CRITICAL", 90)]


def fail(message: str) -> NoReturn:
    print(f"FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# --- small HTTP helpers (urllib: nothing to install) ---------------------------------------


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        status = e.code
    except (urllib.error.URLError, OSError) as e:
        fail(f"{method} {url.split('?')[0]}: {e}")
    try:
        return status, json.loads(text) if text else None
    except json.JSONDecodeError:
        return status, text


def get_json(url: str) -> Any:
    status, body = http("GET", url)
    if status != 200:
        fail(f"GET {url.split('?')[0]}: HTTP {status}: {body}")
    return body


def wait_for(what: str, check, timeout: float) -> Any:
    """Calls check() until it returns something truthy; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        result, last = check()
        if result:
            return result
        time.sleep(0.3)
    fail(f"{what}: not reached within {timeout:.0f} s (last seen: {last})")


# --- AWS (moto) -------------------------------------------------------------------------------


def moto_endpoint() -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint.startswith("http://127.0.0.1:"):
        fail("AWS_ENDPOINT_URL must point at the local moto (http://127.0.0.1:PORT)")
    return endpoint


def session_in(account: str, region: str):
    """A boto3 session acting in `account` of the local moto."""
    import boto3  # installed with moto in .venv

    base = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                 region_name=region)
    if account == DEFAULT_ACCOUNT:
        return base
    sts = base.client("sts", endpoint_url=moto_endpoint())
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{HARNESS_ROLE}",
                            RoleSessionName="fb-demo")["Credentials"]
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"],
                                 aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=region)


def cmd_roles(args) -> None:
    trust = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow",
                       "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
                       "Action": "sts:AssumeRole"}],
    })
    for account in args.accounts:
        iam = session_in(account, "us-east-1").client("iam", endpoint_url=moto_endpoint())
        iam.create_role(RoleName=args.role, AssumeRolePolicyDocument=trust)
    print(f"role {args.role} created in {len(args.accounts)} accounts: {' '.join(args.accounts)}")


def sample_findings(fixture: dict[str, Any], accounts: list[str],
                    regions: list[str]) -> list[dict[str, Any]]:
    """One finding per account × region, shaped like the GuardDuty ASFF fixture, each with its
    own Id (the fixture's `arn:aws::` typo fixed, its account and region replaced)."""
    text = json.dumps(fixture).replace("arn:aws::", "arn:aws:")
    out = []
    n = 0
    for account in accounts:
        for region in regions:
            f = json.loads(text.replace(FIXTURE_ACCOUNT, account).replace(FIXTURE_REGION, region))
            # 32 hex digits like a GuardDuty finding id, the last ones counting.
            f["Id"] = re.sub(r"/finding/[0-9a-f]+$", f"/finding/{'de30' * 6}{n:08x}", f["Id"])
            f["ProductName"] = "GuardDuty"
            f["CompanyName"] = "Amazon"
            f["Region"] = region
            label, normalized = SEVERITIES[n % len(SEVERITIES)]
            f["Severity"] = {"Label": label, "Normalized": normalized}
            f["Title"] = f["Title"].replace("199.241.229.197", f"198.51.100.{10 + n}")
            f["Workflow"] = {"Status": "NEW"}
            f["RecordState"] = "ACTIVE"
            f.pop("WorkflowState", None)
            out.append(f)
            n += 1
    return out


def cmd_import(args) -> None:
    with open(args.fixture, encoding="utf-8") as file:
        fixture = json.load(file)
    findings = sample_findings(fixture, args.accounts, args.regions)
    hub = session_in(args.hub_account, args.hub_region).client(
        "securityhub", endpoint_url=moto_endpoint())
    result = hub.batch_import_findings(Findings=findings)
    if result.get("FailedCount", 0) != 0:
        fail(f"BatchImportFindings: {result.get('FailedFindings')}")
    with open(args.ids_out, "w", encoding="utf-8") as file:
        for f in findings:
            file.write(f["Id"] + "\n")
    print(f"{len(findings)} GuardDuty findings imported into Security Hub "
          f"({args.hub_account} {args.hub_region}), Workflow NEW")


def moto_finding(account: str, region: str, finding_id: str) -> dict[str, Any] | None:
    query = urllib.parse.urlencode({"account": account, "region": region, "id": finding_id})
    status, body = http("GET", f"{moto_endpoint()}/_fb/securityhub/finding?{query}")
    if status == 404:
        return None
    if status != 200:
        fail(f"moto control endpoint: HTTP {status}: {body}")
    return body


def read_ids(path: str) -> list[str]:
    with open(path, encoding="utf-8") as file:
        return [line.strip() for line in file if line.strip()]


# --- the daemon and the sandbox ------------------------------------------------------------------


def cmd_deliver(args) -> None:
    query = urllib.parse.urlencode({"account": args.hub_account, "region": args.hub_region})
    events = get_json(f"{moto_endpoint()}/_fb/securityhub/events?{query}")
    ids = set(read_ids(args.ids))
    events = [e for e in events if e["detail"]["findings"][0]["Id"] in ids
              and e["detail"]["findings"][0]["Workflow"]["Status"] == "NEW"]
    if len(events) != len(ids):
        fail(f"expected {len(ids)} Imported events from moto, found {len(events)}")
    # Several copies of each event, shuffled: what EventBridge retries and Security Hub
    # re-exports look like to the relay.
    deliveries = [e for e in events for _ in range(args.times)]
    random.shuffle(deliveries)
    key = os.environ[args.key_env]
    for event in deliveries:
        status, body = http("POST", f"{args.daemon}/v1/events", raw=json.dumps(event).encode(),
                            headers={"x-api-key": key})
        if status != 202:
            fail(f"POST /v1/events: HTTP {status}: {body}")
    print(f"{len(deliveries)} deliveries ({len(events)} findings × {args.times}), "
          "all 202 Accepted")


def cmd_echoes(args) -> None:
    """Security Hub emits an Imported event for every write-back too; deployed, those echoes
    reach the relay (moto does not call API destinations, so the demo delivers them). They must
    be absorbed: no new issue, no further write to Security Hub."""
    query = urllib.parse.urlencode({"account": args.hub_account, "region": args.hub_region})
    events_url = f"{moto_endpoint()}/_fb/securityhub/events?{query}"
    before = get_json(events_url)
    ids = set(read_ids(args.ids))
    echoes = [e for e in before if e["detail"]["findings"][0]["Id"] in ids
              and e["detail"]["findings"][0]["Workflow"]["Status"] != "NEW"]
    if len(echoes) < len(ids):
        fail(f"expected an echo event per finding in moto, found {len(echoes)}")
    key = os.environ[args.key_env]
    for event in echoes:
        status, body = http("POST", f"{args.daemon}/v1/events", raw=json.dumps(event).encode(),
                            headers={"x-api-key": key})
        if status != 202:
            fail(f"POST /v1/events: HTTP {status}: {body}")

    def idle():
        queues = get_json(f"{args.daemon}/v1/status").get("queues", {})
        return queues.get("inbox") == 0 and queues.get("outbox") == 0, queues

    wait_for("the echoes handled", idle, args.timeout)
    issues = len(sandbox_issues(args.sandbox))
    after = len(get_json(events_url))
    if issues != len(ids):
        fail(f"{issues} issues after the echoes, expected {len(ids)}")
    if after != len(before):
        fail(f"the echoes caused {after - len(before)} further Security Hub writes")
    print(f"{len(echoes)} echo events (Security Hub's own Imported events for the write-backs) "
          f"delivered: absorbed, still {issues} issues, no further Security Hub write")


def sandbox_issues(sandbox: str) -> list[dict[str, Any]]:
    return get_json(f"{sandbox}/_sandbox/issues")


# Every issue description ends with this marker and the finding key (the ASFF Id for GuardDuty):
# fb_model::template::MARKER_PREFIX. Read here to tell which finding an issue belongs to.
MARKER_PREFIX = "findings-bridge: "


def marker(issue: dict[str, Any]) -> str | None:
    for line in reversed((issue.get("description") or "").splitlines()):
        if line.startswith(MARKER_PREFIX):
            return line[len(MARKER_PREFIX):].strip()
    return None


def cmd_wait_filed(args) -> None:
    ids = read_ids(args.ids)

    def idle():
        queues = get_json(f"{args.daemon}/v1/status").get("queues", {})
        filed = len(sandbox_issues(args.sandbox))
        ok = queues.get("inbox") == 0 and queues.get("outbox") == 0 and filed >= len(ids)
        return ok, {"queues": queues, "issues": filed}

    wait_for("every delivery handled", idle, args.timeout)

    def notified():
        states = {i: moto_finding(args.hub_account, args.hub_region, i) for i in ids}
        pending = [i for i, f in states.items()
                   if not f or f["Workflow"]["Status"] != "NOTIFIED"
                   or "Backlog " not in (f.get("Note") or {}).get("Text", "")]
        return (states if not pending else None), f"{len(pending)} findings not NOTIFIED yet"

    states = wait_for("every finding NOTIFIED", notified, args.timeout)
    issues = sandbox_issues(args.sandbox)
    keys = {issue["issueKey"] for issue in issues}
    markers = [marker(issue) for issue in issues]
    if len(issues) != len(ids):
        fail(f"{len(issues)} issues in Backlog for {len(ids)} distinct findings")
    if len(set(markers)) != len(issues) or None in markers:
        fail(f"issue markers are not one per finding: {markers}")
    print(f"{len(issues)} issues for {len(ids)} distinct findings (one each):")
    for issue in sorted(issues, key=lambda i: i["id"]):
        print(f"  {issue['issueKey']:<8} {issue['priority']['name']:<7} {issue['summary']}")
    print("Security Hub workflow and note of each finding:")
    noted_keys = set()
    for finding_id, f in states.items():
        note = f["Note"]["Text"]
        found = re.search(r"Backlog ([A-Z][A-Z0-9_]*-\d+)", note)
        if not found or found.group(1) not in keys:
            fail(f"{finding_id}: note {note!r} names no issue of the sandbox")
        noted_keys.add(found.group(1))
        print(f"  {f['AwsAccountId']} {f['Region']:<15} {f['Workflow']['Status']:<9} "
              f"note: {note.splitlines()[0]}")
    if noted_keys != keys:
        fail(f"notes name {sorted(noted_keys)}, the sandbox holds {sorted(keys)}")


def cmd_close(args) -> None:
    issues = sorted(sandbox_issues(args.sandbox), key=lambda i: i["id"])
    if not issues:
        fail("no issue to close")
    issue = issues[0]
    key = issue["issueKey"]
    status, body = http("POST", f"{args.sandbox}/_sandbox/issues/{key}/close",
                        body={"resolution": "Fixed", "user": "alice"})
    if status >= 300:
        fail(f"closing {key}: HTTP {status}: {body}")
    with open(args.out, "w", encoding="utf-8") as file:
        json.dump({"key": key, "finding": marker(issue)}, file)
    print(f"{key} closed as Fixed by alice (finding {marker(issue)})")


def cmd_wait_closed(args) -> None:
    with open(args.closed, encoding="utf-8") as file:
        closed = json.load(file)
    ids = read_ids(args.ids)
    target = closed["finding"] if closed["finding"] in ids else None
    if target is None:
        fail(f"the closed issue's marker {closed['finding']!r} names no demo finding")

    def resolved():
        f = moto_finding(args.hub_account, args.hub_region, target)
        status = f and f["Workflow"]["Status"]
        return (f if status == "RESOLVED" else None), status

    f = wait_for(f"finding of {closed['key']} RESOLVED", resolved, args.timeout)
    others = [moto_finding(args.hub_account, args.hub_region, i)["Workflow"]["Status"]
              for i in ids if i != target]
    if any(s != "NOTIFIED" for s in others):
        fail(f"the other findings changed too: {others}")
    issues = sandbox_issues(args.sandbox)
    if len(issues) != len(ids):
        fail(f"{len(issues)} issues in Backlog after the restart, expected {len(ids)}")
    print(f"finding {target.rsplit('/', 1)[-1]}: Workflow {f['Workflow']['Status']}, "
          f"note: {f['Note']['Text'].splitlines()[0]}")
    print(f"the other {len(others)} findings: still NOTIFIED; still {len(issues)} issues")
    hints = get_json(f"{args.daemon}/v1/status").get("webhook", {}).get("hints_received", 0)
    print("closure sync was told by Backlog's webhook" if hints else
          "closure sync found the closure by polling (no webhook arrived)")


# --- process plumbing -------------------------------------------------------------------------


def cmd_free_port(_args) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_versions(_args) -> None:
    import boto3
    import moto

    print(f"moto {moto.__version__}, boto3 {boto3.__version__}")


def cmd_secret(_args) -> None:
    print(secrets.token_urlsafe(24))


def cmd_wait_line(args) -> None:
    """Waits for the `listening on ADDR` line of a child whose stdout goes to FILE."""
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            with open(args.file, encoding="utf-8", errors="replace") as file:
                for line in file:
                    if line.startswith(args.prefix):
                        print(line[len(args.prefix):].strip())
                        return
        except FileNotFoundError:
            pass
        try:
            os.kill(args.pid, 0)
        except ProcessLookupError:
            fail(f"process {args.pid} exited before printing {args.prefix!r}")
        time.sleep(0.1)
    fail(f"no {args.prefix!r} line in {args.file} within {args.timeout:.0f} s")


def cmd_config(args) -> None:
    """The demo config: examples/demo.yaml with the real addresses and a fast closure poll.
    Edits by line so the file keeps its comments; every replacement must apply."""
    with open(args.src, encoding="utf-8") as file:
        text = file.read()
    replacements = [
        (r"(?m)^(  base_url: )http://127\.0\.0\.1:8081$", rf"\g<1>{args.backlog}"),
        (r"(?m)^(  public_url: )http://127\.0\.0\.1:8080$", rf"\g<1>http://127.0.0.1:{args.port}"),
        (r'(?m)^(  listen: )"127\.0\.0\.1:8080"$', rf'\g<1>"127.0.0.1:{args.port}"'),
        (r"(?m)^(  path: )\./findings-bridge-data$", rf"\g<1>{args.store}"),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        if count != 1:
            fail(f"{args.src}: expected one line matching {pattern}")
    # Closure sync polls every 5 s as a fallback to the webhook, so the demo never waits a
    # minute; reconcile and backfill keep their defaults.
    text += '\nschedules:\n  closure_sync: "*/5 * * * * *"\n'
    with open(args.dst, "w", encoding="utf-8") as file:
        file.write(text)
    print(f"{args.dst}: Backlog {args.backlog}, relay and daemon on 127.0.0.1:{args.port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("free-port").set_defaults(run=cmd_free_port)
    sub.add_parser("secret").set_defaults(run=cmd_secret)
    sub.add_parser("versions").set_defaults(run=cmd_versions)
    p = sub.add_parser("wait-line")
    p.add_argument("file")
    p.add_argument("prefix")
    p.add_argument("pid", type=int)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(run=cmd_wait_line)
    p = sub.add_parser("config")
    for name in ("src", "dst"):
        p.add_argument(name)
    for name in ("--backlog", "--port", "--store"):
        p.add_argument(name, required=True)
    p.set_defaults(run=cmd_config)
    p = sub.add_parser("roles")
    p.add_argument("--role", required=True)
    p.add_argument("accounts", nargs="+")
    p.set_defaults(run=cmd_roles)

    hub = argparse.ArgumentParser(add_help=False)
    hub.add_argument("--hub-account", required=True)
    hub.add_argument("--hub-region", required=True)
    hub.add_argument("--ids", required=True, help="file with one demo finding Id per line")
    hub.add_argument("--timeout", type=float, default=60)

    p = sub.add_parser("import")
    p.add_argument("--fixture", required=True)
    p.add_argument("--accounts", nargs="+", required=True)
    p.add_argument("--regions", nargs="+", required=True)
    p.add_argument("--hub-account", required=True)
    p.add_argument("--hub-region", required=True)
    p.add_argument("--ids-out", required=True)
    p.set_defaults(run=cmd_import)
    p = sub.add_parser("deliver", parents=[hub])
    p.add_argument("--daemon", required=True)
    p.add_argument("--key-env", required=True)
    p.add_argument("--times", type=int, default=3)
    p.set_defaults(run=cmd_deliver)
    p = sub.add_parser("echoes", parents=[hub])
    p.add_argument("--daemon", required=True)
    p.add_argument("--sandbox", required=True)
    p.add_argument("--key-env", required=True)
    p.set_defaults(run=cmd_echoes)
    p = sub.add_parser("wait-filed", parents=[hub])
    p.add_argument("--daemon", required=True)
    p.add_argument("--sandbox", required=True)
    p.set_defaults(run=cmd_wait_filed)
    p = sub.add_parser("close")
    p.add_argument("--sandbox", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(run=cmd_close)
    p = sub.add_parser("wait-closed", parents=[hub])
    p.add_argument("--sandbox", required=True)
    p.add_argument("--daemon", required=True)
    p.add_argument("--closed", required=True)
    p.set_defaults(run=cmd_wait_closed)

    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
