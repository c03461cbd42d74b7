/* SPDX-License-Identifier: MIT */
/*
 * The Redis tier through TLS, against a real redis-server that listens
 * on a TLS port only (port 0: no plain TCP), asks for a password and for a
 * client certificate.  The test makes a throwaway CA, a server and a
 * client certificate with the openssl command, and a second CA that
 * signed nothing.  Pages go in and come back byte for byte, also after a
 * kill -9 of the server (the tier reconnects through TLS); a wrong CA,
 * a wrong server name, a missing client certificate, a wrong password and
 * a plain connection to the TLS port are each refused at open.
 * usage: redis_tls
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "../redis_server.h"
#include "testlib.h"
#include "batch.h"
#include "tls_certificates.h"
#include "wset_store.h"

#define PAGES 64
#define PAGE BATCH_PAGE
#define PASSWORD "tls-test-password"

static char directory[64];
static unsigned int port;
static pid_t server;
static uint8_t pages[PAGES][PAGE];

/* PONG through redis-cli over TLS: the server is up. */
static bool server_answers(void)
{
	char command[768], out[16] = "";
	FILE *pipe;

	snprintf(command, sizeof(command),
		 "redis-cli --tls --cacert %1$s/ca.pem --cert %1$s/client.pem "
		 "--key %1$s/client.key -h 127.0.0.1 -p %2$u --no-auth-warning -a %3$s PING "
		 "2>/dev/null", directory, port, PASSWORD);
	pipe = popen(command, "r");
	if (!pipe)
		return false;
	if (!fgets(out, sizeof(out), pipe))
		out[0] = '\0';
	pclose(pipe);
	return strncmp(out, "PONG", 4) == 0;
}

static bool start_server(void)
{
	char tls_port[16], file[4][128];

	snprintf(tls_port, sizeof(tls_port), "%u", port);
	snprintf(file[0], sizeof(file[0]), "%s/server.pem", directory);
	snprintf(file[1], sizeof(file[1]), "%s/server.key", directory);
	snprintf(file[2], sizeof(file[2]), "%s/ca.pem", directory);
	snprintf(file[3], sizeof(file[3]), "%s/data", directory);
	mkdir(file[3], 0700);
	server = fork();
	if (server < 0)
		return false;
	if (server == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, STDOUT_FILENO);
		execlp("redis-server", "redis-server", "--port", "0", "--tls-port", tls_port,
		       "--bind", "127.0.0.1", "--tls-cert-file", file[0], "--tls-key-file",
		       file[1], "--tls-ca-cert-file", file[2], "--tls-auth-clients", "yes",
		       "--requirepass", PASSWORD, "--dir", file[3], "--save", "",
		       "--appendonly", "yes", "--appendfsync", "always", (char *)NULL);
		_exit(127);
	}
	for (int waited = 0; waited < 1000; waited++) {
		const struct timespec tick = { .tv_nsec = 10 * 1000000L };

		if (server_answers())
			return true;
		if (waitpid(server, NULL, WNOHANG) == server) {
			server = 0;
			return false;
		}
		nanosleep(&tick, NULL);
	}
	return false;
}

static void stop_server(void)
{
	if (server > 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
	}
	server = 0;
}

static void cleanup(void)
{
	stop_server();
	char command[96];

	snprintf(command, sizeof(command), "rm -rf '%s'", directory);
	if (directory[0] && system(command) != 0)
		tap_diag("could not remove %s", directory);
}

static void fill(uint64_t generation)
{
	batch_fill(pages, PAGES, generation, 0xa5a5);
}

static unsigned int put_all(struct wset_store *store)
{
	return batch_put_all(store, pages, PAGES);
}

static void get_all(struct wset_store *store, unsigned int *failed, unsigned int *wrong)
{
	batch_get_all(store, pages, PAGES, failed, wrong);
}

static int count_key(void *arg, uint64_t key, size_t len)
{
	(void)key;
	*(unsigned int *)arg += len == PAGE;
	return 0;
}

/* Open with config changed by one field; the store is closed again. */
static int open_result(const struct wset_redis_config *config)
{
	struct wset_store *store;
	int ret = wset_redis_store_open(config, &store);

	if (ret == 0)
		wset_store_close(store);
	return ret;
}

