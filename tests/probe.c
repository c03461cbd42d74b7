/* SPDX-License-Identifier: MIT */
/*
 * Mechanism selection follows the bits UFFDIO_API reports: rwp when
 * UFFD_FEATURE_RWP and RWP_ASYNC are offered, else wp when WP_ASYNC and
 * PAGEMAP_SCAN are, else a clear error naming what is missing.  Asking
 * for a mechanism the kernel lacks is -EOPNOTSUPP.
 * usage: probe
 */
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "testlib.h"
#include "../lib/uapi/userfaultfd.h"

int main(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset_probe probe = WSET_PROBE_INIT;
	struct wset *ws = NULL;
	int uffd, ret;

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0)
		tap_skip_all("userfaultfd: %s", strerror(errno));
	if (ioctl(uffd, UFFDIO_API, &api) < 0)
		tap_skip_all("UFFDIO_API: %s", strerror(errno));
	close(uffd);
	tap_plan(7);

	ret = wset_probe(&probe);
	tap_ok(ret == 0 && probe.uffd_features == api.features,
	       "wset_probe reports the kernel's features: 0x%llx",
	       (unsigned long long)probe.uffd_features);
	bool rwp = (api.features & UFFD_FEATURE_RWP) && (api.features & UFFD_FEATURE_RWP_ASYNC);
	bool wp = api.features & UFFD_FEATURE_WP_ASYNC;
	tap_ok(probe.has_rwp == rwp && probe.has_wp_async == wp &&
		       probe.has_move == !!(api.features & UFFD_FEATURE_MOVE),
	       "feature flags: rwp %d, wp_async %d, move %d, pagemap_scan %d",
	       probe.has_rwp, probe.has_wp_async, probe.has_move,
	       probe.has_pagemap_scan);
	enum wset_mechanism want = rwp && probe.has_pagemap_scan ? WSET_MECHANISM_RWP
				   : wp && probe.has_pagemap_scan ? WSET_MECHANISM_WP
								  : WSET_MECHANISM_AUTO;
	tap_ok(probe.best == want, "best mechanism: %s", wset_mechanism_name(probe.best));
	tap_ok(probe.best == WSET_MECHANISM_RWP || probe.missing[0],
	       "what is missing is named: \"%s\"", probe.missing);

	ret = wset_create(&config, &ws);
	if (want == WSET_MECHANISM_AUTO)
		tap_ok(ret == -EOPNOTSUPP, "no usable mechanism: %d", ret);
	else
		tap_ok(ret == 0 && wset_mechanism(ws) == want, "auto picks %s",
		       ws ? wset_mechanism_name(wset_mechanism(ws)) : "nothing");
	wset_destroy(ws);
	ws = NULL;

	config.mechanism = WSET_MECHANISM_RWP;
	ret = wset_create(&config, &ws);
	tap_ok(rwp ? ret == 0 : ret == -EOPNOTSUPP, "asking for rwp: %d", ret);
	wset_destroy(ws);
	ws = NULL;
	config.mechanism = WSET_MECHANISM_WP;
	ret = wset_create(&config, &ws);
	tap_ok(wp && probe.has_pagemap_scan ? ret == 0 : ret == -EOPNOTSUPP,
	       "asking for wp: %d", ret);
	wset_destroy(ws);
	return tap_done();
}
