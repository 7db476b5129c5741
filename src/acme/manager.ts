// Obtains and renews the listener's certificate over ACME (RFC 8555) with acme-client, in the
// main thread only. The certificate in service stays until a new one is issued; renewal starts
// at two thirds of its lifetime, and a failure is retried with a growing delay.
import type { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import type * as AcmeClient from 'acme-client';
import type { AcmeSettings, TlsSettings } from '../config/settings';
import { messageOf } from '../errors';
import type { TlsFiles } from '../listeners/tls';
import { debug, diag } from '../reports/diag';
import type { AcmeChallenges } from './challenges';
import { HTTP01_FOLDER, type AcmeStore, type IssuedCertificate } from './store';

/** acme-client and axios beneath it, loaded by the first manager: a balancer without ssl_acme does not pay for them at start. */
function acmeClient(): typeof AcmeClient {
  return require('acme-client') as typeof AcmeClient;
}

/** What `penctl acme` shows of one domain. */
export interface AcmeDomainState {
  domain: string;
  state: 'pending' | 'valid' | 'renewing';
  validUntil?: string;
  nextRenewal?: string;
  lastError?: string;
}

/** What the manager asks of the balancer. */
export interface AcmeOwner {
  /** serve this certificate from now on (open connections keep theirs); what went wrong, if it could not */
  serve(files: TlsFiles): string | undefined;
  /** answer challenges with these from now on */
  answer(challenges: AcmeChallenges): void;
}

export interface AcmeOptions {
  settings: AcmeSettings;
  /** read at each attempt: ssl_acme_key, ssl_acme_ca and ssl_acme_challenge apply from the next one */
  tls: Pick<TlsSettings, 'acmeKey' | 'acmeCa' | 'acmeChallenge'>;
  store: AcmeStore;
}

/** The first retry after a failure; each next one waits twice as long, up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 60_000;
const RETRY_MAX_MS = 24 * 3600_000;
/** setTimeout's longest delay (about 24.8 days); longer waits are made of several */
const TIMER_MAX_MS = 2 ** 31 - 1;

/** When a certificate is renewed: two thirds into its lifetime. */
function renewalTime(leaf: X509Certificate): number {
  const from = Date.parse(leaf.validFrom);
  return from + ((Date.parse(leaf.validTo) - from) * 2) / 3;
}

/** The delay before attempt n + 1 after n failures in a row. */
function retryDelay(failures: number): number {
  return Math.min(RETRY_MIN_MS * 2 ** (failures - 1), RETRY_MAX_MS);
}

/** An HTTPS agent that remembers its last connection error, which acme-client 5.4.0 loses. */
class RememberingAgent extends Agent {
  failure: Error | undefined;

  override createConnection(...args: Parameters<Agent['createConnection']>): ReturnType<Agent['createConnection']> {
    const socket = super.createConnection(...args);
    socket?.on('error', (err: Error) => (this.failure = err));
    return socket;
  }
}

export class AcmeManager {
  private issued: IssuedCertificate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextAttempt: number | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private lastError: string | undefined;
  private challenges: AcmeChallenges;
  private stopped = false;

  constructor(private readonly options: AcmeOptions, private readonly owner: AcmeOwner, generation: number) {
    this.challenges = { generation, tlsAlpn: {} };
    acmeClient().setLogger((line) => debug(1, () => `ACME: ${line}`));
  }

  private get domains(): string[] {
    return this.options.settings.domains;
  }

  private get names(): string {
    return this.domains.join(', ');
  }

  /** Serves a kept certificate (renewing it when due), or asks for one at once. */
  start(): void {
    const kept = this.options.store.issued(this.domains);
    if (kept === undefined) return void this.renew();
    this.issued = kept;
    diag(`ACME: ${this.names}: using ${kept.files.certFile}, valid until ${kept.leaf.validTo}`);
    this.schedule(renewalTime(kept.leaf));
  }

  /** `acme renew`: asks for a new certificate now (unless an attempt is under way). */
  renew(): void {
    this.running ??= this.attempt().finally(() => (this.running = undefined));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  report(): AcmeDomainState[] {
    const validUntil = this.issued && new Date(this.issued.leaf.validTo).toISOString();
    const nextRenewal = this.nextAttempt === undefined ? undefined : new Date(this.nextAttempt).toISOString();
    const state = this.running ? (this.issued ? 'renewing' : 'pending') : this.issued ? 'valid' : 'pending';
    return this.domains.map((domain) => ({ domain, state, validUntil, nextRenewal, lastError: this.lastError }));
  }

  /** Runs the next attempt at `when` (ms since the epoch). */
  private schedule(when: number): void {
    clearTimeout(this.timer);
    this.nextAttempt = when;
    const wait = (): void => {
      const left = when - Date.now();
      if (left <= 0) return this.renew();
      this.timer = setTimeout(wait, Math.min(left, TIMER_MAX_MS)).unref();
    };
    diag(`ACME: ${this.names}: next renewal ${new Date(when).toISOString()}`);
    wait();
  }

  private async attempt(): Promise<void> {
    clearTimeout(this.timer);
    this.nextAttempt = undefined;
    diag(`ACME: ${this.names}: asking ${this.options.settings.directory} for a certificate`);
    try {
      const issued = await this.obtain();
      if (this.stopped) return;
      const error = this.owner.serve(issued.files);
      if (error) throw new Error(`the new certificate cannot be served: ${error}`);
      this.issued = issued;
      this.failures = 0;
      this.lastError = undefined;
      diag(`ACME: ${this.names}: certificate issued, valid until ${issued.leaf.validTo}; serving it`);
      this.schedule(renewalTime(issued.leaf));
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      this.lastError = messageOf(err);
      const delay = retryDelay(this.failures);
      const serving = this.issued ? 'the certificate in service stays' : 'the self-signed certificate stays';
      diag(`ACME: ${this.names}: failed (${this.lastError}); ${serving}; next attempt in ${delay / 1000} s`);
      this.schedule(Date.now() + delay);
    }
  }

  /** One order, from the account to the certificate, answering TLS-ALPN-01 or HTTP-01 challenges. */
  private async obtain(): Promise<IssuedCertificate> {
    const { tls } = this.options;
    const agent = new RememberingAgent({ ca: tls.acmeCa === undefined ? undefined : readFileSync(tls.acmeCa) });
    // acme-client makes every request through this one axios instance; it would retry a failed
    // request for up to 75 s: retries are this manager's, with its backoff, instead
    const { axios } = acmeClient();
    axios.defaults.httpsAgent = agent;
    (axios.defaults as { acmeSettings?: { retryMaxAttempts: number } }).acmeSettings!.retryMaxAttempts = 0;
    try {
      return await this.order();
    } catch (err) {
      // acme-client turns a request that got no response into a TypeError: the connection's error says why
      throw err instanceof TypeError && agent.failure ? agent.failure : err;
    }
  }

  private async order(): Promise<IssuedCertificate> {
    const { settings, tls, store } = this.options;
    const acme = acmeClient();
    const client = new acme.Client({ directoryUrl: settings.directory, accountKey: await store.accountKey() });
    const key = tls.acmeKey === 'rsa2048' ? await acme.crypto.createPrivateRsaKey(2048) : await acme.crypto.createPrivateEcdsaKey('P-256');
    const [, csr] = await acme.crypto.createCsr({ commonName: this.domains[0], altNames: this.domains }, key);
    const chain = await client.auto({
      csr, email: settings.email, termsOfServiceAgreed: true,
      challengePriority: [tls.acmeChallenge],
      skipChallengeVerification: true, // the ACME server checks; a check from here would reach this balancer anyway
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        const domain = authz.identifier.value;
        if (challenge.type === 'http-01') {
          store.putHttp01Answer(challenge.token, keyAuthorization);
          diag(`ACME: ${domain}: HTTP-01 answer in ${store.dir}/${HTTP01_FOLDER}, for the pen-edge on port 80 to serve (acme_http01_dir)`);
          return;
        }
        const [challengeKey, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey('P-256'));
        this.setChallenge(domain, { cert: cert.toString(), key: challengeKey.toString() });
        diag(`ACME: ${domain}: answering its TLS-ALPN-01 challenge`);
      },
      challengeRemoveFn: async (authz, challenge) => {
        if (challenge.type === 'http-01') store.removeHttp01Answer(challenge.token);
        else this.setChallenge(authz.identifier.value, undefined);
      },
    });
    return store.save(this.domains, key, chain);
  }

  private setChallenge(domain: string, answer: { cert: string; key: string } | undefined): void {
    const tlsAlpn = { ...this.challenges.tlsAlpn };
    if (answer) tlsAlpn[domain] = answer;
    else delete tlsAlpn[domain];
    this.challenges = { generation: this.challenges.generation + 1, tlsAlpn };
    this.owner.answer(this.challenges);
  }
}
