/* SPDX-License-Identifier: MIT */
/*
 * TLS for the Redis tier.  Debian's hiredis 0.14 has no TLS and reads and
 * writes its socket itself (there is no hook for either), so for a TLS
 * connection the tier keeps hiredis for what it is good at, formatting
 * commands into the context's output buffer and parsing replies with its
 * reader, and moves the bytes itself through OpenSSL on the context's
 * socket.  No thread and no second socket: the I/O happens in the calling
 * thread, under the tier's lock, as hiredis's own blocking I/O would.
 */
#ifndef WSET_STORE_REDIS_TLS_H
#define WSET_STORE_REDIS_TLS_H

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include "wset_store.h"

/* The client context for config's tls_ca, tls_cert and tls_key, peer
 * verification on.  -ENOENT/-EACCES for a file that cannot be read,
 * -EINVAL for one OpenSSL does not accept (or a key that does not match
 * the certificate). */
int __wset_redis_tls_context(const struct wset_redis_config *config, SSL_CTX **out);

/* The TLS handshake on c's connected socket, checking that the server's
 * certificate is for name (a host name or an IP address).  -EKEYREJECTED
 * when the certificate does not verify (unknown CA, wrong name, expired),
 * -EPROTO when the server does not speak TLS or the handshake fails
 * otherwise. */
int __wset_redis_tls_connect(SSL_CTX *context, redisContext *c, const char *name,
			     SSL **out);

/* redisGetReply() for a TLS connection: sends what is pending in c's
 * output buffer, then reads until c's reader has a reply.  REDIS_ERR on
 * an I/O or protocol error (the connection is then unusable). */
int __wset_redis_tls_get_reply(redisContext *c, SSL *ssl, void **reply);

#endif /* WSET_STORE_REDIS_TLS_H */
