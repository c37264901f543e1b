"""Schemathesis hooks for partnergraph: strategies for the custom scalars, and the check that matters
here — no 5xx and no INTERNAL_SERVER_ERROR. Coded errors (NOT_FOUND, BAD_USER_INPUT, FORBIDDEN, ...) are
the API answering bad or unauthorised input correctly, so schemathesis's generic "any GraphQL error is a
server error" check is not used."""

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(st.from_regex(r"\A-?[0-9]{1,20}(\.[0-9]{1,3})?\Z"), st.text(max_size=30)).map(nodes.String),
)
schemathesis.graphql.scalar("Date", st.dates().map(lambda d: nodes.String(d.isoformat())))
schemathesis.graphql.scalar(
    "DateTime", st.datetimes().map(lambda d: nodes.String(d.isoformat() + "Z"))
)


@schemathesis.check
def no_internal_errors(ctx, response, case):
    assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:300]}"
    try:
        body = response.json()
    except Exception:
        return None
    for error in (body or {}).get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code is not None, f"an error without extensions.code: {error}"
        assert code != "INTERNAL_SERVER_ERROR", f"internal error: {error}"
    return None
