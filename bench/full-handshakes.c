/* Preloaded into wrk (LD_PRELOAD) by the TLS handshake scenarios, so that every connection makes
 * a full handshake. wrk keeps each connection's TLS session across reconnects, so it would
 * otherwise resume most sessions, and how many depends on how each balancer hands out tickets.
 * At exit it prints how many handshakes were full and how many resumed, for wrk.js to check.
 * No OpenSSL headers needed: the few functions used are looked up at run time. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

static int (*real_connect)(SSL *);
static int (*real_clear)(SSL *);
static int (*set_session)(SSL *, SSL_SESSION *);
static int (*session_reused)(const SSL *);
static unsigned long full, resumed;

static void report(void) {
  fprintf(stderr, "bench-tls full=%lu resumed=%lu\n", full, resumed);
}

__attribute__((constructor)) static void init(void) {
  real_connect = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
  real_clear = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
  set_session = (int (*)(SSL *, SSL_SESSION *))dlsym(RTLD_DEFAULT, "SSL_set_session");
  session_reused = (int (*)(const SSL *))dlsym(RTLD_DEFAULT, "SSL_session_reused");
  if (real_connect && real_clear && set_session && session_reused) atexit(report); /* not in taskset */
}

/* wrk calls SSL_clear when it closes a connection, to reuse the SSL object for the next one. */
int SSL_clear(SSL *ssl) {
  if (set_session) set_session(ssl, NULL); /* forget the session, so the next handshake cannot resume it */
  return real_clear ? real_clear(ssl) : 0;
}

int SSL_connect(SSL *ssl) {
  int r = real_connect ? real_connect(ssl) : -1;
  if (r == 1 && session_reused) __sync_fetch_and_add(session_reused(ssl) ? &resumed : &full, 1);
  return r;
}
