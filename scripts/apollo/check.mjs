// Drives a running partnergraph with Apollo Client (npm @apollo/client, plain Node, no React) and the
// cache configuration of cache.mjs, and fails (exit 1) on any mismatch:
//   - every Relay connection of the served schema has a pagination policy with the right key arguments;
//   - `subscribers(kind: CLIENT)` paged with `fetchMore`: each page's rows arrive in the cache, none
//     repeats, the merged list is exactly the server's list (read independently, 100 at a time) in the
//     server's order, `totalCount` matches it, and it took at least 3 pages;
//   - `Viewer` and `PartnerProfile` are normalised by `id`: one cache entry each, reached from every
//     query that selects them, so fields fetched by different queries combine;
//   - the root types are the cache's root (no `QueryRoot:`/`MutationRoot:` entities), and a mutation's
//     answer updates the normalised `Subscriber`.
//   node check.mjs GRAPHQL_URL TOKEN [PAGE_SIZE]     (TOKEN: a partner owner's, as seed.mjs prints)
import { ApolloClient, HttpLink, gql } from "@apollo/client";
import { connections, createCache } from "./cache.mjs";

const [url, token, pageArg] = process.argv.slice(2);
if (!url || !token) {
  console.error("usage: node check.mjs GRAPHQL_URL TOKEN [PAGE_SIZE]");
  process.exit(2);
}
const pageSize = Number(pageArg ?? 10);
const headers = { authorization: `Bearer ${token}` };

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? "ok" : "FAIL"}: ${what}`);
  if (!ok) failures++;
}

// Plain fetch, not Apollo: the reference the cache is compared with.
async function raw(query, variables = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (res.status !== 200 || body.errors) throw new Error(`${res.status} ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

// 1. Every connection of the schema has a policy with exactly its filter arguments as key arguments.
const schema = await raw(`{ __schema { types { name kind fields { name args { name } type { name kind ofType { name kind ofType { name } } } } } } }`);
const unwrap = (t) => (t.ofType ? unwrap(t.ofType) : t.name);
const seen = new Set();
for (const type of schema.__schema.types) {
  if (type.kind !== "OBJECT" || type.name.startsWith("__")) continue;
  for (const field of type.fields ?? []) {
    if (!unwrap(field.type)?.endsWith("Connection")) continue;
    const want = field.args.map((a) => a.name).filter((a) => a !== "first" && a !== "after").sort();
    const have = connections[type.name]?.[field.name];
    seen.add(`${type.name}.${field.name}`);
    check(
      have !== undefined && JSON.stringify([...have].sort()) === JSON.stringify(want),
      `policy for ${type.name}.${field.name} with key arguments [${want.join(", ")}]` +
        (have === undefined ? " — missing in cache.mjs" : ` (cache.mjs: [${have.join(", ")}])`),
    );
  }
}
for (const [type, fields] of Object.entries(connections)) {
  for (const field of Object.keys(fields)) {
    if (!seen.has(`${type}.${field}`)) check(false, `cache.mjs names ${type}.${field}, which is not a connection of the schema`);
  }
}

// The server's list of clients, read without Apollo.
const expected = [];
for (let after = null; ; ) {
  const page = (await raw(
    `query($after: String) { subscribers(kind: CLIENT, first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id } } }`,
    { after },
  )).subscribers;
  expected.push(...page.nodes.map((n) => n.id));
  if (!page.pageInfo.hasNextPage) break;
  after = page.pageInfo.endCursor;
}

// 2. Page through subscribers with fetchMore.
const client = new ApolloClient({ link: new HttpLink({ uri: url, headers }), cache: createCache() });
const CLIENTS = gql`
  query Clients($first: Int!, $after: String) {
    me { id role user { id email } subscriber { id name partnerProfile { id referralCode } } }
    subscribers(kind: CLIENT, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id name kind } }
    }
  }
`;
const vars = { first: pageSize };
const observable = client.watchQuery({ query: CLIENTS, variables: vars });
const first = await new Promise((resolve, reject) => {
  const sub = observable.subscribe({
    next: (r) => {
      if (r.error) reject(r.error);
      else if (!r.loading && r.data) {
        resolve(r.data);
        queueMicrotask(() => sub.unsubscribe());
      }
    },
    error: reject,
  });
});
const merged = () => client.readQuery({ query: CLIENTS, variables: vars });

