// `client_store redis://HOST:PORT[/DB]`: the client table shared by several balancers through
// Redis (or Valkey), so that a client keeps its server when another balancer takes over. The hot
// path never waits for Redis: connections use the local table; its changes are sent every tick,
// and other balancers' changes arrive by subscription. Redis down: serve from the local table,
// say so once, and send what changed meanwhile once it is back.
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { ConfigError } from '../errors';
import { diag } from '../reports/diag';
import type { ClientTable } from './client-table';

const PREFIX = 'pen-edge:client:';
const CHANNEL = 'pen-edge:clients';
const TICK_MS = 50;
const SCAN_BATCH = 500;

/** Checks a `client_store` URL: redis://HOST:PORT or redis://HOST:PORT/DB. */
export function checkStoreUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`client_store: expected local or redis://HOST:PORT[/DB], not '${url}'`);
  }
  const db = parsed.pathname.replace(/^\//, '');
  if (parsed.protocol !== 'redis:' || !parsed.hostname || !parsed.port || !/^\d*$/.test(db)) {
    throw new ConfigError(`client_store: expected local or redis://HOST:PORT[/DB], not '${url}'`);
  }
  return url;
}

export class RedisClientStore {
  /** tells this balancer's messages from the others' */
  private readonly id = randomUUID();
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  /** changes not yet in Redis: address → server */
  private readonly unsent = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private reachable = true;
  private sending = false;

  /** trackingTime: -T, how long Redis keeps an assignment (0: for ever) */
  constructor(readonly url: string, private readonly clients: ClientTable, private readonly trackingTime: () => number) {
    const options = { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: (n: number) => Math.min(100 * n, 2000) };
    // loaded by the first store: a balancer with the local table does not pay for it at start
    const { default: RedisClient } = require('ioredis') as { default: typeof Redis };
    this.commands = new RedisClient(url, options);
    this.subscriber = new RedisClient(url, { ...options, enableOfflineQueue: true });
    this.commands.on('error', (err: Error) => this.unreachable(err));
    this.subscriber.on('error', (err: Error) => this.unreachable(err));
    // what others stored is read once this balancer is subscribed (and both connections are up),
    // so that nothing published in between is missed; again after every reconnect
    this.commands.on('ready', () => this.whenBothReady());
    this.subscriber.on('ready', () => this.whenBothReady());
    this.subscriber.on('message', (_channel: string, message: string) => this.received(message));
    void this.subscriber.subscribe(CHANNEL).then(() => this.whenBothReady(), () => {}); // resubscribed by ioredis after a reconnect
    this.timer = setInterval(() => void this.send(), TICK_MS);
  }

  private unreachable(err: Error): void {
    if (!this.reachable) return;
    this.reachable = false;
    diag(`client_store: ${this.url} unreachable (${(err as NodeJS.ErrnoException).code ?? err.message}); serving from the local client table`);
  }

  private whenBothReady(): void {
    if (this.commands.status === 'ready' && this.subscriber.status === 'ready') void this.catchUp();
  }

  /** Connected (again): take over what the others stored, then send what changed here. */
  private async catchUp(): Promise<void> {
    if (!this.reachable) diag(`client_store: ${this.url} is back`);
    this.reachable = true;
    try {
      let cursor = '0';
      const now = Math.floor(Date.now() / 1000);
      do {
        const [next, keys] = await this.commands.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', SCAN_BATCH);
        cursor = next;
        if (keys.length === 0) continue;
        const servers = await this.commands.mget(keys);
        keys.forEach((key, i) => {
          const address = key.slice(PREFIX.length);
          if (servers[i] != null && !this.unsent.has(address)) this.clients.adopt(address, Number(servers[i]), now);
        });
      } while (cursor !== '0');
    } catch (err) {
      this.unreachable(err as Error);
    }
    await this.send();
  }

  private received(message: string): void {
    const [from, address, server] = message.split(' ');
    if (from === this.id || address === undefined || server === undefined) return;
    this.clients.adopt(address, Number(server), Math.floor(Date.now() / 1000));
  }

  /** Sends the table's changes: each as a key (for balancers that start later) and a message. */
  private async send(): Promise<void> {
    for (const [address, server] of this.clients.takeChanges()) this.unsent.set(address, server);
    if (this.sending || this.unsent.size === 0 || this.commands.status !== 'ready') return;
    this.sending = true;
    const batch = [...this.unsent];
    const ttl = this.trackingTime();
    const pipeline = this.commands.pipeline();
    for (const [address, server] of batch) {
      if (ttl > 0) pipeline.set(`${PREFIX}${address}`, server, 'EX', ttl);
      else pipeline.set(`${PREFIX}${address}`, server);
      pipeline.publish(CHANNEL, `${this.id} ${address} ${server}`);
    }
    try {
      const results = await pipeline.exec();
      if (results?.some(([err]) => err)) throw results.find(([err]) => err)![0]!;
      for (const [address, server] of batch) if (this.unsent.get(address) === server) this.unsent.delete(address);
    } catch (err) {
      this.unreachable(err as Error);
    } finally {
      this.sending = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.commands.disconnect();
    this.subscriber.disconnect();
  }
}
