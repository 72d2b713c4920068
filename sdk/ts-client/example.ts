// The example: subscribe to `bank.accounts` from timestamp 1, open an
// account, read its balance, and wait until the subscription has delivered
// the commit of that call; then print one JSON line with what it saw.
//
//   INTERSTICE_URL=ws://127.0.0.1:7070/v1/ws INTERSTICE_TOKEN=$(cat DIR/TOKEN) \
//     node dist/example.js alice 100
//
// `generated/bank.ts` is `interstice schema bank.wasm --format typescript`.

import { Commit, Connection, IntersticeError } from "./client";
import * as bank from "./generated/bank";

const TIMEOUT_MS = 20_000;

async function main(): Promise<void> {
  const url = process.env.INTERSTICE_URL;
  const token = process.env.INTERSTICE_TOKEN;
  const [owner, initialText] = process.argv.slice(2);
  if (!url || !token || !owner || !initialText) {
    throw new Error("usage: INTERSTICE_URL=ws://… INTERSTICE_TOKEN=… node dist/example.js OWNER INITIAL");
  }
  const initial = Number(initialText);
  const conn = await Connection.open(url, token);
  const accounts = conn.module<bank.Reducers, bank.Tables>(bank.MODULE_NAME);

  const commits: Commit<bank.AccountsRow>[] = [];
  let seen: (ts: number) => void = () => {};
  const sub = await accounts.subscribe("accounts", { fromTs: 1 }, (c) => {
    commits.push(c);
    seen(c.ts);
  });

  const opened = await accounts.call("open_account", owner, initial);
  const balance: bank.BalanceResult = await accounts.read("balance", opened.result);

  // Wait until the subscription has delivered the call's commit.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no commit ${opened.ts} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    seen = (ts) => {
      if (opened.ts !== null && ts >= opened.ts) {
        clearTimeout(timer);
        resolve();
      }
    };
    seen(commits.length ? commits[commits.length - 1].ts : 0);
  });
  sub.close();

  // A reducer's error comes back as an IntersticeError with its kind and
  // the reducer's own `Err` value (typed by the generated `…Error`).
  let refused: { kind: string; value: bank.OpenAccountError } | null = null;
  try {
    await accounts.call("open_account", "", 1);
  } catch (e) {
    if (!(e instanceof IntersticeError)) {
      throw e;
    }
    refused = { kind: e.kind, value: e.value as bank.OpenAccountError };
  }
  await conn.close();

  const rows = commits.flatMap((c) => c.events.map((e) => ({ ts: c.ts, event: e.event, new: e.new })));
  process.stdout.write(
    JSON.stringify({ call: opened, balance, from_ts: sub.fromTs, rows, refused, schema_hash: bank.SCHEMA_HASH }) + "\n",
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`example failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
