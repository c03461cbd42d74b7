// SPDX-License-Identifier: MIT
/*
 * wsetd: runs libwset for VMMs in other processes.  A VMM hands over its
 * userfaultfd and guest memory layout on a Unix socket; wsetd tracks the
 * working set, evicts cold pages and fetches them back.  See wsetd(8).
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "exit_codes.h"
#include "log.h"

int main(int argc, char **argv)
{
	static struct daemon daemon;
	struct wset_probe probe = WSET_PROBE_INIT;
	int ret;

	if (options_parse_command_line(argc, argv, &daemon.command_line))
		return WSETD_EXIT_USAGE;
	if (daemon.command_line.help) {
		options_print_help(stdout);
		return WSETD_EXIT_OK;
	}
	if (daemon.command_line.version) {
		printf("wsetd %s\n", wset_version());
		return WSETD_EXIT_OK;
	}
	if (options_load(&daemon.command_line, &daemon.options))
		return WSETD_EXIT_USAGE;
	if (daemon.command_line.check_config) {
		options_print(&daemon.options, stdout);
		return WSETD_EXIT_OK;
	}
	log_set_level(daemon.options.log_level);

	ret = wset_probe(&probe);
	if (ret < 0) {
		log_error("userfaultfd is not available: %s", strerror(-ret));
		return WSETD_EXIT_UNSUPPORTED;
	}
	if (probe.best == WSET_MECHANISM_AUTO) {
		log_error("this kernel offers no tracking mechanism: %s", probe.missing);
		return WSETD_EXIT_UNSUPPORTED;
	}
	if (daemon.options.mechanism == WSET_MECHANISM_RWP && !probe.has_rwp) {
		log_error("mechanism = rwp, but this kernel lacks it: %s",
			  probe.missing[0] ? probe.missing : "no UFFD_FEATURE_RWP");
		return WSETD_EXIT_UNSUPPORTED;
	}
	log_info("kernel: rwp %s, wp_async %s, pagemap_scan %s; default mechanism %s",
		 probe.has_rwp ? "yes" : "no", probe.has_wp_async ? "yes" : "no",
		 probe.has_pagemap_scan ? "yes" : "no",
		 wset_mechanism_name(daemon.options.mechanism == WSET_MECHANISM_AUTO ?
					     probe.best : daemon.options.mechanism));
	daemon.next_id = 1;
	return daemon_run(&daemon);
}
