// The settings model: every tunable of the balancer as plain data, with pen's defaults.

/** the most worker threads `workers` starts */
export const WORKERS_MAX = 64;
/** the longest a timer runs (2^31 - 1 ms, Node's setTimeout): longer ones would fire at once */
export const TIMER_SECONDS_MAX = 2147483;

export type FastClose = 'off' | 'up' | 'down' | 'both';
/** X-Forwarded-For: append ours to the client's, replace the client's, or pen's add-if-absent */
export type ForwardedMode = 'append' | 'replace' | 'pen';
export type TlsProtocol = 'ssl23' | 'tls1' | 'tls1.1' | 'tls1.2' | 'tls1.3';

export interface TlsSettings {
  certFile?: string;
  keyFile?: string;
  /** `ssl_certificate CERT KEY`: chains served beside the -E one, for clients that cannot take it */
  extraCertificates: Array<{ certFile: string; keyFile: string }>;
  caFile?: string;
  caDir?: string;
  compat: boolean;
  requireClientCert: boolean;
  protocol: TlsProtocol;
  ciphers?: string;
  options: string[];
  sniPath?: string;
  ocspResponse?: string;
  renegotiationInterval: number;
  /** `ssl_auto HOST,…`: TLS with a generated self-signed certificate for these names */
  auto?: string[];
  /** `ssl_acme DIRECTORY_URL EMAIL DOMAIN,…`: TLS with a certificate obtained and renewed over ACME */
  acme?: AcmeSettings;
  /** `ssl_acme_ca FILE`: the CA the ACME server's HTTPS certificate chains to (default: the system CAs) */
  acmeCa?: string;
  /** `ssl_acme_key`: the type of key certificates are asked for with */
  acmeKey: AcmeKeyType;
  /** `ssl_acme_dir DIR`: where the account key and certificates are kept (default certs/acme) */
  acmeDir?: string;
  /** `ssl_acme_challenge`: how the domains are proven: on this TLS listener, or by a plain HTTP pen-edge reading ssl_acme_dir/http-01 */
  acmeChallenge: AcmeChallengeType;
}

export type AcmeKeyType = 'ecdsa' | 'rsa2048';
export type AcmeChallengeType = 'tls-alpn-01' | 'http-01';

export interface AcmeSettings {
  directory: string;
  email: string;
  domains: string[];
}

export interface Settings {
  /** [host:]port or unix socket path to balance on */
  listen?: string;
  control?: string;
  configFile?: string;
  emergencyServer?: string;
  abuseServer?: string;

  roundrobin: boolean;
  hash: boolean;
  /** -N: hash without remembering the client's server */
  hashNoSave: boolean;
  weight: boolean;
  prio: boolean;
  stubborn: boolean;

  trackingTime: number;
  blacklistTime: number;
  clientsMax: number;
  connMax: number;
  timeout: number;
  idleTimeout: number;
  pendingMax: number;
  idlers: number;
  multiAccept: number;
  listenQueue: number;
  clientAcl: number;
  controlAcl: number;
  /** accepted and reported like pen's; no tarpit is built */
  tarpitAcl: number;

  http: boolean;
  forwarded: ForwardedMode;
  /** `trusted_proxies N`: for HTTP clients that ACL N permits, the real client is the last X-Forwarded-For entry */
  trustedProxiesAcl?: number;
  /** `forwarded rfc7239`: add a Forwarded header besides X-Forwarded-For */
  forwardedRfc7239: boolean;
  /** `proxy_protocol N`: peers that ACL N permits must send a PROXY header (undefined = off) */
  proxyProtocolAcl?: number;
  /** `geo_db`: MaxMind database file */
  geoDb?: string;
  /** `geo_routing on`: prefer servers tagged with the client's country, then continent */
  geoRouting: boolean;
  /** seconds between active health checks */
  healthInterval: number;
  /** largest request head accepted in HTTP mode (bytes); with HTTP/2, the largest header list */
  httpHeadMax: number;
  /** `http2 on`: with -H on a TLS listener, ALPN offers h2 before http/1.1 */
  http2: boolean;
  /** `http2_max_streams N`: requests one HTTP/2 connection may have open at once */
  http2MaxStreams: number;
  /** `http2_pipeline N`: requests of HTTP/2 clients one connection to a server may carry at once (1: no pipelining) */
  http2Pipeline: number;
  /** seconds a started request head may take to arrive in full (then 408) */
  httpHeadTimeout: number;
  /** seconds the server may stay silent while a refused client is still owed answers (then 504) */
  httpAnswerTimeout: number;
  /** seconds open connections may take to finish after QUIT (or an upgrade) before they are closed */
  drainTimeout: number;
  udp: boolean;
  /** `workers N`: threads serving the listener (1 = the main thread serves alone) */
  workers: number;
  /** `client_store redis://…`: the client table shared with other balancers (undefined = local) */
  clientStore?: string;
  exitEnabled: boolean;
  ascii: boolean;
  debug: number;
  foreground: boolean;
  abortOnError: boolean;
  dummy: boolean;
  keepalive: boolean;
  transparent: boolean;
  tcpNodelay: boolean;
  tcpFastclose: FastClose;
  source?: string;

  chroot?: string;
  logFile?: string;
  /** pen: a line per chunk a client sends; json: an object per connection, or per request with -H */
  logFormat: 'pen' | 'json';
  pidFile?: string;
  user?: string;
  webFile?: string;
  /** `web [ADDR:]PORT`: where /metrics, /status.json and the dashboard are served (undefined = nowhere) */
  web?: string;
  /** `web_acl N`: clients of the web endpoint must pass ACL N (undefined = every client) */
  webAcl?: number;
  /** `acme_http01_dir DIR`: with -H, ACME HTTP-01 validations are answered from the token files there */
  acmeHttp01Dir?: string;

  tls: TlsSettings;
}

export function defaultSettings(): Settings {
  return {
    roundrobin: false, hash: false, hashNoSave: false, weight: false, prio: false, stubborn: false,
    trackingTime: 0, blacklistTime: 30, clientsMax: 2048, connMax: 500, timeout: 3,
    idleTimeout: 0, pendingMax: 100, idlers: 0, multiAccept: 100, listenQueue: 500,
    clientAcl: 0, controlAcl: 0, tarpitAcl: -1,
    http: false, forwarded: 'append', httpHeadMax: 16384, http2: true, http2MaxStreams: 100, http2Pipeline: 16, httpHeadTimeout: 60, httpAnswerTimeout: 60, drainTimeout: 30, logFormat: 'pen', healthInterval: 5, geoRouting: false, forwardedRfc7239: false, udp: false, workers: 1, exitEnabled: false, ascii: false, debug: 0, foreground: false,
    abortOnError: false, dummy: false, keepalive: false, transparent: false, tcpNodelay: false,
    tcpFastclose: 'off',
    tls: { extraCertificates: [], compat: false, requireClientCert: false, protocol: 'ssl23', options: [], renegotiationInterval: 0, acmeKey: 'ecdsa', acmeChallenge: 'tls-alpn-01' },
  };
}
