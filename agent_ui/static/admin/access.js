// The access-numbers tab: pools, API keys and per-pool status (with its chart), one module each.
// The status is polled while the tab is shown; a freshly issued key leaves the page with the tab.

import { hideKey, loadKeys, wireKeys } from "./access_keys.js";
import { loadPools, wirePools } from "./access_pools.js";
import { loadStatus } from "./access_status.js";

const POLL_MS = 2000;
let timer = null;

const shown = () => !document.getElementById("access").hidden;

/** Load the whole tab, and poll its status while it stays shown. */
export async function loadAccess() {
  await loadPools();
  await Promise.all([loadKeys(), loadStatus()]);
  if (timer === null) {
    timer = setInterval(() => {
      if (!shown()) {
        clearInterval(timer);
        timer = null;
        hideKey();
        return;
      }
      if (!document.hidden) loadStatus().catch(() => {});
    }, POLL_MS);
  }
}

export function wireAccess(guarded) {
  wirePools(guarded, async () => {
    await loadKeys();
    await loadStatus();
  });
  wireKeys(guarded);
}
