// The graphql-http audit (GraphQL over HTTP spec) against a running hub.
// Usage: node audit.mjs http://127.0.0.1:8000/graphql
// Exits non-zero on any failure, warning or error: CI requires a clean sheet.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}
const results = await auditServer({ url });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] = (counts[result.status] ?? 0) + 1;
  if (result.status !== 'ok') {
    const why = result.reason ?? '';
    console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${why}`);
    if (result.response) {
      console.log(`    response: ${result.response.status} ${await result.response.text().catch(() => '')}`.slice(0, 400));
    }
  }
}
console.log(
  `graphql-http audit: ${results.length} audits, ${counts.ok} ok, ${counts.notice} notices, ` +
    `${counts.warn} warnings, ${counts.error} failures`,
);
process.exit(counts.warn + counts.error === 0 ? 0 : 1);
