#!/usr/bin/env python3
"""Sync a CRM book into partnergraph through an API key, by the CRM's own ids (issue 12, "Done when").

    python3 scripts/crm_sync.py --url http://127.0.0.1:8080/graphql --key pgk_...
    python3 scripts/crm_sync.py --url ... --key ... --expect-unchanged     # fail unless nothing changed

The "CRM" here is made up: 200 companies, 1,000 contacts (each at one or two companies) and 300 deals (each
with a company and one to three of its contacts, some with an amount, some won or lost), the same on every
run (a fixed seed). Sizes: --companies, --contacts, --deals.

What it does, as the README's "CRM integrators" section describes:
1. reads the book once (`updatedAt` of every row by external id, 100 per page) to tell afterwards what
   changed;
2. upserts companies, then contacts with `companyExternalIds`, then deals with `companyExternalId` and
   `contactExternalIds`, 100 rows per `upsert...s` call. Each call carries an `Idempotency-Key`, so a call
   retried after a timeout or a dropped connection is answered once; 429 waits `Retry-After`, 409 (the
   same call still running) waits a moment;
3. reports, per kind, rows created (`created: true`), updated (`updatedAt` moved) and unchanged, and
   checks the book holds exactly the rows and links it sent.

Only `httpx` (pip install httpx). Exit status: 0 on success, 1 when the server refused something or the book
does not match, 2 with --expect-unchanged when the run created or updated anything.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid

import httpx

BATCH = 100


class SyncError(Exception):
    pass


class Client:
    """POSTs GraphQL to partnergraph with an API key; retries what is safe to retry."""

    def __init__(self, url: str, key: str, timeout: float = 30.0):
        self.url = url
        self.http = httpx.Client(
            timeout=timeout,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )

    def call(self, query: str, variables: dict | None = None, idempotency_key: str | None = None) -> dict:
        body = {"query": query, "variables": variables or {}}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        for attempt in range(8):
            try:
                r = self.http.post(self.url, json=body, headers=headers)
            except httpx.TransportError as e:
                # Only a mutation with an Idempotency-Key (or a query) may simply be sent again.
                if attempt == 7:
                    raise SyncError(f"no answer from {self.url}: {e}") from e
                time.sleep(0.5 * (attempt + 1))
                continue
            if r.status_code == 429:
                time.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            if r.status_code == 409:  # IDEMPOTENCY_KEY_IN_PROGRESS: the first send is still running
                time.sleep(0.5)
                continue
            if r.status_code == 401:
                raise SyncError("401: the API key is unknown, revoked or expired")
            try:
                answer = r.json()
            except json.JSONDecodeError as e:
                raise SyncError(f"HTTP {r.status_code}, not JSON: {r.text[:200]}") from e
            if answer.get("errors"):
                e = answer["errors"][0]
                ext = e.get("extensions", {})
                raise SyncError(
                    f"HTTP {r.status_code}: {ext.get('code')} {ext.get('reason') or ''} "
                    f"(field {ext.get('field')}, index {ext.get('index')}): {e.get('message')}"
                )
            return answer["data"]
        raise SyncError("gave up after 8 attempts (rate limited or still in progress)")


# -------------------------------------------------------------------------------------------------
# The made-up CRM
# -------------------------------------------------------------------------------------------------
def inn10(n: int) -> str:
    """A valid 10-digit INN (legal entity) made from a number."""
    digits = [int(c) for c in f"{7700000000 + n * 7:010d}"[:9]]
    weights = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    check = sum(d * w for d, w in zip(digits, weights)) % 11 % 10
    return "".join(map(str, digits)) + str(check)


FIRST = ["Пётр", "Анна", "Ёлка", "Иван", "Maria", "John", "Ольга", "Сергей", "Дарья", "Ali"]
LAST = ["Ёлкин", "Смирнова", "Кузнецов", "Smith", "Попова", "Лебедев", "García", "Новикова"]
STAGES = ["NEW", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "WON", "LOST"]


def make_crm(companies: int, contacts: int, deals: int) -> tuple[list, list, list]:
    rnd = random.Random(20261201)
    cos = []
    for i in range(companies):
        row = {"externalId": f"co-{i:04d}", "name": f"ООО «Ромашка-{i}»" if i % 2 else f"Acme {i} LLC"}
        if i % 3 == 0:
            row["inn"] = inn10(i)
        cos.append(row)
    people = []
    members: dict[str, list[str]] = {c["externalId"]: [] for c in cos}
    for i in range(contacts):
        ext = f"p-{i:05d}"
        links = sorted({cos[rnd.randrange(companies)]["externalId"] for _ in range(rnd.choice([1, 1, 2]))})
        for c in links:
            members[c].append(ext)
        row = {
            "externalId": ext,
            "name": f"{rnd.choice(FIRST)} {rnd.choice(LAST)} {i}",
            "email": f"person{i}@example.com",
            "companyExternalIds": links,
        }
        if i % 4 == 0:
            row["position"] = "Главный бухгалтер"
        people.append(row)
    ds = []
    for i in range(deals):
        co = cos[rnd.randrange(companies)]["externalId"]
        pool = members[co] or [people[rnd.randrange(contacts)]["externalId"]]
        chosen = sorted(rnd.sample(pool, min(len(pool), rnd.randint(1, 3))))
        row = {
            "externalId": f"d-{i:04d}",
            "title": f"Внедрение №{i}",
            "stage": STAGES[i % len(STAGES)],
            "companyExternalId": co,
            "contactExternalIds": chosen,
        }
        if i % 2 == 0:
            row["amount"] = f"{rnd.randint(1000, 9_999_999)}.{rnd.randint(0, 99):02d}"
        ds.append(row)
    return cos, people, ds


# -------------------------------------------------------------------------------------------------
# Sync
# -------------------------------------------------------------------------------------------------
KINDS = {
    # kind: (list field, batch mutation, input type, payload field, link selection)
    "companies": ("companies", "upsertCompanies", "CompanyInput", "company", ""),
    "contacts": ("contacts", "upsertContacts", "ContactInput", "contact", "companies { externalId }"),
    "deals": ("deals", "upsertDeals", "DealInput", "deal", "company { externalId } contacts { externalId }"),
}


def read_book(client: Client, kind: str) -> dict[str, dict]:
    """Every row of one kind in the caller's book: external id -> row (with updatedAt and links)."""
    field, _, _, _, links = KINDS[kind]
    query = (
        f"query($after: String) {{ {field}(first: {BATCH}, after: $after) {{ "
        f"pageInfo {{ hasNextPage endCursor }} nodes {{ id externalId updatedAt {links} }} }} }}"
    )
    rows, after = {}, None
    while True:
        page = client.call(query, {"after": after})[field]
        for n in page["nodes"]:
            rows[n["externalId"] or n["id"]] = n
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]


