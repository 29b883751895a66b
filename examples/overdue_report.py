#!/usr/bin/env python3
"""Write the overdue measures of the remediation plan to a CSV file.

Standard library only. Needs a token with read rights (a REPORTER token is meant for this):

    REMEDY_URL=http://127.0.0.1:8080 REMEDY_TOKEN=... python3 examples/overdue_report.py \
        [--as-of 2022-11-29] [--out overdue.csv] [--page-size 50]

Pages through `overdueMeasures` with its cursor until `hasNextPage` is false, so the
output is complete whatever the server's page limit. Exits non-zero on any GraphQL error.
"""
import argparse
import csv
import json
import os
import sys
import urllib.error
import urllib.request

QUERY = """
query Overdue($asOf: NaiveDate, $first: Int, $after: String) {
  overdueMeasures(asOf: $asOf, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      code title titleLocal status dueOn nextDueOn recurrence
      owner { code name }
    } }
  }
}
"""

COLUMNS = ["code", "title", "title_local", "status", "due_on", "next_due_on", "recurrence", "owner_code", "owner_name"]


def graphql(url, token, query, variables):
    body = json.dumps({"query": query, "variables": variables}).encode("utf-8")
    req = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            payload = json.load(res)
    except urllib.error.HTTPError as e:
        payload = json.load(e)
    if payload.get("errors"):
        codes = ", ".join(f"{e.get('message')} ({e.get('extensions', {}).get('code')})" for e in payload["errors"])
        raise SystemExit(f"remedy answered with errors: {codes}")
    return payload["data"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--as-of", help="date (YYYY-MM-DD); default today on the server")
    p.add_argument("--out", default="-", help="CSV file (default: standard output)")
    p.add_argument("--page-size", type=int, default=50)
    args = p.parse_args()
    base = os.environ.get("REMEDY_URL", "http://127.0.0.1:8080").rstrip("/")
    url = base if base.endswith("/graphql") else base + "/graphql"
    token = os.environ.get("REMEDY_TOKEN")
    if not token:
        raise SystemExit("set REMEDY_TOKEN to a REPORTER token")

    rows, after = [], None
    while True:
        data = graphql(url, token, QUERY, {"asOf": args.as_of, "first": args.page_size, "after": after})
        conn = data["overdueMeasures"]
        for edge in conn["edges"]:
            n = edge["node"]
            owner = n.get("owner") or {}
            rows.append([
                n["code"], n["title"], n.get("titleLocal") or "", n["status"], n.get("dueOn") or "",
                n.get("nextDueOn") or "", n["recurrence"], owner.get("code") or "", owner.get("name") or "",
            ])
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]

    out = sys.stdout if args.out == "-" else open(args.out, "w", newline="", encoding="utf-8")
    try:
        w = csv.writer(out)
        w.writerow(COLUMNS)
        w.writerows(rows)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"{len(rows)} overdue measure(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
