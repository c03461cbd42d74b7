/* SPDX-License-Identifier: MIT */
/*
 * The Redis tier over a real three-master Redis Cluster that this test
 * builds on loopback (redis-server with cluster-enabled, then redis-cli
 * --cluster create): pages spread over every master, come back intact
 * after a resharding moved a third of the slots (MOVED answers reload the
 * slot map, for gets and for puts), are listed once each, are found
 * through ASK while a slot is half migrated (MIGRATING/IMPORTING and
 * MIGRATE of some of its keys, by hand), fail (never read wrong) while
 * their master is down and come back with it.  With "tls", every node
 * listens on a TLS port only (tls-cluster yes: the cluster bus too) and
 * the tier connects to each one through TLS with a client certificate.
 * usage: redis_cluster [tls]
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
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

#define NODES 3
#define PAGES 600
#define PAGE BATCH_PAGE

struct node {
	unsigned int port;
	pid_t pid;
	char id[64];
};

static struct node nodes[NODES];
static char directory[64];
static uint8_t pages[PAGES][PAGE];
static bool tls;
static char tls_flags[320]; /* redis-cli's, "" without tls */

/* A client port whose cluster bus port (+10000) is free too. */
static unsigned int pick_port(uint64_t *state, unsigned int taken)
{
	for (int tries = 0; tries < 1000; tries++) {
		unsigned int port = 20000 + (unsigned int)(test_random(state) % 20000);

		if (port != taken && redis_port_free(port) && redis_port_free(port + 10000))
			return port;
	}
	return 0;
}

/* The first line redis-cli prints for a command to port, in out. */
static bool cli(unsigned int port, const char *command, char *out, size_t size)
{
	char line[1024];
	FILE *pipe;
	bool got;

	snprintf(line, sizeof(line), "redis-cli %s -p %u %s 2>/dev/null", tls_flags, port,
		 command);
	pipe = popen(line, "r");
	if (!pipe)
		return false;
	got = fgets(out, (int)size, pipe) != NULL;
	pclose(pipe);
	if (got)
		out[strcspn(out, "\r\n")] = '\0';
	return got;
}

static long cli_number(unsigned int port, const char *command)
{
	char out[64];

	return cli(port, command, out, sizeof(out)) ? strtol(out, NULL, 10) : -1;
}

static bool start_node(struct node *node)
{
	char port[16], config[128], dir[96], file[3][96];

	snprintf(port, sizeof(port), "%u", node->port);
	snprintf(dir, sizeof(dir), "%s/%u", directory, node->port);
	snprintf(config, sizeof(config), "%s/nodes.conf", dir);
	mkdir(dir, 0700);
	node->pid = fork();
	if (node->pid < 0)
		return false;
	if (node->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, STDOUT_FILENO);
		snprintf(file[0], sizeof(file[0]), "%s/server.pem", directory);
		snprintf(file[1], sizeof(file[1]), "%s/server.key", directory);
		snprintf(file[2], sizeof(file[2]), "%s/ca.pem", directory);
		if (tls)
			execlp("redis-server", "redis-server", "--port", "0", "--tls-port", port,
			       "--tls-cluster", "yes", "--tls-cert-file", file[0],
			       "--tls-key-file", file[1], "--tls-ca-cert-file", file[2],
			       "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			       "--cluster-config-file", config, "--dir", dir, "--save", "",
			       "--appendonly", "yes", "--appendfsync", "always", (char *)NULL);
		else
			execlp("redis-server", "redis-server", "--port", port, "--bind",
			       "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file",
			       config, "--dir", dir, "--save", "", "--appendonly", "yes",
			       "--appendfsync", "always", (char *)NULL);
		_exit(127);
	}
	for (int waited = 0; waited < 3000; waited++) {
		char out[16];

		if (cli(node->port, "PING", out, sizeof(out)) && !strcmp(out, "PONG"))
			return true;
		usleep(10000);
	}
	return false;
}

static void stop_node(struct node *node)
{
	if (node->pid > 0) {
		kill(node->pid, SIGKILL);
		waitpid(node->pid, NULL, 0);
	}
	node->pid = 0;
}

