/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the wsetd tests: TAP output, a wsetd started in a scratch
 * directory from the binaries next to the test, control requests, fd
 * counting.  Exit codes: 0 pass, 1 fail, 4 skip (with a printed reason).
 */
#ifndef AGENT_TEST_H
#define AGENT_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_SKIP 4

/* TAP: the plan is printed at the end by tap_done(). */
bool tap_ok(bool ok, const char *format, ...) __attribute__((format(printf, 2, 3)));
void tap_diag(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* Failures so far. */
int tap_failures(void);
/* Print the plan; exit status 0 or 1. */
int tap_done(void);
/* Print the reason and exit 4. */
void tap_skip_all(const char *format, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Path of a tool (wsetd, wsetctl, wset-demo-vmm) next to this test. */
const char *tool_path(const char *name);

struct agent {
	pid_t pid;
	char directory[64];
	char socket[100];
	char control[100];
	char config[128];
	char log[128];
};

/*
 * Start wsetd in a fresh scratch directory with the given extra arguments
 * (NULL-terminated), log in agent->log.  Waits until the control socket
 * answers.  Skips the test (exit 4) when wsetd reports that the kernel has
 * no usable mechanism; returns -1 on other failures.
 */
int agent_start(struct agent *agent, const char *const *arguments);

/* Start wsetd again in agent's directory (after it died or stopped), with
 * the same state directory; waits until the control socket answers. */
int agent_restart(struct agent *agent, const char *const *arguments);

/* agent_start(), reporting a failure as a failed test (with the log). */
bool agent_started(struct agent *agent, const char *const *arguments);

/* At the end of a test: the log when something failed, then cleanup. */
void agent_finish(struct agent *agent);

/* Wait up to timeout_ms for a VMM counter to be non-zero; its value (0 when
 * it stayed zero or is missing). */
uint64_t agent_wait_counter(const struct agent *agent, unsigned int vmm,
			    const char *key, int timeout_ms);

/* Get some of a VMM's pages evicted: wait for the policy, then ask for an
 * eviction, then (rwp only: libwset evicts another process's memory only
 * with it) wait longer.  Returns the evicted bytes, 0 if none. */
uint64_t agent_evict_some(const struct agent *agent, unsigned int vmm);

/* Send signal (0: none) and wait up to timeout_ms for wsetd to exit.
 * Returns its exit status, or -1 if it is still running (then killed). */
int agent_stop(struct agent *agent, int signal_number, int timeout_ms);

/* Remove the scratch directory. */
void agent_cleanup(struct agent *agent);

/* Print wsetd's log as TAP comments. */
void agent_show_log(const struct agent *agent);

/* Whether the log contains text. */
bool agent_log_contains(const struct agent *agent, const char *text);

/* Wait up to timeout_ms for the log to contain text. */
bool agent_wait_log(const struct agent *agent, const char *text, int timeout_ms);

/* Wait up to timeout_ms for a VMM counter to exceed above (UINT64_MAX,
 * meaning absent, never does); the last value read. */
uint64_t agent_wait_counter_above(const struct agent *agent, unsigned int vmm,
				  const char *key, uint64_t above, int timeout_ms);

/* Send a raw JSON request, return the parsed answer (NULL on failure). */
json_object *agent_request(const struct agent *agent, const char *request);

/* A counter of a VMM from {"command":"status"}; UINT64_MAX if absent. */
uint64_t agent_vmm_counter(const struct agent *agent, unsigned int vmm,
			   const char *key);

/* A string member of a VMM's status into buffer ("?" if absent). */
const char *agent_vmm_string(const struct agent *agent, unsigned int vmm,
			     const char *key, char *buffer, size_t size);

/* Number of VMMs wsetd serves now (-1 on failure). */
int agent_vmm_count(const struct agent *agent);

/* Wait until agent_vmm_count() == count; false on timeout. */
bool agent_wait_vmm_count(const struct agent *agent, int count, int timeout_ms);

/* Open fds of a process (-1 on failure). */
int process_fd_count(pid_t pid);

/* Wait up to timeout_ms until pid has exactly count open fds. */
bool wait_fd_count(pid_t pid, int count, int timeout_ms);

/* Sleep milliseconds. */
void sleep_ms(int milliseconds);

/* Spawn a tool with arguments (NULL-terminated); stdout and stderr go to
 * output_path (or are inherited when NULL).  Returns the pid or -1. */
pid_t spawn_tool(const char *name, const char *const *arguments,
		 const char *output_path);

/* Wait up to timeout_ms for pid; its exit status, 128+signal, or -1 if it
 * is still running (then killed). */
int wait_exit(pid_t pid, int timeout_ms);

/*
 * A systemd-like service manager for wsetd: $NOTIFY_SOCKET names its
 * datagram socket, a thread keeps the fds of FDSTORE=1 messages under
 * their FDNAME (FDSTOREREMOVE=1 drops them), and the next wsetd started by
 * agent_restart() gets them as LISTEN_FDS / LISTEN_FDNAMES from fd 3, as
 * sd_listen_fds(3) describes.  Returns 0 or -1.
 */
int fd_store_start(const char *socket_path);
/* Fds kept now. */
int fd_store_count(void);
void fd_store_stop(void);

/* The status's tier named name of its one VMM, or NULL; and an object's
 * unsigned member (0 when it has none). */
json_object *status_tier(json_object *status, const char *name);
uint64_t json_member_u64(json_object *object, const char *key);

/*
 * A VMM child process: pages 4 KiB pages of guest RAM in a memfd, each
 * filled by fill(page, index), handed over to the wsetd at socket_path
 * with the helper under name.  vmm_start() returns once it has (false,
 * with a failed check, when it did not); vmm_check() has it read every
 * page back and returns how many changed (-1: no answer); vmm_finish()
 * waits for its exit status.  After the check it exits: having let its
 * wsetd go when let_go, at once otherwise (its wsetd may be gone).
 */
struct helper_vmm {
	pid_t pid;
	int sock;
};
bool vmm_start(struct helper_vmm *vmm, const char *socket_path, const char *name,
	       unsigned int pages, void (*fill)(uint8_t *page, unsigned int index),
	       bool let_go);
int vmm_check(struct helper_vmm *vmm);
int vmm_finish(struct helper_vmm *vmm, int timeout_ms);

#endif