const pages = [first.subscribers.edges.map((e) => e.node.id)];
let pageInfo = first.subscribers.pageInfo;
while (pageInfo.hasNextPage) {
  const more = await observable.fetchMore({ variables: { after: pageInfo.endCursor } });
  const page = more.data.subscribers.edges.map((e) => e.node.id);
  pages.push(page);
  const list = merged().subscribers.edges.map((e) => e.node.id);
  const n = pages.length;
  check(page.length > 0 && page.length <= pageSize, `page ${n}: ${page.length} rows (page size ${pageSize})`);
  check(page.every((id) => list.includes(id)), `page ${n}: every row of the page is in the cached list`);
  check(new Set(list).size === list.length, `page ${n}: no row repeats in the cached list (${list.length} rows)`);
  check(list.length === pages.flat().length, `page ${n}: the cached list holds the ${pages.flat().length} rows fetched so far`);
  pageInfo = more.data.subscribers.pageInfo;
}
const final = merged().subscribers;
const ids = final.edges.map((e) => e.node.id);
check(pages.length >= 3, `${pages.length} pages of ${pageSize} (at least 3)`);
check(final.totalCount === expected.length, `totalCount ${final.totalCount} = the server's ${expected.length} clients`);
check(JSON.stringify(ids) === JSON.stringify(expected), `the cached list is the server's list, in its order (${ids.length} rows)`);
check(final.pageInfo.hasNextPage === false, "the cached pageInfo says there is no next page");
check(final.edges.every((e) => e.node.kind === "CLIENT"), "every cached row is a CLIENT");

// 3. Viewer and PartnerProfile are normalised by id.
const me = first.me;
const partnerId = me.subscriber.id;
check(me.subscriber.partnerProfile?.id === partnerId, "PartnerProfile.id is its partner's id");
await client.query({
  query: gql`query MoreOfMe { me { id memberships { id role } subscriber { id partnerProfile { id serviceDeskConnected } } } }`,
  fetchPolicy: "network-only",
});
await client.query({
  query: gql`query Partner($id: ID!) { subscriber(id: $id) { id phone partnerProfile { id hasConsultants statuses { status } } } }`,
  variables: { id: partnerId },
  fetchPolicy: "network-only",
});
const combined = client.readQuery({
  query: gql`query Combined { me { id role user { email } memberships { id } subscriber { id partnerProfile { id referralCode serviceDeskConnected hasConsultants } } } }`,
});
check(combined !== null, "one cache-only read combines Viewer and PartnerProfile fields fetched by three different queries");
const cache = client.cache.extract();
const keys = Object.keys(cache);
const viewerKey = `Viewer:${me.id}`;
const profileKey = `PartnerProfile:${partnerId}`;
check(cache.ROOT_QUERY?.me?.__ref === viewerKey, `ROOT_QUERY.me is a reference to ${viewerKey}`);
check(keys.filter((k) => k.startsWith("Viewer:")).length === 1, "exactly one Viewer entry in the cache");
check(keys.filter((k) => k.startsWith("PartnerProfile:")).length === 1, "exactly one PartnerProfile entry in the cache");
check(cache[`Subscriber:${partnerId}`]?.partnerProfile?.__ref === profileKey, `Subscriber:${partnerId}.partnerProfile is a reference to ${profileKey}`);
check(["referralCode", "serviceDeskConnected", "hasConsultants"].every((f) => f in (cache[profileKey] ?? {})), `${profileKey} holds the fields of all three queries`);

// 4. The roots are the cache's roots; a mutation's answer updates the normalised subscriber.
const phone = "+7 (900) 555-01-23";
await client.mutate({
  mutation: gql`mutation Phone($id: ID!, $phone: String) { updateSubscriber(id: $id, input: {phone: $phone}) { id phone } }`,
  variables: { id: partnerId, phone },
});
const after = client.cache.extract();
check(after[`Subscriber:${partnerId}`]?.phone === phone, "the mutation's answer updated the cached Subscriber's phone");
check(!Object.keys(after).some((k) => /^(QueryRoot|MutationRoot|SubscriptionRoot)\b/.test(k)), "no QueryRoot/MutationRoot/SubscriptionRoot entity in the cache (they are the roots)");

client.stop();
if (failures) {
  console.error(`apollo check: ${failures} check(s) failed`);
  process.exit(1);
}
console.log(`== apollo check: all checks passed (${pages.length} pages, ${ids.length} clients)`);
