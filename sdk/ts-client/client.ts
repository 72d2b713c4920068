// A small client for `interstice run --listen` (docs/SERVER.md): one
// WebSocket session (`GET /v1/ws`) carrying calls, reads and subscriptions,
// typed by the module's TypeScript from `interstice schema --format
// typescript` (its `Reducers` and `Tables` interfaces).
//
//   const conn = await Connection.open("ws://127.0.0.1:7070/v1/ws", token);
//   const bank = conn.module<bankTypes.Reducers, bankTypes.Tables>("bank");
//   const { result, ts } = await bank.call("open_account", "alice", 100);
//   await bank.subscribe("accounts", { fromTs: 1 }, (commit) => { ... });
//
// Node 20 has no global WebSocket, so this uses the `ws` package (pinned in
// package.json); it also lets the handshake carry the `Authorization`
// header the server requires.

import WebSocket from "ws";

/** A reducer's signature, as the generated `Reducers` interface has it. */
export interface ReducerSignature {
  mode: "write" | "read";
  args: unknown[];
  result: unknown;
  error: unknown;
}

/** The answer to a call: the reducer's value and, for a write, the commit's timestamp. */
export interface CallAnswer<Result> {
  result: Result;
  /** The commit's timestamp; `null` for a read reducer. */
  ts: number | null;
}

/** One row change of a commit (docs/SERVER.md section 6). */
export interface RowEvent<Row> {
  ts: number;
  module: string;
  table: string;
  event: "insert" | "update" | "delete";
  /** The row before (`null` for an insert, and in events read back from the log). */
  old: Row | null;
  /** The row after (`null` for a delete). */
  new: Row | null;
  /** The row's primary key. */
  key: unknown;
}

/** Every change one commit made to a subscribed table. */
export interface Commit<Row> {
  ts: number;
  events: RowEvent<Row>[];
}

/** An error reply: the protocol's `kind` (docs/PROTOCOL.md section 6), message and a reducer's own `Err` value. */
export class IntersticeError extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly value?: unknown,
  ) {
    super(`${kind}: ${message}`);
    this.name = "IntersticeError";
  }
}

type Reply = { id: string; ok?: boolean; result?: unknown; ts?: number | null; error?: { kind: string; message: string; value?: unknown }; events?: unknown[]; from_ts?: number };

/** A live subscription; `close` ends its delivery on this side. */
export interface Subscription {
  /** The first timestamp it delivers (the `from_ts` given, or the server's). */
  fromTs: number;
  close(): void;
}

/** One WebSocket session with a server. */
export class Connection {
  private nextId = 1;
  private readonly pending = new Map<string, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private readonly subscriptions = new Map<string, (c: Commit<unknown>) => void>();
  private closed: Error | null = null;

  private constructor(private readonly socket: WebSocket) {
    socket.on("message", (data, isBinary) => this.receive(data.toString(), isBinary));
    socket.on("close", () => this.fail(new Error("the connection closed")));
    socket.on("error", (e) => this.fail(e));
  }

  /** Connects to `url` (`ws://HOST:PORT/v1/ws`) with a token (DIR/TOKEN or DIR/READ_TOKEN). */
  static open(url: string, token: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
      socket.once("open", () => resolve(new Connection(socket)));
      socket.once("unexpected-response", (_req, res) =>
        reject(new Error(`the server refused the WebSocket handshake: HTTP ${res.statusCode}`)),
      );
      socket.once("error", reject);
    });
  }

  /** A typed handle on one module: `R` and `T` are its generated `Reducers` and `Tables`. */
  module<R extends { [K in keyof R]: ReducerSignature }, T extends object>(name: string): ModuleClient<R, T> {
    return new ModuleClient<R, T>(this, name);
  }

  /** Sends one request (an `id` is added) and resolves with its reply; an error reply rejects. */
  request(body: Record<string, unknown>, onCommit?: (c: Commit<unknown>) => void): Promise<Reply> {
    if (this.closed) {
      return Promise.reject(this.closed);
    }
    const id = `c${this.nextId++}`;
    if (onCommit) {
      this.subscriptions.set(id, onCommit);
    }
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ ...body, id }));
    }).catch((e: unknown) => {
      this.subscriptions.delete(id);
      throw e;
    }) as Promise<Reply>;
  }

  /** Stops delivering a subscription's commits. */
  unsubscribe(id: string): void {
    this.subscriptions.delete(id);
  }

  /** Closes the session. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) {
        resolve();
        return;
      }
      this.socket.once("close", () => resolve());
      this.socket.close();
    });
  }

  private receive(text: string, isBinary: boolean): void {
    if (isBinary) {
      return;
    }
    let reply: Reply;
    try {
      reply = JSON.parse(text) as Reply;
    } catch {
      this.fail(new Error(`the server sent a message that is not JSON: ${text.slice(0, 200)}`));
      return;
    }
    const waiting = this.pending.get(reply.id);
    if (waiting) {
      this.pending.delete(reply.id);
      if (reply.ok === true) {
        waiting.resolve(reply);
      } else {
        const e = reply.error ?? { kind: "Error", message: "an error reply without an error" };
        waiting.reject(new IntersticeError(e.kind, e.message, e.value));
      }
      return;
    }
    const deliver = this.subscriptions.get(reply.id);
    if (deliver && Array.isArray(reply.events) && typeof reply.ts === "number") {
      deliver({ ts: reply.ts, events: reply.events as RowEvent<unknown>[] });
    } else if (deliver && reply.error) {
      // A subscription that ended (`Lagging`, `ResumeUnavailable`).
      this.subscriptions.delete(reply.id);
    }
  }

  private fail(e: Error): void {
    if (this.closed) {
      return;
    }
    this.closed = e;
    for (const { reject } of this.pending.values()) {
      reject(e);
    }
    this.pending.clear();
  }
}

/** Calls and subscriptions of one module, typed by its generated interfaces. */
export class ModuleClient<R extends { [K in keyof R]: ReducerSignature }, T extends object> {
  constructor(
    private readonly conn: Connection,
    readonly name: string,
  ) {}

  /** Calls a reducer (a write commits; a read runs on the current state). */
  async call<K extends keyof R & string>(reducer: K, ...args: R[K]["args"]): Promise<CallAnswer<R[K]["result"]>> {
    const r = await this.conn.request({ op: "call", module: this.name, reducer, args });
    return { result: r.result as R[K]["result"], ts: r.ts ?? null };
  }

  /** Calls a read reducer (`WrongMode` for a write reducer). */
  async read<K extends keyof R & string>(reducer: K, ...args: R[K]["args"]): Promise<R[K]["result"]> {
    const r = await this.conn.request({ op: "read", module: this.name, reducer, args });
    return r.result as R[K]["result"];
  }

  /**
   * Subscribes to a table: `onCommit` gets one call per commit that changed
   * it, in timestamp order, from `fromTs` on (read back from the log first,
   * then live) or, without it, from now.
   */
  async subscribe<K extends keyof T & string>(
    table: K,
    opts: { fromTs?: number },
    onCommit: (commit: Commit<T[K]>) => void,
  ): Promise<Subscription> {
    const body: Record<string, unknown> = { op: "subscribe", module: this.name, table };
    if (opts.fromTs !== undefined) {
      body.from_ts = opts.fromTs;
    }
    let id = "";
    const r = await this.conn.request(body, (c) => onCommit(c as Commit<T[K]>));
    id = r.id;
    return {
      fromTs: r.from_ts ?? 0,
      close: () => this.conn.unsubscribe(id),
    };
  }
}
