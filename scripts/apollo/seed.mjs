// Seeds a fresh `serve --demo` database through GraphQL mutations only: the demo vendor creates a
// partner, the partner's owner accepts the invitation, and registers CLIENTS clients. Prints the
// partner owner's token on stdout (everything else goes to stderr).
//   node seed.mjs http://127.0.0.1:PORT/graphql [CLIENTS]
const [url, clientsArg] = process.argv.slice(2);
if (!url) {
  console.error("usage: node seed.mjs GRAPHQL_URL [CLIENTS]");
  process.exit(2);
}
const clients = Number(clientsArg ?? 45);

async function gql(query, variables = {}, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (res.status !== 200 || body.errors) {
    throw new Error(`${res.status} ${JSON.stringify(body.errors ?? body)} for ${query.slice(0, 60)}`);
  }
  return body.data;
}

const login = `mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token } }`;
const vendor = (await gql(login, { email: "vendor@partnergraph.local", password: "partnergraph-demo" })).login.token;

// A run id keeps e-mails apart if the script is run twice on one database.
const run = Date.now().toString(36);
const partner = await gql(
  `mutation($email: String!) { createPartner(input: {name: "ООО Партнёр Аполлон", ownerEmail: $email}) { token } }`,
  { email: `owner-${run}@apollo.example` },
  vendor,
);
const owner = (
  await gql(
    `mutation($token: String!) { acceptInvitation(token: $token, name: "Пётр", password: "a long password") { token } }`,
    { token: partner.createPartner.token },
  )
).acceptInvitation.token;

for (let i = 1; i <= clients; i++) {
  await gql(
    `mutation($name: String!, $email: String!) { registerClient(input: {name: $name, ownerEmail: $email}) { subscriber { id } } }`,
    { name: `ООО Клиент ${String(i).padStart(3, "0")}`, email: `boss-${run}-${i}@client.example` },
    owner,
  );
}
console.error(`seeded: 1 partner, ${clients} clients registered by its owner`);
process.stdout.write(`${owner}\n`);