/* Every node says cluster_state:ok and knows every slot. */
static bool wait_cluster_ok(void)
{
	for (int waited = 0; waited < 6000; waited++) {
		int ok = 0;

		for (int n = 0; n < NODES; n++) {
			char out[64];

			ok += cli(nodes[n].port, "CLUSTER INFO", out, sizeof(out)) &&
			      !strcmp(out, "cluster_state:ok");
		}
		if (ok == NODES)
			return true;
		usleep(10000);
	}
	return false;
}

static void fill(uint64_t generation)
{
	batch_fill(pages, PAGES, generation, 0x5a5a);
}

static unsigned int put_all(struct wset_store *store)
{
	return batch_put_all(store, pages, PAGES);
}

static void get_all(struct wset_store *store, unsigned int *failed, unsigned int *wrong)
{
	batch_get_all(store, pages, PAGES, failed, wrong);
}

static uint64_t redirects(struct wset_store *store)
{
	struct wset_store_stats stats = { 0 };

	store->ops->stats(store->priv, &stats);
	return stats.redirect_count;
}

/* The master holding page's key now; -1 if none. */
static int owner_of(size_t page_index)
{
	char command[96];

	snprintf(command, sizeof(command), "EXISTS wset:cluster-test:%zx", page_index * PAGE);
	for (int n = 0; n < NODES; n++)
		if (cli_number(nodes[n].port, command) == 1)
			return n;
	return -1;
}

/* Slots being migrated by hand, one page's key in each (our keys differ
 * only in their offset and CRC16 spreads them one per slot). */
#define MIGRATING 4

struct migration {
	long slot[MIGRATING];
	size_t page[MIGRATING];
	int from, to;
};

