// Runs every graphql-http server audit against URL (argv[2], default http://127.0.0.1:8080/graphql).
// Exits non-zero when a MUST fails (error) or a SHOULD warns; MAY notices are printed only.
import { serverAudits } from 'graphql-http';

const url = process.argv[2] ?? 'http://127.0.0.1:8080/graphql';
const audits = serverAudits({ url, fetchFn: fetch });
let failed = 0;
let notices = 0;
let ok = 0;
for (const audit of audits) {
  const result = await audit.fn();
  if (result.status === 'ok') {
    ok++;
    continue;
  }
  if (result.status === 'notice') notices++;
  else failed++;
  const body = result.response ? await result.response.text().catch(() => '') : '';
  console.log(`${result.status.toUpperCase()} ${audit.name}\n    ${result.reason}\n    ${body.slice(0, 300)}`);
}
console.log(`graphql-http audit: ${ok} ok, ${notices} MAY notices, ${failed} MUST/SHOULD failures (of ${audits.length})`);
process.exit(failed === 0 ? 0 : 1);