int main(void)
{
	struct wset_redis_config config = WSET_REDIS_CONFIG_INIT, changed;
	uint64_t state = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
	char ca[96], other_ca[96], cert[96], key[96];
	unsigned int failed, wrong, listed = 0;
	struct wset_store *store;
	uint8_t one[PAGE];
	int ret;

	if (system("command -v redis-server >/dev/null && command -v redis-cli >/dev/null && "
		   "command -v openssl >/dev/null"))
		tap_skip_all("no redis-server, redis-cli or openssl on PATH (vm/deps.sh)");
	snprintf(directory, sizeof(directory), "/tmp/wset-tls.XXXXXX");
	if (!mkdtemp(directory))
		tap_bail("mkdtemp: %s", strerror(errno));
	atexit(cleanup);
	tap_plan(12);

	tap_ok(tls_certificates_make(directory), "openssl made a CA, server and client certificates "
	       "(%s/openssl.log)", directory);
	for (int tries = 0; tries < 1000 && !port; tries++) {
		unsigned int candidate = 20000 + (unsigned int)(test_random(&state) % 20000);

		if (redis_port_free(candidate))
			port = candidate;
	}
	if (!port || !start_server())
		tap_bail("redis-server with tls-port %u did not start (built without TLS?)", port);
	tap_ok(true, "redis-server answers on TLS port %u, no plain port", port);

	snprintf(ca, sizeof(ca), "%s/ca.pem", directory);
	snprintf(other_ca, sizeof(other_ca), "%s/other-ca.pem", directory);
	snprintf(cert, sizeof(cert), "%s/client.pem", directory);
	snprintf(key, sizeof(key), "%s/client.key", directory);
	config.host = "127.0.0.1";
	config.port = port;
	config.vmm_name = "tls-test";
	config.password = PASSWORD;
	config.tls = true;
	config.tls_ca = ca;
	config.tls_cert = cert;
	config.tls_key = key;

	changed = config;
	changed.tls = false;
	changed.tls_ca = changed.tls_cert = changed.tls_key = NULL;
	ret = open_result(&changed);
	tap_ok(ret < 0, "a plain connection to the TLS port is refused: %s", strerror(-ret));
	changed = config;
	changed.tls_ca = other_ca;
	ret = open_result(&changed);
	tap_ok(ret == -EKEYREJECTED, "a CA that did not sign the server's certificate is "
	       "refused: %s", strerror(-ret));
	changed = config;
	changed.tls_server_name = "redis.example.org";
	ret = open_result(&changed);
	tap_ok(ret == -EKEYREJECTED, "a server name the certificate does not carry is "
	       "refused: %s", strerror(-ret));
	changed = config;
	changed.tls_cert = changed.tls_key = NULL;
	ret = open_result(&changed);
	tap_ok(ret < 0, "without a client certificate the server refuses us: %s",
	       strerror(-ret));
	changed = config;
	changed.password = "wrong";
	ret = open_result(&changed);
	tap_ok(ret == -EACCES, "a wrong password through TLS is refused: %s", strerror(-ret));

	ret = wset_redis_store_open(&config, &store);
	tap_ok(ret == 0, "the tier opens through TLS with the right CA, client certificate "
	       "and password: %s", strerror(-ret));
	if (ret)
		return tap_done();
	fill(1);
	failed = put_all(store);
	get_all(store, &failed, &wrong);
	tap_ok(failed == 0 && wrong == 0, "%u pages put and read back in one pipeline each: "
	       "%u failed, %u wrong", PAGES, failed, wrong);
	ret = store->ops->each(store->priv, count_key, &listed);
	tap_ok(ret == 0 && listed == PAGES, "each lists every page once: %u (%d)", listed, ret);

	/* Killed and restarted: the tier reconnects, with a new handshake. */
	stop_server();
	if (!start_server())
		tap_bail("redis-server did not start again");
	get_all(store, &failed, &wrong);
	tap_ok(failed == 0 && wrong == 0, "after a kill -9 of the server every page comes "
	       "back through a new TLS connection: %u failed, %u wrong", failed, wrong);
	memset(one, 0, sizeof(one));
	ret = store->ops->drop(store->priv, 0, PAGE);
	ret = ret ?: store->ops->get(store->priv, 0, one, PAGE) == -ENOENT ? 0 : -EIO;
	ret = ret ?: store->ops->get(store->priv, PAGE, one, PAGE);
	tap_ok(ret == 0 && !memcmp(one, pages[1], PAGE),
	       "a dropped page is gone, the next one still reads right (%d)", ret);
	wset_store_close(store);
	return tap_done();
}