/* One redis-cli command to node n that must answer OK. */
static bool cli_ok(int n, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
static bool cli_ok(int n, const char *format, ...)
{
	char command[256], out[64] = "";
	va_list args;
	bool ok;

	va_start(args, format);
	vsnprintf(command, sizeof(command), format, args);
	va_end(args);
	ok = cli(nodes[n].port, command, out, sizeof(out)) && !strcmp(out, "OK");
	if (!ok)
		tap_diag("redis-cli -p %u %s: %s", nodes[n].port, command, out);
	return ok;
}

static bool migrate_key(const struct migration *m, size_t page_index)
{
	return cli_ok(m->from, "MIGRATE 127.0.0.1 %u wset:cluster-test:%zx 0 5000",
		      nodes[m->to].port, page_index * PAGE);
}

/*
 * Start migrating the slots of MIGRATING pages of one master to the next
 * master (IMPORTING there, MIGRATING here) and MIGRATE the keys of the
 * first half: the tier meets ASK for those, the source still serves the
 * others.
 */
static bool migrate_half(struct migration *m)
{
	unsigned int found = 0;
	char command[96];

	m->from = owner_of(0);
	if (m->from < 0)
		return false;
	m->to = (m->from + 1) % NODES;
	for (size_t i = 0; i < PAGES && found < MIGRATING; i++) {
		if (owner_of(i) != m->from)
			continue;
		snprintf(command, sizeof(command), "CLUSTER KEYSLOT wset:cluster-test:%zx",
			 i * PAGE);
		m->page[found] = i;
		m->slot[found] = cli_number(nodes[0].port, command);
		if (!cli_ok(m->to, "CLUSTER SETSLOT %ld IMPORTING %s", m->slot[found],
			    nodes[m->from].id) ||
		    !cli_ok(m->from, "CLUSTER SETSLOT %ld MIGRATING %s", m->slot[found],
			    nodes[m->to].id))
			return false;
		found++;
	}
	for (unsigned int k = 0; k < MIGRATING / 2; k++)
		if (!migrate_key(m, m->page[k]))
			return false;
	return found == MIGRATING;
}

/* End the migration: the other keys, then the slots, given to the target
 * (first, so that it never answers MOVED back) and by the source; the
 * third node, a replica since the first resharding emptied it, hears of
 * it from them. */
static bool migrate_rest(const struct migration *m)
{
	bool ok = true;

	for (unsigned int k = MIGRATING / 2; k < MIGRATING; k++)
		ok &= migrate_key(m, m->page[k]);
	for (unsigned int k = 0; k < MIGRATING; k++)
		ok &= cli_ok(m->to, "CLUSTER SETSLOT %ld NODE %s", m->slot[k],
			     nodes[m->to].id) &&
		      cli_ok(m->from, "CLUSTER SETSLOT %ld NODE %s", m->slot[k],
			     nodes[m->to].id);
	return ok && wait_cluster_ok();
}

static long keys_on(unsigned int n)
{
	return cli_number(nodes[n].port, "DBSIZE");
}

static int count_key(void *arg, uint64_t key, size_t len)
{
	(void)key;
	*(unsigned int *)arg += len == PAGE;
	return 0;
}

static void cleanup(void)
{
	char command[128];

	for (int n = 0; n < NODES; n++)
		stop_node(&nodes[n]);
	if (directory[0]) {
		snprintf(command, sizeof(command), "rm -rf '%s'", directory);
		if (system(command) != 0)
			tap_diag("could not remove %s", directory);
	}
}

int main(int argc, char **argv)
{
	struct wset_redis_config config = WSET_REDIS_CONFIG_INIT;
	uint64_t state = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
	unsigned int failed, wrong, listed = 0;
	struct wset_store *store;
	char command[1024];
	long spread[NODES];
	int ret;

	if (system("command -v redis-server >/dev/null && command -v redis-cli >/dev/null"))
		tap_skip_all("no redis-server or redis-cli on PATH (Debian's redis-server, vm/deps.sh)");
	snprintf(directory, sizeof(directory), "/tmp/wset-cluster.XXXXXX");
	if (!mkdtemp(directory))
		tap_bail("mkdtemp: %s", strerror(errno));
	atexit(cleanup);
	tls = argc > 1 && !strcmp(argv[1], "tls");
	if (tls) {
		if (!tls_certificates_make(directory))
			tap_bail("openssl could not make the certificates (%s/openssl.log)",
				 directory);
		snprintf(tls_flags, sizeof(tls_flags),
			 "--tls --cacert %1$s/ca.pem --cert %1$s/client.pem --key %1$s/client.key",
			 directory);
	}
	tap_plan(18);

	for (int n = 0; n < NODES; n++) {
		nodes[n].port = pick_port(&state, n ? nodes[n - 1].port : 0);
		if (!nodes[n].port || !start_node(&nodes[n]))
			tap_bail("redis-server on port %u did not start", nodes[n].port);
	}
	snprintf(command, sizeof(command),
		 "redis-cli %s --cluster create 127.0.0.1:%u 127.0.0.1:%u 127.0.0.1:%u "
		 "--cluster-replicas 0 --cluster-yes >%s/create.log 2>&1",
		 tls_flags, nodes[0].port, nodes[1].port, nodes[2].port, directory);
	tap_ok(system(command) == 0 && wait_cluster_ok(),
	       "a cluster of three masters on ports %u, %u, %u", nodes[0].port,
	       nodes[1].port, nodes[2].port);
	for (int n = 0; n < NODES; n++)
		cli(nodes[n].port, "CLUSTER MYID", nodes[n].id, sizeof(nodes[n].id));

	config.host = "127.0.0.1";
	config.port = nodes[0].port;
	config.vmm_name = "cluster-test";
	config.cluster = true;
	if (tls) {
		static char ca[96], cert[96], key[96];

		snprintf(ca, sizeof(ca), "%s/ca.pem", directory);
		snprintf(cert, sizeof(cert), "%s/client.pem", directory);
		snprintf(key, sizeof(key), "%s/client.key", directory);
		config.tls = true;
		config.tls_ca = ca;
		config.tls_cert = cert;
		config.tls_key = key;
	}
	ret = wset_redis_store_open(&config, &store);
	tap_ok(ret == 0, "the tier opens on one node: %s", strerror(-ret));
	if (ret)
		return tap_done();

	fill(1);
	failed = put_all(store);
	for (int n = 0; n < NODES; n++)
		spread[n] = keys_on((unsigned int)n);
	tap_ok(failed == 0, "%u pages put in one batch, %u failed", PAGES, failed);
	tap_ok(spread[0] > 0 && spread[1] > 0 && spread[2] > 0 &&
		       spread[0] + spread[1] + spread[2] == PAGES,
	       "spread over every master: %ld, %ld, %ld keys", spread[0], spread[1], spread[2]);
	get_all(store, &failed, &wrong);
	tap_ok(failed == 0 && wrong == 0, "every page comes back: %u failed, %u wrong",
	       failed, wrong);

	/* Move the first master's slots to the second, keys included. */
	snprintf(command, sizeof(command),
		 "redis-cli %s --cluster reshard 127.0.0.1:%u --cluster-from %s --cluster-to %s "
		 "--cluster-slots 16384 --cluster-yes >%s/reshard.log 2>&1",
		 tls_flags, nodes[0].port, nodes[0].id, nodes[1].id, directory);
	ret = system(command) == 0 && wait_cluster_ok();
	spread[0] = keys_on(0);
	tap_ok(ret && spread[0] == 0,
	       "resharding moved every slot of the first master (it holds %ld keys now)",
	       spread[0]);
	get_all(store, &failed, &wrong);
	tap_ok(failed == 0 && wrong == 0,
	       "after it, gets follow MOVED: %u failed, %u wrong", failed, wrong);

	/* And back to the third: a put meets MOVED first. */
	snprintf(command, sizeof(command),
		 "redis-cli %s --cluster reshard 127.0.0.1:%u --cluster-from %s --cluster-to %s "
		 "--cluster-slots 3000 --cluster-yes >%s/reshard-back.log 2>&1",
		 tls_flags, nodes[1].port, nodes[1].id, nodes[2].id, directory);
	if (system(command) != 0 || !wait_cluster_ok())
		tap_diag("the second resharding failed: see %s/reshard-back.log", directory);
	fill(2);
	failed = put_all(store);
	get_all(store, &failed, &wrong);
	tap_ok(failed == 0 && wrong == 0,
	       "puts after another resharding follow MOVED, and read back: %u failed, %u wrong",
	       failed, wrong);
	ret = store->ops->each(store->priv, count_key, &listed);
	tap_ok(ret == 0 && listed == PAGES, "each lists every page once: %u (%d)", listed, ret);

	/* A slot half migrated: ASK for the keys already on the target. */
	{
		uint64_t before = redirects(store), after_get, after_put;
		const unsigned int moved = MIGRATING / 2;
		struct migration migration;

		ret = migrate_half(&migration);
		tap_ok(ret, "%d slots migrating from master %d to master %d, the keys of %u "
		       "moved over", MIGRATING, migration.from + 1, migration.to + 1, moved);
		get_all(store, &failed, &wrong);
		after_get = redirects(store);
		tap_ok(failed == 0 && wrong == 0 && after_get - before == moved,
		       "gets follow ASK to the importing master: %u failed, %u wrong, "
		       "%" PRIu64 " redirects for %u moved keys", failed, wrong,
		       after_get - before, moved);
		fill(4);
		failed = put_all(store);
		get_all(store, &failed, &wrong);
		after_put = redirects(store);
		tap_ok(failed == 0 && wrong == 0 && after_put - after_get == 2 * moved,
		       "puts during the migration follow ASK too and read back: %u failed, "
		       "%u wrong, %" PRIu64 " redirects (puts and gets)", failed, wrong,
		       after_put - after_get);
		ret = migrate_rest(&migration);
		get_all(store, &failed, &wrong);
		tap_ok(ret && failed == 0 && wrong == 0 && redirects(store) == after_put,
		       "after the migration ends, MOVED: %u failed, %u wrong, %" PRIu64
		       " more redirects", failed, wrong, redirects(store) - after_put);
	}

	/* A master down: its pages fail, never read wrong, and come back. */
	stop_node(&nodes[2]);
	get_all(store, &failed, &wrong);
	tap_ok(failed > 0 && failed < PAGES && wrong == 0,
	       "with the third master down its pages fail (%u), none reads wrong (%u)",
	       failed, wrong);
	fill(3);
	failed = put_all(store);
	tap_ok(failed > 0 && failed < PAGES,
	       "puts to its slots fail at once (%u), the others are kept", failed);
	tap_ok(start_node(&nodes[2]) && wait_cluster_ok(), "the master comes back");
	/* The pages whose put failed still hold generation 2 there: put
	 * them all again, as the library would after a failed eviction. */
	failed = put_all(store);
	get_all(store, &failed, &wrong);
	tap_ok(failed == 0 && wrong == 0, "every page comes back: %u failed, %u wrong",
	       failed, wrong);

	for (size_t i = 0; i < PAGES; i++)
		store->ops->drop(store->priv, i * PAGE, PAGE);
	tap_ok(keys_on(0) + keys_on(1) + keys_on(2) == 0, "dropping every page empties the cluster");
	wset_store_close(store);
	return tap_done();
}
