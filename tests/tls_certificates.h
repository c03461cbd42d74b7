/* SPDX-License-Identifier: MIT */
/*
 * Throwaway certificates for the TLS tests, made with the openssl command
 * in a test's directory: ca.pem signs server.pem (for 127.0.0.1 and
 * localhost, key server.key) and client.pem (key client.key);
 * other-ca.pem signs nothing.  The commands' output goes to openssl.log.
 */
#ifndef WSET_TEST_TLS_CERTIFICATES_H
#define WSET_TEST_TLS_CERTIFICATES_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static inline bool tls_certificates_make(const char *directory)
{
	static const char *const steps[] = {
		"printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' >server.ext",
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
		"-nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=wset-test-ca",
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
		"-nodes -keyout other-ca.key -out other-ca.pem -days 1 -subj /CN=wset-other-ca",
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		"-keyout server.key -out server.csr -subj /CN=localhost && "
		"openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		"-days 1 -extfile server.ext -out server.pem",
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		"-keyout client.key -out client.csr -subj /CN=wset-client && "
		"openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		"-days 1 -out client.pem",
	};
	char command[1024];

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		snprintf(command, sizeof(command), "cd '%s' && (%s) >>openssl.log 2>&1",
			 directory, steps[i]);
		if (system(command) != 0)
			return false;
	}
	return true;
}

#endif
