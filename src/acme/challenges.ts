// The answers to ACME challenges the balancer gives itself, as plain data: the main thread makes
// them and every thread that serves the TLS listener (worker threads too) answers with them.

/** The ALPN protocol of a TLS-ALPN-01 validation (RFC 8737). */
export const ACME_TLS_ALPN = 'acme-tls/1';

export interface AcmeChallenges {
  /** counts every change, so a thread rebuilds its TLS server only when the answers changed */
  generation: number;
  /** TLS-ALPN-01: per domain, the self-signed certificate carrying the digest of the key authorization */
  tlsAlpn: Record<string, { cert: string; key: string }>;
}

export const NO_CHALLENGES: AcmeChallenges = { generation: 0, tlsAlpn: {} };
