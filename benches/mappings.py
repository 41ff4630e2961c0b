#!/usr/bin/env python3
"""Writes a `findings-bridge store import` file (JSON lines) holding N mappings to stdout.

Used by scripts/bench-memory.sh to give a daemon a store with 1,000,000 finding ↔ issue
mappings without filing a million issues. The records look like real ones: GuardDuty ARNs over
1,000 accounts, an issue key each, NOTIFIED. Usage: benches/mappings.py N SCHEMA_VERSION
"""
import json
import sys


def main() -> None:
    count = int(sys.argv[1])
    schema = int(sys.argv[2])
    out = sys.stdout
    out.write(json.dumps({"record": "header", "format": "findings-bridge-store",
                          "schema_version": schema}) + "\n")
    now = "2026-01-01T00:00:00Z"
    for n in range(count):
        account = f"{n % 1000:012d}"
        arn = (f"arn:aws:guardduty:ap-northeast-1:{account}:detector/"
               f"12abc34d567e8fa901bc2d34e56789f0/finding/{n:032x}")
        mapping = {
            "finding_key": arn,
            "finding_id": arn,
            "product_arn": "arn:aws:securityhub:ap-northeast-1::product/aws/guardduty",
            "format": "asff",
            "account": account,
            "region": "ap-northeast-1",
            "rule": "guardduty",
            "title": "EC2 instance is communicating with a known command and control server",
            "issue_key": f"SEC-{n + 1}",
            "issue_id": n + 1,
            "issue_status": "open",
            "severity": "HIGH",
            "record_state": "ACTIVE",
            "workflow_status": "NOTIFIED",
            "workflow_written": "NOTIFIED",
            "finding_updated_at": "2026-01-01T00:00:00.000Z",
            "seen_count": 1,
            "created_at": now,
            "updated_at": now,
        }
        out.write(json.dumps({"record": "mapping", "value": mapping}) + "\n")


if __name__ == "__main__":
    main()
