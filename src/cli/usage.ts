// The text `pen` prints when run without a listen address, and for --help; penctl's usage line.
export const USAGE = `usage:
  pen [options] [host:]port|/path/to/socket server1 [server2 ...]
  pen --help | --version
  pen --check [options] ...   check the configuration (files read, nothing bound), exit 0 or 1
  server: host[:port[:maxc[:hard[:weight[:prio]]]]]  ([ipv6]:port:... for IPv6, or /path/to/socket)

  -B host:port  abuse server: where clients refused by client_acl are sent
  -C [addr:]port|path  control port or socket for penctl (a bare port binds every address)
  -F file       penctl commands read at start and again on HUP
  -H            HTTP mode: add X-Forwarded-For and X-Forwarded-Proto to requests
  -N            hash the client address to choose a server, without remembering it
  -O / -o cmd   run one penctl command at start (repeatable)
  -P            accepted for compatibility (Node chooses its event mechanism)
  -T sec        client tracking time, 0 = forever [0]
  -U            UDP mode
  -W            choose servers by weight
  -X            allow the 'exit' control command
  -a            ASCII instead of hex in debug dumps
  -b sec        blacklist time for a failed server [30]
  -c N          client table size [2048]
  -d            debug output on stderr (repeat for more)
  -e host:port  emergency server, used when no other server can take a client
  -f            stay in the foreground
  -h            hash the client address to choose a server
  -j dir        chroot (not possible from Node.js: refused with an error)
  -l file       log one line per request chunk (host:port logs to a penlogd)
  -m N          connections accepted per event [100]
  -p file       write the process id to file
  -q N          listen backlog, at least 50 [500]
  -r            round robin: ignore the client table
  -s            stubborn: never fail over to another server
  -t sec        connect timeout, at least 1 [3]
  -u user       run as this user after opening the listeners
  -w file       HTML status file, written on USR1
  -x N          maximum simultaneous connections [500]
  -E certfile   TLS: certificate chain (PEM)
  -K keyfile    TLS: private key (PEM; may be inside the certificate file)
  -G cafile     TLS: CA certificates for client certificates
  -A cadir      TLS: hashed directory of CA certificates
  -Z            TLS: compatibility mode for old clients (TLS 1.0-1.3, OpenSSL security level 0)
  -R            TLS: require a valid client certificate
  -L protocol   TLS: ssl23 (best available), tls1, tls1.1, tls1.2, tls1.3

example:
  pen 8080 www1:80 www2:80 www3:80:100:200
`;

export const PENCTL_USAGE = `usage: penctl [--json] host:port|[host]:port|/path/to/socket command [arguments ...]
  --json  the reply as one line of JSON
example:
  penctl 127.0.0.1:10080 servers
`;
