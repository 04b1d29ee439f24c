import { withClient } from "../valkey/index.ts";
import { type Check, CheckNotApplicable, Verdict } from "./check.ts";

export const maxmemory: Check = {
  id: "config.maxmemory",
  promise:
    "runs every pod with maxmemory at serverConfig's share of the server container's memory limit (the rest is headroom for forks and buffers) and the environment's eviction policy, read back with CONFIG GET",
  async run({ release, expected }) {
    const { maxmemory, policy } = expected.memory;
    if (maxmemory === undefined && policy === undefined) {
      throw new CheckNotApplicable(
        "the environment derives no maxmemory: valkeyConfig sets both itself (config.server-settings), or this revision of the chart has no serverConfig.maxmemory*",
      );
    }
    const verdict: Verdict = new Verdict(this.id);
    for (let i = 0; i < expected.pods; i++) {
      await withClient(await release.endpoint(i), release.clientCredentials, async (client) => {
        const config = (await client.config("GET", "maxmemory*")) as string[];
        const value = (name: string) => config[config.indexOf(name) + 1];
        if (maxmemory !== undefined) verdict.equal(value("maxmemory"), String(maxmemory), `maxmemory on pod ${i}`);
        if (policy !== undefined) verdict.equal(value("maxmemory-policy"), policy, `maxmemory-policy on pod ${i}`);
      });
    }
  },
};