def push(client: Client, kind: str, rows: list[dict], before: dict[str, dict]) -> dict[str, int]:
    _, mutation, input_type, payload, _ = KINDS[kind]
    query = (
        f"mutation($inputs: [{input_type}!]!) {{ {mutation}(inputs: $inputs) "
        f"{{ created {payload} {{ externalId updatedAt }} }} }}"
    )
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        answer = client.call(query, {"inputs": batch}, idempotency_key=f"crm-sync-{uuid.uuid4()}")[mutation]
        for item in answer:
            row = item[payload]
            if item["created"]:
                counts["created"] += 1
            elif before.get(row["externalId"], {}).get("updatedAt") != row["updatedAt"]:
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
    return counts


def check_book(client: Client, cos: list, people: list, ds: list) -> None:
    """The book holds exactly the rows sent, with the links sent (contacts' companies, deals' company and
    contacts: the company's contacts are added to a new deal, then the contact list replaces them)."""
    got = {kind: read_book(client, kind) for kind in KINDS}
    for kind, sent in (("companies", cos), ("contacts", people), ("deals", ds)):
        if set(got[kind]) != {r["externalId"] for r in sent}:
            raise SyncError(f"the book's {kind} are not the ones sent ({len(got[kind])} rows, {len(sent)} sent)")
    for p in people:
        have = sorted(c["externalId"] for c in got["contacts"][p["externalId"]]["companies"])
        if have != p["companyExternalIds"]:
            raise SyncError(f"contact {p['externalId']}: companies {have}, sent {p['companyExternalIds']}")
    for d in ds:
        row = got["deals"][d["externalId"]]
        have = sorted(c["externalId"] for c in row["contacts"])
        if (row["company"] or {}).get("externalId") != d["companyExternalId"] or have != d["contactExternalIds"]:
            raise SyncError(f"deal {d['externalId']}: company/contacts differ from what was sent")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="the GraphQL endpoint, e.g. http://127.0.0.1:8080/graphql")
    ap.add_argument("--key", help="the API key (pgk_...); default: $PARTNERGRAPH_API_KEY")
    ap.add_argument("--companies", type=int, default=200)
    ap.add_argument("--contacts", type=int, default=1000)
    ap.add_argument("--deals", type=int, default=300)
    ap.add_argument("--expect-unchanged", action="store_true", help="exit 2 unless nothing was created or updated")
    args = ap.parse_args()
    import os

    key = args.key or os.environ.get("PARTNERGRAPH_API_KEY")
    if not key:
        ap.error("--key or PARTNERGRAPH_API_KEY is required")
    client = Client(args.url, key)
    cos, people, ds = make_crm(args.companies, args.contacts, args.deals)
    started = time.monotonic()
    report = {}
    try:
        for kind, rows in (("companies", cos), ("contacts", people), ("deals", ds)):
            before = read_book(client, kind)
            report[kind] = push(client, kind, rows, before)
        check_book(client, cos, people, ds)
    except SyncError as e:
        print(f"sync failed: {e}", file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    for kind, c in report.items():
        print(f"{kind:9} created {c['created']:5}  updated {c['updated']:5}  unchanged {c['unchanged']:5}")
    created = sum(c["created"] for c in report.values())
    updated = sum(c["updated"] for c in report.values())
    print(f"total     created {created:5}  updated {updated:5}  in {seconds:.1f} s; the book matches what was sent")
    if args.expect_unchanged and (created or updated):
        print("expected a run that changes nothing", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
