// PostGraphile 5 (amber preset) over the partnergraph benchmark database, for scripts/bench-peer.sh.
// PEER_DATABASE_URL: the database (the script connects as a role that may only read);
// PEER_PORT: where to listen (127.0.0.1 only).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { jsonPgSmartTags } from "postgraphile/utils";

// The `subscriptions` table would be the type `Subscription`, which is the root subscription type.
const RenameSubscriptions = jsonPgSmartTags({
  version: 1,
  config: { class: { subscriptions: { tags: { name: "subscription_row" } } } },
});

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  plugins: [RenameSubscriptions],
  pgServices: [
    makePgService({ connectionString: process.env.PEER_DATABASE_URL, schemas: ["public"] }),
  ],
  grafserv: { host: "127.0.0.1", port: Number(process.env.PEER_PORT), graphiql: false, watch: false },
  grafast: { explain: false },
};

export default preset;
