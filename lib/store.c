/* SPDX-License-Identifier: MIT */
/* What every store shares. */
#include "internal.h"

/* A store whose ops wset_create() would refuse is not closed either. */
void wset_store_close(struct wset_store *store)
{
	if (store && store->ops &&
	    !WSET_STRUCT_CHECK(store->ops, struct wset_store_ops,
			       WSET_STRUCT_SIZE_MAX) &&
	    store->ops->close)
		store->ops->close(store->priv);
}
