/* SPDX-License-Identifier: MIT */
/* What every store shares. */
#include "internal.h"

void wset_store_close(struct wset_store *store)
{
	if (store && store->ops && store->ops->close)
		store->ops->close(store->priv);
}
