/* SPDX-License-Identifier: MIT */
/* TLS for the Redis tier through OpenSSL (see redis_tls.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/sds.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "redis_tls.h"

/* A file OpenSSL is to load: -errno when it cannot even be read. */
static int readable(const char *path)
{
	return access(path, R_OK) == 0 ? 0 : -errno;
}

int __wset_redis_tls_context(const struct wset_redis_config *config, SSL_CTX **out)
{
	SSL_CTX *context;
	int ret;

	if (config->tls_ca && (ret = readable(config->tls_ca)) < 0)
		return ret;
	if (config->tls_cert && (ret = readable(config->tls_cert)) < 0)
		return ret;
	if (config->tls_key && (ret = readable(config->tls_key)) < 0)
		return ret;
	context = SSL_CTX_new(TLS_client_method());
	if (!context)
		return -ENOMEM;
	ret = -EINVAL;
	if (!SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION))
		goto out_free;
	SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
	/* Without a CA file, the system's trust store. */
	if (config->tls_ca ? !SSL_CTX_load_verify_locations(context, config->tls_ca, NULL)
			   : !SSL_CTX_set_default_verify_paths(context))
		goto out_free;
	if (config->tls_cert &&
	    (!SSL_CTX_use_certificate_chain_file(context, config->tls_cert) ||
	     !SSL_CTX_use_PrivateKey_file(context, config->tls_key, SSL_FILETYPE_PEM) ||
	     !SSL_CTX_check_private_key(context)))
		goto out_free;
	*out = context;
	return 0;

out_free:
	ERR_clear_error();
	SSL_CTX_free(context);
	return ret;
}

int __wset_redis_tls_connect(SSL_CTX *context, redisContext *c, const char *name,
			     SSL **out)
{
	unsigned char address[sizeof(struct in6_addr)];
	bool is_address = inet_pton(AF_INET, name, address) == 1 ||
			  inet_pton(AF_INET6, name, address) == 1;
	SSL *ssl = SSL_new(context);
	int ret = -ENOMEM;

	if (!ssl)
		return -ENOMEM;
	/* An address is checked against the certificate's IP entries and
	 * sent no SNI (RFC 6066 allows host names only). */
	if (!SSL_set_fd(ssl, c->fd) ||
	    !(is_address ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
			 : SSL_set1_host(ssl, name) &&
				   SSL_set_tlsext_host_name(ssl, name)))
		goto out_free;
	if (SSL_connect(ssl) != 1) {
		ret = SSL_get_verify_result(ssl) != X509_V_OK ? -EKEYREJECTED : -EPROTO;
		goto out_free;
	}
	*out = ssl;
	return 0;

out_free:
	ERR_clear_error();
	SSL_free(ssl);
	return ret;
}

int __wset_redis_tls_get_reply(redisContext *c, SSL *ssl, void **reply)
{
	char buffer[16384];

	*reply = NULL;
	if (redisReaderGetReply(c->reader, reply) != REDIS_OK)
		goto out_error;
	if (*reply)
		return REDIS_OK; /* pipelined: read with an earlier one */
	while (sdslen(c->obuf)) {
		size_t length = sdslen(c->obuf);
		int written = SSL_write(ssl, c->obuf, length > INT_MAX ? INT_MAX : (int)length);

		if (written <= 0)
			goto out_error;
		sdsrange(c->obuf, written, -1);
	}
	while (!*reply) {
		/* The socket's receive timeout (redisSetTimeout()) bounds it. */
		int got = SSL_read(ssl, buffer, sizeof(buffer));

		if (got <= 0 || redisReaderFeed(c->reader, buffer, (size_t)got) != REDIS_OK ||
		    redisReaderGetReply(c->reader, reply) != REDIS_OK)
			goto out_error;
	}
	return REDIS_OK;

out_error:
	ERR_clear_error();
	c->err = REDIS_ERR_IO;
	return REDIS_ERR;
}
