// The PBX admin console: home (status and summaries), servers, trunks, DIDs and groups, bulk provisioning, the Asterisk
// config, the audit log and the reports, one module a tab. Sign-in and navigation are the shared shell's;
// every value goes in with textContent.

import { status, tabs } from "/static/common/dom.js";
import { ReportView } from "/static/common/report_view.js";
import { Shell } from "/static/common/shell.js";
import { loadAccess, wireAccess } from "./access.js";
import { loadCluster } from "./cluster.js";
import { loadAudit, loadConfig, wireConfig } from "./config.js";
import { loadDids, wireDids } from "./dids.js";
import { HomePanel } from "./home.js";
import { wireImports } from "./imports.js";
import { loadServers, loadTrunks, wireServers } from "./servers.js";
import { SignupPanel } from "./signup_links.js";
import { SiteSettingsPanel } from "./site_settings.js";
import { Wizard } from "./wizard.js";

const $ = (id) => document.getElementById(id);
const wizard = new Wizard(document.getElementById("wizard"), (tab) => app.show(tab));
const signup = new SignupPanel(document.getElementById("signup-links"));
const region = new SiteSettingsPanel(document.getElementById("site-settings"));
const reports = new ReportView(document.getElementById("admin-reports"), "admin-report");
const home = new HomePanel((tab) => app.show(tab));
const LOADERS = { home: () => home.load(), reports: () => reports.load(), site: () => Promise.all([region.load(), wizard.load()]), agents: () => signup.load(), servers: () => Promise.all([loadServers(), loadCluster()]), trunks: loadTrunks, dids: loadDids, access: loadAccess, config: loadConfig, audit: loadAudit };
const POLLED = ["home", "servers", "trunks"];
const POLL_MS = 3000;

/** Run `work`, showing its error (if any) on the status line. */
async function guarded(work) {
  try {
    status("");
    await work();
  } catch (err) {
    status(err.message, true);
  }
}

class AdminApp {
  constructor() {
    this.tab = "home"; // the landing tab: status, counts, calls, activity
    this.shell = new Shell({
      app: "console",
      onSignedIn: (body) => this.enter(body.user),
      onSignedOut: () => window.location.reload(),
    });
    this.show = tabs($("tabs"), (name) => {
      this.tab = name;
      if (LOADERS[name]) guarded(LOADERS[name]);
    });
    wireServers(guarded);
    wireDids(guarded);
    wireImports(guarded, (id, valid) => signup.issueForImport(id, valid));
    wireConfig(guarded);
    wireAccess(guarded);
  }

  start() {
    this.shell.start();
  }

  enter(user) {
    if (user.role !== "admin") {
      status(`${user.display_name} is not an admin: this console is for PBX admins only.`, true);
      return;
    }
    $("tabs").hidden = false;
    this.show(this.tab);
    setInterval(() => {
      if (POLLED.includes(this.tab) && !document.hidden) guarded(LOADERS[this.tab]);
    }, POLL_MS);
  }
}

const app = new AdminApp();
app.start();
